//! f32 CPU kernels for the ViT forward pass, written for AVX-512.
//!
//! burn's CPU backend runs a ViT block as a dozen separate ops (a GEMM that
//! repacks its weights on every call, then a pass each for the bias, the
//! GELU, the residual, six for a LayerNorm) and spends most of its time
//! moving memory. These kernels do the same arithmetic in fewer passes:
//!
//! - [`gemm`]: `C = A B` against weights packed once ([`PackedB`]), with the
//!   bias, the activation, a per-column scale and the residual add fused
//!   into the store ([`Epilogue`]).
//! - [`attention`]: multi-head self-attention straight from the fused
//!   q/k/v rows, a block of queries at a time: the N x N score matrix is
//!   never formed, each row's softmax is exact.
//! - [`layer_norm`]: one pass over a row for its moments, one to write it.
//!
//! Every entry point checks its slice lengths and then uses raw pointers.
//! [`available`] says whether this CPU can run them (AVX-512F); callers keep
//! their portable path for the others.

mod attention;
mod gemm;
mod math;

pub use attention::attention;
pub use gemm::{Activation, Epilogue, PackedB, gemm};
pub use math::layer_norm;

/// Whether this CPU runs the kernels (x86-64 with AVX-512F).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Panics unless [`available`]: every public kernel calls it first, so a
/// caller that skipped the check gets a message instead of an illegal
/// instruction.
fn require() {
    assert!(available(), "scivid-kernels need AVX-512F");
}
