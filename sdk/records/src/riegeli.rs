//! Riegeli/records chunks (the container ArrayRecord writes): chunks
//! interrupted by a 24-byte block header at every 64 KiB, each chunk a
//! 40-byte header (HighwayHash-checked) and its data; simple chunks ('r')
//! hold varint record sizes and the concatenated records, each buffer
//! uncompressed, Brotli, Zstandard or Snappy. Every size is checked against
//! the file and the declared sizes before anything is allocated.
//! Transposed chunks ('t') are refused by name.

use crate::{Error, Result, bail};
use highway::{HighwayHash, HighwayHasher, Key};
use std::io::{Read, Seek, SeekFrom};

pub const BLOCK_SIZE: u64 = 1 << 16;
const BLOCK_HEADER: u64 = 24;
const CHUNK_HEADER: usize = 40;
/// The largest chunk data or decoded record buffer read (a corrupt header
/// could otherwise ask for any allocation).
pub const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// Riegeli's HighwayHash key: "Riegeli/", "records\n", twice.
fn hash(data: &[u8]) -> u64 {
    let key = Key([
        0x2f69_6c65_6765_6952,
        0x0a73_6472_6f63_6572,
        0x2f69_6c65_6765_6952,
        0x0a73_6472_6f63_6572,
    ]);
    HighwayHasher::new(key).hash64(data)
}

/// A chunk's header fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHeader {
    pub data_size: u64,
    pub chunk_type: u8,
    pub num_records: u64,
    pub decoded_data_size: u64,
}

/// A decoded simple chunk: its records, back to back, and where each ends.
#[derive(Debug, Clone)]
pub struct Records {
    values: Vec<u8>,
    ends: Vec<usize>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Record `i` of the chunk.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.values[start..end])
    }
}

/// Random-access reads of a Riegeli file through its block structure.
pub struct File<R> {
    src: R,
    size: u64,
}

