//! Entry points for fuzzing the parsers of untrusted bytes, shared by the
//! cargo-fuzz targets (`tests/fuzz`) and by the test that replays their
//! committed corpora. Each takes any bytes and must answer with a value or
//! a clear error: never a panic, a hang or an outsized allocation.

use crate::backbone::weights::Weights;
use crate::data::{clips, npy, zarr};
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

/// Zarr array metadata, as `.zarray` (v2) or `zarr.json` (v3): the first
/// byte picks which.
pub fn zarr_metadata(bytes: &[u8]) {
    let Some((&which, rest)) = bytes.split_first() else {
        return;
    };
    if let Ok(a) = zarr::Array::from_metadata(rest, which & 1 == 1) {
        let _ = a.chunk_path(&vec![0; a.shape.len()]);
        let _ = a.plane_chunks(&vec![0; a.shape.len().saturating_sub(2)]);
    }
}

/// The metadata the Zarr chunk target decodes with: one per codec path.
pub const ZARR_CHUNK_LAYOUTS: &[(&str, bool)] = &[
    (
        r#"{"zarr_format":2,"shape":[4,8],"chunks":[4,8],"dtype":"<f4","compressor":{"id":"blosc"},"fill_value":0,"order":"C","filters":null}"#,
        false,
    ),
    (
        r#"{"zarr_format":2,"shape":[4,8],"chunks":[4,8],"dtype":">i2","compressor":{"id":"zlib"},"fill_value":0,"order":"F","filters":null}"#,
        false,
    ),
    (
        r#"{"zarr_format":2,"shape":[4,8],"chunks":[4,8],"dtype":"<f8","compressor":{"id":"gzip"},"fill_value":"NaN","order":"C","filters":null}"#,
        false,
    ),
    (
        r#"{"zarr_format":3,"node_type":"array","shape":[4,8],"data_type":"float32","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[4,8]}},"chunk_key_encoding":{"name":"default"},"fill_value":0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"zstd"}]}"#,
        true,
    ),
    (
        r#"{"zarr_format":3,"node_type":"array","shape":[4,8],"data_type":"uint16","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[4,8]}},"chunk_key_encoding":{"name":"default"},"fill_value":0,"codecs":[{"name":"bytes"},{"name":"blosc"},{"name":"crc32c"}]}"#,
        true,
    ),
];

/// One Zarr chunk's bytes, decoded with the layout the first byte picks.
pub fn zarr_chunk(bytes: &[u8]) {
    let Some((&which, rest)) = bytes.split_first() else {
        return;
    };
    let (meta, v3) = ZARR_CHUNK_LAYOUTS[which as usize % ZARR_CHUNK_LAYOUTS.len()];
    let a = zarr::Array::from_metadata(meta.as_bytes(), v3).expect("the layouts are valid");
    let _ = a.decode_chunk(Some(rest));
}

/// An ArrayRecord file: opened, its first records read and parsed as
/// SequenceExamples.
pub fn array_record(bytes: &[u8]) {
    if let Ok(mut f) = scivid_records::ArrayRecord::new(std::io::Cursor::new(bytes)) {
        for i in 0..f.len().min(16) {
            if let Ok(r) = f.get(i) {
                let _ = scivid_records::SequenceExample::parse(&r);
            }
        }
    }
}

/// A serialized `tf.train.SequenceExample`, whole and context only, and
/// serialized float32 tensors (`TensorProto`) inside it.
pub fn sequence_example(bytes: &[u8]) {
    let _ = scivid_records::SequenceExample::parse_context(bytes);
    // Every byte string of every step read as a serialized tensor too
    // (MOVi's per-frame tracks), and the whole input as one.
    let _ = scivid_records::FloatTensor::parse(bytes);
    if let Ok(ex) = scivid_records::SequenceExample::parse(bytes) {
        for step in ex.feature_lists.values().flatten() {
            for b in step.bytes().unwrap_or_default() {
                let _ = scivid_records::FloatTensor::parse(b);
            }
        }
    }
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
    ("zarr_metadata", zarr_metadata),
    ("zarr_chunk", zarr_chunk),
    ("array_record", array_record),
    ("sequence_example", sequence_example),
];
