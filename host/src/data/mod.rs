//! Data: the `.npy` reader/writer, Zarr arrays, clip decoding inside a dataset directory,
//! and the built-in synthetic dataset.

pub mod arrays;
pub mod augment;
pub mod clips;
pub mod npy;
pub mod synth;
pub mod video;
pub mod zarr;
