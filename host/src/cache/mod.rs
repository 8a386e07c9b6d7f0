//! [`FeatureCache`]: frozen features on disk, content-addressed, so a
//! finished extraction is never recomputed and a killed one resumes where it
//! stopped. The key hashes everything that changes a clip's features: the
//! backbone's description (name, weights, layer, preprocessing), the task's
//! input spec, the frame indices and the bytes of the clip's file. An entry
//! is written to a temporary name and renamed, so concurrent writers are
//! safe, and it ends with a sha256 of its contents: a corrupt entry is
//! reported, removed and recomputed.
//!
//! Entries hold f32 values, or f16 ([`Storage::F16`]: half the disk and
//! reads, features rounded to 11 significant bits); the storage is part of
//! the key, so a run's features never depend on which kind a cache held.
//! Reads map the file instead of copying it (entries are written once,
//! under a fresh name, and never changed in place).

use anyhow::{Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC_F32: &[u8; 8] = b"SCVFEAT1";
const MAGIC_F16: &[u8; 8] = b"SCVFE16\x01";

/// How an entry stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    #[default]
    F32,
    F16,
}

impl Storage {
    pub fn name(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
        }
    }

    fn magic(self) -> &'static [u8; 8] {
        match self {
            Storage::F32 => MAGIC_F32,
            Storage::F16 => MAGIC_F16,
        }
    }

    fn value_bytes(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::F16 => 2,
        }
    }
}

impl std::str::FromStr for Storage {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Storage::F32),
            "f16" => Ok(Storage::F16),
            other => bail!("feature cache storage `{other}`: `f32` or `f16`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    storage: Storage,
}

/// What a lookup found.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    Hit(Vec<f32>),
    Miss,
    /// The entry existed but failed its checksum or shape check.
    Corrupt(String),
}

impl FeatureCache {
    /// A cache of f32 entries in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        FeatureCache {
            dir,
            storage: Storage::F32,
        }
    }

    /// The same cache directory, writing and reading `storage` entries.
    pub fn with_storage(self, storage: Storage) -> Self {
        FeatureCache { storage, ..self }
    }

    pub fn storage(&self) -> Storage {
        self.storage
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key of one clip's features (f32 keys are those of the
    /// caches before f16 storage existed).
    pub fn key(
        &self,
        backbone: &serde_json::Value,
        input: &str,
        frames: &[u32],
        clip_digest: &[u8],
    ) -> String {
        let mut h = Sha256::new();
        h.update(b"scivid-features-v2\0");
        h.update(backbone.to_string().as_bytes());
        h.update(b"\0");
        h.update(input.as_bytes());
        h.update(b"\0");
        for f in frames {
            h.update(f.to_le_bytes());
        }
        h.update(clip_digest);
        if self.storage == Storage::F16 {
            h.update(b"\0f16");
        }
        crate::files::hex(&h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.feat"))
    }

    /// Look up `key`, expecting `numel` values.
    pub fn get(&self, key: &str, numel: usize) -> Lookup {
        let path = self.path(key);
        let Ok(file) = std::fs::File::open(&path) else {
            return Lookup::Miss;
        };
        // SAFETY: entries are written under a temporary name and renamed
        // into place, never modified after: the mapped bytes do not change
        // while they are read (gc may unlink the file; the mapping stays
        // valid).
        let Ok(bytes) = (unsafe { memmap2::Mmap::map(&file) }) else {
            return Lookup::Miss;
        };
        match decode(&bytes, numel, self.storage) {
            Ok(v) => Lookup::Hit(v),
            Err(why) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Corrupt(format!("{}: {why}", path.display()))
            }
        }
    }

    pub fn put(&self, key: &str, values: &[f32]) -> Result<()> {
        let width = self.storage.value_bytes();
        let mut bytes = Vec::with_capacity(16 + values.len() * width + 32);
        bytes.extend_from_slice(self.storage.magic());
        bytes.extend_from_slice(&(values.len() as u64).to_le_bytes());
        // Sized once and filled in place, not grown a value at a time
        // (features are megabytes a clip).
        bytes.resize(16 + values.len() * width, 0);
        let body = bytes[16..].chunks_exact_mut(width).zip(values);
        match self.storage {
            Storage::F32 => body.for_each(|(b, v)| b.copy_from_slice(&v.to_le_bytes())),
            Storage::F16 => {
                body.for_each(|(b, v)| b.copy_from_slice(&half::f16::from_f32(*v).to_le_bytes()))
            }
        }
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        crate::files::write_atomic(&self.path(key), &bytes)
    }

    /// Remove entries, oldest written first, until at most `max_bytes`
    /// remain. Returns (entries removed, bytes freed, bytes kept).
    pub fn gc(&self, max_bytes: u64) -> Result<(usize, u64, u64)> {
        let mut entries: Vec<(std::time::SystemTime, PathBuf, u64)> = self
            .entries()
            .into_iter()
            .map(|(p, b)| {
                let t = std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (t, p, b)
            })
            .collect();
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.2).sum();
        let (mut removed, mut freed) = (0, 0);
        for (_, path, bytes) in entries {
            if total <= max_bytes {
                break;
            }
            std::fs::remove_file(&path)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
            total -= bytes;
            freed += bytes;
            removed += 1;
        }
        Ok((removed, freed, total))
    }

    /// Every entry: (path, bytes).
    pub fn entries(&self) -> Vec<(PathBuf, u64)> {
        let mut out = vec![];
        let Ok(shards) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "feat") {
                    out.push((p, f.metadata().map(|m| m.len()).unwrap_or(0)));
                }
            }
        }
        out.sort();
        out
    }
}

