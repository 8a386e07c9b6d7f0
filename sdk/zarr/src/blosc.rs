//! Blosc 1 chunk decompression (the container numcodecs' and Zarr v3's
//! `blosc` codec write): a 16-byte header, a table of block offsets, blocks
//! compressed with an inner codec (LZ4, Zstandard or zlib here), each block
//! optionally split into one stream per byte of the element, then
//! un-shuffled (byte or bit shuffle). Every offset and size is checked
//! against the buffer before it is used.

use anyhow::{Result, bail, ensure};

const HEADER: usize = 16;
const DOSHUFFLE: u8 = 0x1;
const MEMCPYED: u8 = 0x2;
const DOBITSHUFFLE: u8 = 0x4;
const DONT_SPLIT: u8 = 0x10;
/// Blosc splits a block into one stream per byte of the element only when
/// elements are at most this wide and a block holds at least
/// `MIN_BUFFERSIZE` of them (the rule older files rely on, not only the flag).
const MAX_SPLITS: usize = 16;
const MIN_BUFFERSIZE: usize = 128;

/// The uncompressed size a Blosc buffer declares.
pub fn declared_size(buf: &[u8]) -> Result<usize> {
    ensure!(
        buf.len() >= HEADER,
        "blosc: {} bytes, shorter than its header",
        buf.len()
    );
    Ok(u32_at(buf, 4) as usize)
}

/// Decompress a Blosc 1 buffer; `expected` is the size the array needs.
pub fn decompress(buf: &[u8], expected: usize) -> Result<Vec<u8>> {
    let nbytes = declared_size(buf)?;
    let (version, flags, typesize) = (buf[0], buf[2], buf[3].max(1) as usize);
    let (blocksize, cbytes) = (u32_at(buf, 8) as usize, u32_at(buf, 12) as usize);
    ensure!(
        (1..=2).contains(&version),
        "blosc: format version {version} (this reader knows 1 and 2)"
    );
    ensure!(
        nbytes == expected,
        "blosc: holds {nbytes} bytes, the chunk needs {expected}"
    );
    ensure!(
        cbytes == buf.len(),
        "blosc: header says {cbytes} compressed bytes, the chunk has {} (truncated?)",
        buf.len()
    );
    if flags & MEMCPYED != 0 {
        ensure!(
            buf.len() == HEADER + nbytes,
            "blosc: an uncompressed buffer of {nbytes} bytes needs {} bytes, found {}",
            HEADER + nbytes,
            buf.len()
        );
        return Ok(buf[HEADER..].to_vec());
    }
    if nbytes == 0 {
        return Ok(vec![]);
    }
    ensure!(blocksize > 0, "blosc: block size 0");
    let codec = Inner::from_flags(flags)?;
    let nblocks = nbytes.div_ceil(blocksize);
    let table_end = HEADER + 4 * nblocks;
    ensure!(
        buf.len() >= table_end,
        "blosc: {nblocks} block offsets do not fit in {} bytes",
        buf.len()
    );
    let mut out = vec![0u8; nbytes];
    let mut scratch = vec![0u8; blocksize];
    for b in 0..nblocks {
        let start = b * blocksize;
        let size = blocksize.min(nbytes - start);
        let leftover = size < blocksize;
        let mut at = u32_at(buf, HEADER + 4 * b) as usize;
        ensure!(
            at >= table_end && at <= buf.len(),
            "blosc: block {b} starts at {at}, outside the data"
        );
        let split = flags & DONT_SPLIT == 0
            && typesize <= MAX_SPLITS
            && blocksize / typesize >= MIN_BUFFERSIZE
            && !leftover;
        let streams = if split { typesize } else { 1 };
        let per = size / streams;
        let raw = &mut scratch[..size];
        for s in 0..streams {
            ensure!(at + 4 <= buf.len(), "blosc: block {b} is truncated");
            let csize = i32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
            at += 4;
            ensure!(
                csize >= 0 && at + csize as usize <= buf.len(),
                "blosc: block {b} claims {csize} compressed bytes past the end"
            );
            let src = &buf[at..at + csize as usize];
            let dst = &mut raw[s * per..(s + 1) * per];
            if csize as usize == per {
                dst.copy_from_slice(src);
            } else {
                codec.decompress_into(src, dst, b)?;
            }
            at += csize as usize;
        }
        let dst = &mut out[start..start + size];
        if flags & DOSHUFFLE != 0 && typesize > 1 {
            unshuffle(raw, typesize, dst);
        } else if flags & DOBITSHUFFLE != 0 && size >= typesize {
            bit_unshuffle(raw, typesize, dst);
        } else {
            dst.copy_from_slice(raw);
        }
    }
    Ok(out)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
}

/// The codec inside a Blosc buffer (bits 5-7 of the flags).
#[derive(Debug, Clone, Copy)]
enum Inner {
    Lz4,
    Zlib,
    Zstd,
}

