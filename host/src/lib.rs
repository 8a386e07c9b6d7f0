//! # scivid host
//!
//! The data flow, one folder per stage:
//! [`data`] (datasets, clip decoding) -> [`backbone`] (native frozen encoders)
//! -> [`pipeline`] (features, joint training, evaluation) using [`runtime`]
//! (sandboxed Wasm task and readout plugins) over [`tensor`] (host tensors
//! plugins hold handles to) and [`train`] (schedule, AdamW) -> [`report`]
//! (JSON and Markdown results). [`cluster`] splits a run into shards for a
//! scheduler (Slurm) and merges them back. [`cli`] is the command line;
//! [`bench`] measures speed.

pub mod authoring;
pub mod backbone;
pub mod bench;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod data;
pub mod device;
pub mod files;
pub mod fuzzing;
pub mod pipeline;
pub mod report;
pub mod runtime;
pub mod spec;
pub mod tensor;
pub mod train;