impl<R: Read + Seek> File<R> {
    pub fn new(mut src: R) -> Result<Self> {
        let size = src.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(File { src, size })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes of chunk content from physical position `pos`, skipping
    /// the block headers it crosses; returns them and the position after.
    fn read_logical(&mut self, mut pos: u64, len: u64) -> Result<(Vec<u8>, u64)> {
        if len > MAX_CHUNK_BYTES {
            bail!("a chunk claims {len} bytes (at most {MAX_CHUNK_BYTES})");
        }
        let mut out = Vec::with_capacity(len.min(self.size) as usize);
        while (out.len() as u64) < len {
            if pos.is_multiple_of(BLOCK_SIZE) {
                pos += BLOCK_HEADER;
                continue;
            }
            let take = (len - out.len() as u64).min(BLOCK_SIZE - pos % BLOCK_SIZE);
            if pos + take > self.size {
                bail!(
                    "truncated: a chunk needs bytes up to {}, the file has {}",
                    pos + take,
                    self.size
                );
            }
            let at = out.len();
            out.resize(at + take as usize, 0);
            self.src.seek(SeekFrom::Start(pos)).map_err(io)?;
            self.src.read_exact(&mut out[at..]).map_err(io)?;
            pos += take;
        }
        Ok((out, pos))
    }

    /// The chunk beginning at `pos` (a position from the file's index, a
    /// block boundary included): its header and its data, both verified.
    pub fn chunk(&mut self, pos: u64) -> Result<(ChunkHeader, Vec<u8>)> {
        let (h, after) = self.read_logical(pos, CHUNK_HEADER as u64)?;
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
        if hash(&h[8..]) != u64_at(0) {
            bail!("chunk header at byte {pos}: hash mismatch (corrupt)");
        }
        let type_and_count = u64_at(24);
        let header = ChunkHeader {
            data_size: u64_at(8),
            chunk_type: (type_and_count & 0xff) as u8,
            num_records: type_and_count >> 8,
            decoded_data_size: u64_at(32),
        };
        if header.data_size > self.size {
            bail!(
                "chunk at byte {pos}: {} bytes of data in a file of {}",
                header.data_size,
                self.size
            );
        }
        let (data, _) = self.read_logical(after, header.data_size)?;
        if hash(&data) != u64_at(16) {
            bail!("chunk data at byte {pos}: hash mismatch (corrupt)");
        }
        Ok((header, data))
    }

    /// The records of the simple chunk at `pos`.
    pub fn records(&mut self, pos: u64) -> Result<Records> {
        let (header, data) = self.chunk(pos)?;
        decode_simple(&header, &data).map_err(|e| Error(format!("chunk at byte {pos}: {e}")))
    }
}

fn io(e: std::io::Error) -> Error {
    Error(e.to_string())
}

/// Decode a simple chunk ('r') into its records.
pub fn decode_simple(header: &ChunkHeader, data: &[u8]) -> Result<Records> {
    match header.chunk_type {
        b'r' => {}
        b't' => bail!("transposed chunks are not supported (write with transpose:false)"),
        t => bail!("chunk type {t:#04x} holds no records this reader knows"),
    }
    if header.decoded_data_size > MAX_CHUNK_BYTES {
        bail!(
            "{} decoded bytes (at most {MAX_CHUNK_BYTES})",
            header.decoded_data_size
        );
    }
    let (&compression, rest) = data.split_first().ok_or(Error("empty chunk".into()))?;
    let mut rest = rest;
    let sizes_len = varint(&mut rest)? as usize;
    if sizes_len > rest.len() {
        bail!("record sizes claim {sizes_len} bytes, {} left", rest.len());
    }
    let (sizes, values) = rest.split_at(sizes_len);
    // Each size is a varint of at most 10 bytes: that bounds the buffer.
    let max_sizes = header.num_records.saturating_mul(10).min(MAX_CHUNK_BYTES);
    let sizes = decompress(compression, sizes, max_sizes)?;
    let values = decompress(compression, values, header.decoded_data_size)?;
    if values.len() as u64 != header.decoded_data_size {
        bail!(
            "records decode to {} bytes, the header says {}",
            values.len(),
            header.decoded_data_size
        );
    }
    let mut s = sizes.as_slice();
    let mut ends = Vec::with_capacity(header.num_records.min(1 << 20) as usize);
    let mut end = 0u64;
    for _ in 0..header.num_records {
        end += varint(&mut s)?;
        if end > values.len() as u64 {
            bail!(
                "record sizes add up past the {} bytes of records",
                values.len()
            );
        }
        ends.push(end as usize);
    }
    if end != values.len() as u64 || !s.is_empty() {
        bail!("record sizes do not add up to the records");
    }
    Ok(Records { values, ends })
}

/// A compressed buffer: `compression` 0 (none), 'b' Brotli, 'z' Zstandard,
/// 's' Snappy, each but none prefixed by its decoded size (at most `max`).
fn decompress(compression: u8, data: &[u8], max: u64) -> Result<Vec<u8>> {
    if compression == 0 {
        return Ok(data.to_vec());
    }
    let mut data = data;
    let size = varint(&mut data)?;
    if size > max {
        bail!("a buffer claims to decompress to {size} bytes, more than {max}");
    }
    let size = size as usize;
    let out = match compression {
        b'z' => {
            let mut out = vec![0u8; size];
            let n = ruzstd::decoding::FrameDecoder::new()
                .decode_all(data, &mut out)
                .map_err(|e| Error(format!("zstd: {e}")))?;
            out.truncate(n);
            out
        }
        b'b' => {
            let mut out = Vec::with_capacity(size);
            let mut r = brotli_decompressor::Decompressor::new(data, 4096);
            r.by_ref()
                .take(size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Error(format!("brotli: {e}")))?;
            out
        }
        b's' => {
            let n = snap::raw::decompress_len(data).map_err(|e| Error(format!("snappy: {e}")))?;
            if n != size {
                bail!("snappy: holds {n} bytes, the prefix says {size}");
            }
            snap::raw::Decoder::new()
                .decompress_vec(data)
                .map_err(|e| Error(format!("snappy: {e}")))?
        }
        c => bail!("unknown compression type {c:#04x}"),
    };
    if out.len() != size {
        bail!(
            "decompressed to {} bytes, the prefix says {size}",
            out.len()
        );
    }
    Ok(out)
}

/// A protobuf-style varint (at most 10 bytes), advancing `data`.
pub fn varint(data: &mut &[u8]) -> Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let Some((&b, rest)) = data.split_first() else {
            bail!("truncated varint");
        };
        *data = rest;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("varint longer than 10 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 64 bytes of every Riegeli file (the format's spec):
    /// a block header, then the signature chunk's header.
    const SIGNATURE: [u8; 64] = [
        0x83, 0xaf, 0x70, 0xd1, 0x0d, 0x88, 0x4a, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x91, 0xba, 0xc2, 0x3c, 0x92, 0x87,
        0xe1, 0xa9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe1, 0x9f, 0x13, 0xc0, 0xe9,
        0xb1, 0xc3, 0x72, 0x73, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn the_signature_chunk_verifies_with_riegelis_hash() {
        let mut f = File::new(std::io::Cursor::new(SIGNATURE.to_vec())).unwrap();
        let (h, data) = f.chunk(0).unwrap();
        assert_eq!(h.chunk_type, b's');
        assert!(data.is_empty());
        let mut bad = SIGNATURE;
        bad[30] ^= 1;
        let mut f = File::new(std::io::Cursor::new(bad.to_vec())).unwrap();
        assert!(f.chunk(0).unwrap_err().0.contains("hash mismatch"));
    }

    #[test]
    fn varints_decode_and_refuse_truncation() {
        let mut d: &[u8] = &[0xac, 0x02, 0x01];
        assert_eq!(varint(&mut d).unwrap(), 300);
        assert_eq!(varint(&mut d).unwrap(), 1);
        let mut d: &[u8] = &[0x80];
        assert!(varint(&mut d).is_err());
    }
}
