//! # scivid-records
//!
//! SciVid's released data format, read without TensorFlow or C++: ArrayRecord
//! files ([`ArrayRecord`], a Riegeli container with an index, see
//! [`riegeli`]) whose records are serialized `tf.train.SequenceExample`s
//! ([`SequenceExample`]), whose per-step tensors may be serialized
//! `TensorProto`s ([`FloatTensor`]). Pure Rust, so the host decodes frames with it and
//! Wasm task plugins read labels with it (`scivid_sdk::records`).
//!
//! Every size in a file is checked before it is used, and every chunk's
//! hashes are verified: a truncated or corrupt shard is an error naming
//! the record, never a panic.

pub mod array_record;
pub mod example;
pub mod riegeli;
pub mod tensor;

pub use array_record::ArrayRecord;
pub use example::{Feature, SequenceExample};
pub use tensor::FloatTensor;

/// An error; the message names the record or chunk. Callers add the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}
pub(crate) use bail;