fn decode(bytes: &[u8], numel: usize, storage: Storage) -> Result<Vec<f32>, String> {
    if bytes.len() < 16 + 32 || &bytes[..8] != storage.magic() {
        return Err(format!(
            "not a feature cache entry of {} values",
            storage.name()
        ));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch".into());
    }
    let n = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")) as usize;
    if n != numel || body.len() != 16 + n * storage.value_bytes() {
        return Err(format!("holds {n} values, expected {numel}"));
    }
    let values = &body[16..];
    Ok(match storage {
        Storage::F32 => values
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Storage::F16 => values
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let c = FeatureCache::new(dir.path().to_path_buf());
        let key = c.key(&serde_json::json!({"b": 1}), "16x32x32x3", &[0, 1], b"clip");
        assert_eq!(c.get(&key, 3), Lookup::Miss);
        c.put(&key, &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(c.get(&key, 3), Lookup::Hit(vec![1.0, 2.0, 3.0]));
        assert!(
            matches!(c.get(&key, 4), Lookup::Corrupt(_)),
            "wrong size is refused"
        );
        c.put(&key, &[1.0, 2.0, 3.0]).unwrap();
        let path = c.entries()[0].0.clone();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        match c.get(&key, 3) {
            Lookup::Corrupt(why) => assert!(why.contains("checksum mismatch"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.get(&key, 3),
            Lookup::Miss,
            "the corrupt entry was removed"
        );
        let other = c.key(&serde_json::json!({"b": 2}), "16x32x32x3", &[0, 1], b"clip");
        assert_ne!(key, other, "the backbone is part of the key");
    }

    #[test]
    fn f16_entries_round_to_half_precision_take_half_the_bytes_and_their_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f32s = FeatureCache::new(dir.path().to_path_buf());
        let f16s = f32s.clone().with_storage(Storage::F16);
        let what = (serde_json::json!({"b": 1}), "16x32x32x3");
        let k32 = f32s.key(&what.0, what.1, &[0], b"clip");
        let k16 = f16s.key(&what.0, what.1, &[0], b"clip");
        assert_ne!(k32, k16, "the storage is part of the key");
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 40.0).collect();
        f32s.put(&k32, &values).unwrap();
        f16s.put(&k16, &values).unwrap();
        let Lookup::Hit(back) = f16s.get(&k16, values.len()) else {
            panic!("f16 entry not read back");
        };
        for (a, b) in values.iter().zip(&back) {
            // f16 keeps 11 significant bits: relative error <= 2^-11.
            assert!(
                (a - b).abs() <= a.abs() * 2f32.powi(-11) + 1e-7,
                "{a} -> {b}"
            );
        }
        let sizes: Vec<u64> = f32s.entries().iter().map(|e| e.1).collect();
        assert_eq!(
            sizes.iter().sum::<u64>(),
            (16 + 4000 + 32) + (16 + 2000 + 32)
        );
        // An f32 entry under an f16 reader's key is refused, not misread.
        std::fs::copy(f32s.path(&k32), f16s.path(&k16)).unwrap();
        match f16s.get(&k16, values.len()) {
            Lookup::Corrupt(why) => assert!(why.contains("f16"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
