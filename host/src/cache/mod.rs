//! [`FeatureCache`]: frozen features on disk, content-addressed, so a
//! finished extraction is never recomputed and a killed one resumes where it
//! stopped. The key hashes everything that changes a clip's features: the
//! backbone's description (name, weights, layer, preprocessing), the task's
//! input spec, the frame indices and the bytes of the clip's file. An entry
//! is written to a temporary name and renamed, so concurrent writers are
//! safe, and it ends with a sha256 of its contents: a corrupt entry is
//! reported, removed and recomputed.

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SCVFEAT1";

#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
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
    pub fn new(dir: PathBuf) -> Self {
        FeatureCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key of one clip's features.
    pub fn key(
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
        crate::files::hex(&h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.feat"))
    }

    /// Look up `key`, expecting `numel` values.
    pub fn get(&self, key: &str, numel: usize) -> Lookup {
        let path = self.path(key);
        let Ok(bytes) = std::fs::read(&path) else {
            return Lookup::Miss;
        };
        match decode(&bytes, numel) {
            Ok(v) => Lookup::Hit(v),
            Err(why) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Corrupt(format!("{}: {why}", path.display()))
            }
        }
    }

    pub fn put(&self, key: &str, values: &[f32]) -> Result<()> {
        let mut bytes = Vec::with_capacity(16 + values.len() * 4 + 32);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
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

fn decode(bytes: &[u8], numel: usize) -> Result<Vec<f32>, String> {
    if bytes.len() < 16 + 32 || &bytes[..8] != MAGIC {
        return Err("not a feature cache entry".into());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch".into());
    }
    let n = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")) as usize;
    if n != numel || body.len() != 16 + n * 4 {
        return Err(format!("holds {n} values, expected {numel}"));
    }
    Ok(body[16..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let c = FeatureCache::new(dir.path().to_path_buf());
        let key = FeatureCache::key(&serde_json::json!({"b": 1}), "16x32x32x3", &[0, 1], b"clip");
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
        let other = FeatureCache::key(&serde_json::json!({"b": 2}), "16x32x32x3", &[0, 1], b"clip");
        assert_ne!(key, other, "the backbone is part of the key");
    }
}
