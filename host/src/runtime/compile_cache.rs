//! Compiled components cached on disk, keyed by the component's sha256 and
//! the engine's compatibility hash (wasmtime version + configuration), so a
//! second load skips Cranelift. Writes go to a temporary name and are renamed
//! into place, so concurrent runs never see a partial file.

use anyhow::Result;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

fn engine_key(engine: &Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Where a compiled component would be cached.
pub fn cache_path(dir: &Path, engine: &Engine, sha256: &str) -> PathBuf {
    dir.join("components")
        .join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

/// Whether a cached compilation was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    Disabled,
}

/// Load `bytes` as a component, through the cache in `dir` if given.
pub fn load(
    engine: &Engine,
    dir: Option<&Path>,
    bytes: &[u8],
    sha256: &str,
) -> Result<(Component, CacheOutcome)> {
    let Some(dir) = dir else {
        return Ok((
            Component::new(engine, bytes).map_err(anyhow::Error::from)?,
            CacheOutcome::Disabled,
        ));
    };
    let path = cache_path(dir, engine, sha256);
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash (it is in the file name), into a
        // cache directory owned by the user running scivid. wasmtime checks
        // the header and version again and refuses a mismatch.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, CacheOutcome::Hit)),
            Err(_) => {
                // Corrupt or stale entry: recompile and overwrite below.
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let component = Component::new(engine, bytes).map_err(anyhow::Error::from)?;
    if let Ok(serialized) = component.serialize() {
        // The cache is an optimisation: failing to write it is not an error.
        let _ = crate::files::write_atomic(&path, &serialized);
    }
    Ok((component, CacheOutcome::Miss))
}
