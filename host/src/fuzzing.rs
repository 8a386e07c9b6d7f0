//! Entry points for fuzzing the parsers of untrusted bytes, shared by the
//! cargo-fuzz targets (`tests/fuzz`) and by the test that replays their
//! committed corpora. Each takes any bytes and must answer with a value or
//! a clear error: never a panic, a hang or an outsized allocation.

use crate::backbone::weights::Weights;
use crate::data::{clips, npy};
use crate::runtime::sdk_version::{read_sdk_version, wasm_kind};

/// A `.npy` clip or array, parsed and converted to f32.
pub fn npy(bytes: &[u8]) {
    if let Ok(a) = npy::parse(bytes, "fuzz.npy") {
        let _ = a.as_f32();
    }
}

/// A checkpoint in the format its extension names (`safetensors`, `bin`, `npz`).
pub fn checkpoint(bytes: &[u8], ext: &str) {
    if let Ok(w) = Weights::from_bytes(bytes, &format!("fuzz.{ext}")) {
        let _ = w.shapes().count();
    }
}

/// An image frame (PNG or JPEG), decoded and resized as clips are.
pub fn frame(bytes: &[u8]) {
    let _ = clips::decode_frame(bytes, "fuzz.png", 8, 8);
}

/// A plugin file's kind and the SDK version in its custom section.
pub fn plugin_metadata(bytes: &[u8]) {
    let _ = wasm_kind(bytes);
    let _ = read_sdk_version(bytes);
}

/// A fuzz target: any bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `tests/fuzz/fuzz_targets/*.rs` and of
/// their corpora in `tests/fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("npy", npy),
    ("safetensors", |b| checkpoint(b, "safetensors")),
    ("pytorch", |b| checkpoint(b, "bin")),
    ("npz", |b| checkpoint(b, "npz")),
    ("frame", frame),
    ("plugin_metadata", plugin_metadata),
];