impl Inner {
    fn from_flags(flags: u8) -> Result<Self> {
        Ok(match flags >> 5 {
            1 => Inner::Lz4,
            3 => Inner::Zlib,
            4 => Inner::Zstd,
            0 => bail!(
                "blosc: the blosclz codec is not supported (re-encode with lz4, zstd or zlib)"
            ),
            2 => {
                bail!("blosc: the snappy codec is not supported (re-encode with lz4, zstd or zlib)")
            }
            other => bail!("blosc: unknown inner codec {other}"),
        })
    }

    /// Decompress into `dst`, which must be filled exactly.
    fn decompress_into(self, src: &[u8], dst: &mut [u8], block: usize) -> Result<()> {
        let n = match self {
            Inner::Lz4 => lz4_flex::block::decompress_into(src, dst)
                .map_err(|e| anyhow::anyhow!("blosc: block {block}: lz4: {e}"))?,
            Inner::Zlib => super::codecs::inflate_into(flate2::read::ZlibDecoder::new(src), dst)
                .map_err(|e| anyhow::anyhow!("blosc: block {block}: zlib: {e}"))?,
            Inner::Zstd => super::codecs::zstd_into(src, dst)
                .map_err(|e| anyhow::anyhow!("blosc: block {block}: {e}"))?,
        };
        ensure!(
            n == dst.len(),
            "blosc: block {block} decompressed to {n} bytes, expected {}",
            dst.len()
        );
        Ok(())
    }
}

/// Byte un-shuffle: the shuffled block holds byte `j` of every element,
/// then byte `j + 1`, ...; trailing bytes that make no whole element are
/// stored as they are.
fn unshuffle(src: &[u8], typesize: usize, dst: &mut [u8]) {
    let n = src.len() / typesize;
    for i in 0..n {
        for j in 0..typesize {
            dst[i * typesize + j] = src[j * n + i];
        }
    }
    let whole = n * typesize;
    dst[whole..].copy_from_slice(&src[whole..]);
}

/// Bit un-shuffle (bitshuffle's transposition, as Blosc applies it): when
/// the block holds a multiple of 8 elements, bit `b` of byte `j` of element
/// `i` is stored at bit position `(j * 8 + b) * n + i`, and bytes past the
/// last whole element as they are; any other block is stored as it is.
fn bit_unshuffle(src: &[u8], typesize: usize, dst: &mut [u8]) {
    let n = src.len() / typesize;
    if !n.is_multiple_of(8) {
        dst.copy_from_slice(src);
        return;
    }
    let whole = n * typesize;
    dst[..whole].fill(0);
    for row in 0..typesize * 8 {
        let (j, b) = (row / 8, row % 8);
        for i in 0..n {
            let pos = row * n + i;
            let bit = (src[pos / 8] >> (pos % 8)) & 1;
            dst[i * typesize + j] |= bit << b;
        }
    }
    dst[whole..].copy_from_slice(&src[whole..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built uncompressed-but-shuffled buffer: one block, split off
    /// (the flag), raw streams (csize == size).
    #[test]
    fn byte_shuffled_raw_block_round_trips() {
        let values: Vec<u8> = (0u8..12).collect(); // three u32 elements
        let mut shuffled = vec![0; 12];
        for i in 0..3 {
            for j in 0..4 {
                shuffled[j * 3 + i] = values[i * 4 + j];
            }
        }
        let mut buf = vec![2, 1, DOSHUFFLE | DONT_SPLIT | (1 << 5), 4];
        buf.extend(12u32.to_le_bytes()); // nbytes
        buf.extend(12u32.to_le_bytes()); // blocksize
        let total = HEADER + 4 + 4 + 12;
        buf.extend((total as u32).to_le_bytes());
        buf.extend(((HEADER + 4) as u32).to_le_bytes()); // block 0 offset
        buf.extend(12i32.to_le_bytes());
        buf.extend(&shuffled);
        assert_eq!(decompress(&buf, 12).unwrap(), values);
        // Truncated, or a size the array does not need: errors, not panics.
        assert!(decompress(&buf[..buf.len() - 1], 12).is_err());
        assert!(decompress(&buf, 16).is_err());
    }

    #[test]
    fn bit_unshuffle_inverts_the_transposition() {
        let typesize = 2;
        let values: Vec<u8> = (0..16 * typesize).map(|i| (i * 37 + 11) as u8).collect();
        let n = 16;
        let mut shuffled = vec![0u8; values.len()];
        for i in 0..n {
            for j in 0..typesize {
                for b in 0..8 {
                    let bit = (values[i * typesize + j] >> b) & 1;
                    let pos = (j * 8 + b) * n + i;
                    shuffled[pos / 8] |= bit << (pos % 8);
                }
            }
        }
        let mut out = vec![0; values.len()];
        bit_unshuffle(&shuffled, typesize, &mut out);
        assert_eq!(out, values);
    }
}
