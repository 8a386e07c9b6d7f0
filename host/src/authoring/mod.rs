//! Third-party authoring: what a plugin author runs before anyone else does.
//!
//! - [`checks`]: `scivid plugins check FILE` (the component against the SDK,
//!   no dataset) and `scivid plugins test FILE --data DIR` (the task's own
//!   behaviour on its data: indexing, targets, loss, metrics on perfect and
//!   control predictions, determinism).
//! - [`scaffold`]: `scivid new task|readout NAME`, a buildable plugin crate
//!   outside any workspace, with the SDK vendored in.

pub mod checks;
pub mod scaffold;
