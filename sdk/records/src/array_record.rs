//! ArrayRecord files: a Riegeli file whose last 64 KiB block holds a
//! postscript chunk (the footer's offset and a magic number), whose footer
//! chunk indexes every data chunk (offset, record count), so record `i` is
//! one chunk read away. Checked: the magic, the format version, the index
//! against the record counts, each chunk's hashes.

use crate::example::{Fields, Value};
use crate::riegeli::{BLOCK_SIZE, File, Records};
use crate::{Error, Result, bail};
use std::io::{Read, Seek};

const MAGIC: u64 = 0x7193_0e70_4fda_e05e;

/// One data chunk in the index.
#[derive(Debug, Clone)]
struct Chunk {
    offset: u64,
    first_record: u64,
    num_records: u64,
}

/// An open ArrayRecord file.
pub struct ArrayRecord<R> {
    file: File<R>,
    chunks: Vec<Chunk>,
    num_records: u64,
    /// The last chunk decoded (records are often read in order).
    cached: Option<(usize, Records)>,
}

impl ArrayRecord<std::fs::File> {
    /// Open the file at `path` (errors do not name it: callers do).
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error(format!("cannot open: {e}")))?;
        ArrayRecord::new(f)
    }
}

impl<R: Read + Seek> ArrayRecord<R> {
    pub fn new(src: R) -> Result<Self> {
        let mut file = File::new(src)?;
        let size = file.size();
        if size < BLOCK_SIZE {
            bail!("{size} bytes: an ArrayRecord file has at least 64 KiB (truncated?)");
        }
        let postscript = file
            .records(size - BLOCK_SIZE)
            .map_err(|e| Error(format!("postscript: {e} (truncated?)")))?;
        let (mut footer_offset, mut magic) = (None, None);
        for f in Fields(postscript.get(0).ok_or(Error("empty postscript".into()))?) {
            match f? {
                (1, Value::Varint(v)) => footer_offset = Some(v),
                (2, Value::Varint(v)) => magic = Some(v),
                _ => {}
            }
        }
        if magic != Some(MAGIC) {
            bail!("not an ArrayRecord file (no ArrayRecord magic in the postscript)");
        }
        let footer_offset =
            footer_offset.ok_or(Error("postscript without a footer offset".into()))?;
        if footer_offset >= size {
            bail!("footer offset {footer_offset} past the end ({size} bytes)");
        }
        let footer = file
            .records(footer_offset)
            .map_err(|e| Error(format!("footer: {e}")))?;
        let (version, num_chunks, num_records) = metadata(footer.get(0).unwrap_or_default())?;
        if version != 1 {
            bail!("ArrayRecord format version {version} (this reader knows 1)");
        }
        if footer.len() as u64 != num_chunks + 1 {
            bail!(
                "footer indexes {} chunks, its metadata says {num_chunks}",
                footer.len().saturating_sub(1)
            );
        }
        let mut chunks = Vec::with_capacity(footer.len() - 1);
        let mut first_record = 0u64;
        for i in 1..footer.len() {
            let (mut offset, mut n) = (None, 0);
            for f in Fields(footer.get(i).unwrap_or_default()) {
                match f? {
                    (1, Value::Varint(v)) => offset = Some(v),
                    (3, Value::Varint(v)) => n = v,
                    _ => {}
                }
            }
            let offset = offset.ok_or(Error(format!("footer entry {i} has no chunk offset")))?;
            if offset >= footer_offset {
                bail!("chunk {} at byte {offset}, past the footer", i - 1);
            }
            chunks.push(Chunk {
                offset,
                first_record,
                num_records: n,
            });
            first_record += n;
        }
        if first_record != num_records {
            bail!("the index holds {first_record} records, the metadata says {num_records}");
        }
        Ok(ArrayRecord {
            file,
            chunks,
            num_records,
            cached: None,
        })
    }

    pub fn len(&self) -> u64 {
        self.num_records
    }

    pub fn is_empty(&self) -> bool {
        self.num_records == 0
    }

    /// Record `i`.
    pub fn get(&mut self, i: u64) -> Result<Vec<u8>> {
        if i >= self.num_records {
            bail!("record {i} out of range ({} records)", self.num_records);
        }
        let c = self.chunks.partition_point(|c| c.first_record <= i) - 1;
        if self.cached.as_ref().is_none_or(|(k, _)| *k != c) {
            let chunk = &self.chunks[c];
            let records = self
                .file
                .records(chunk.offset)
                .map_err(|e| Error(format!("record {i}: {e}")))?;
            if records.len() as u64 != chunk.num_records {
                bail!(
                    "record {i}: its chunk holds {} records, the index says {}",
                    records.len(),
                    chunk.num_records
                );
            }
            self.cached = Some((c, records));
        }
        let (_, records) = self.cached.as_ref().expect("just cached");
        let at = (i - self.chunks[c].first_record) as usize;
        Ok(records.get(at).expect("counted above").to_vec())
    }
}

/// `RiegeliFooterMetadata.array_record_metadata`: (version, num_chunks,
/// num_records).
fn metadata(bytes: &[u8]) -> Result<(u64, u64, u64)> {
    for f in Fields(bytes) {
        if let (1, Value::Bytes(m)) = f? {
            let (mut version, mut chunks, mut records) = (0, 0, 0);
            for g in Fields(m) {
                match g? {
                    (1, Value::Varint(v)) => version = v,
                    (2, Value::Varint(v)) => chunks = v,
                    (3, Value::Varint(v)) => records = v,
                    _ => {}
                }
            }
            return Ok((version, chunks, records));
        }
    }
    bail!("footer without ArrayRecord metadata")
}
