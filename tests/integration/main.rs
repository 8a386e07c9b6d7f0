//! scivid's integration tests: one binary, a module per area.

mod arrays;
mod augment;
mod authoring;
mod backbones;
mod cluster;
mod common;
mod contract;
mod faults;
mod fuzz;
mod native;
mod online;
mod ops;
mod readouts;
mod records;
mod report;
mod resume;
mod sampling;
mod sandbox;
mod security;
mod slice;
mod slurm;
mod spec_file;
mod tasks;
mod third_party;
mod video;
mod zarr;
