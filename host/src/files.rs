//! Small helpers for files and content hashes shared across stages: atomic
//! writes (temporary name, then rename, so no reader ever sees a partial
//! file) and sha256 as hex.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of `bytes`, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Write via a unique temporary file and rename into place.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let parent = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    // Random, not just the pid: writers on other nodes of a shared
    // filesystem may have the same pid.
    let tmp = parent.join(format!(
        ".{}.{}.{:016x}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        rand::random::<u64>()
    ));
    // A failed write (a full disk) leaves neither a partial file under the
    // final name nor a stray temporary one.
    let written = std::fs::write(&tmp, data)
        .with_context(|| format!("cannot write {}", path.display()))
        .and_then(|_| {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename into {}", path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
