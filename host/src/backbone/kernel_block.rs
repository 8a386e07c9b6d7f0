//! A ViT block on the CPU kernels (`scivid-kernels`): the same arithmetic
//! as [`super::vit::Block`]'s burn ops, in five fused passes (LayerNorm,
//! q/k/v projection with bias, attention, output projection with layer
//! scale and residual, LayerNorm, MLP in with GELU, MLP out with residual)
//! on weights packed once at load.
//!
//! Used on the CPU device when the CPU has AVX-512F, unless
//! `SCIVID_CPU_KERNELS=0` asks for burn's ops (to compare, or to rule the
//! kernels out). Features agree with burn's path to float rounding (the
//! backbone parity tests run on this path; `vit` tests compare the two).

use scivid_kernels::{Activation, Epilogue, PackedB, attention, gemm, layer_norm};

/// Whether blocks loaded now use the kernels.
pub fn enabled() -> bool {
    scivid_kernels::available() && std::env::var("SCIVID_CPU_KERNELS").map_or(true, |v| v != "0")
}

/// LayerNorm parameters.
pub struct Norm {
    pub gain: Vec<f32>,
    pub shift: Vec<f32>,
    pub eps: f32,
}

/// A dense layer: weight packed [in, out], bias (zeros where it has none).
pub struct Linear {
    pub weight: PackedB,
    pub bias: Vec<f32>,
}

pub struct KernelBlock {
    pub norm1: Norm,
    /// q, k and v side by side: one GEMM with 3 d outputs.
    pub qkv: Linear,
    pub proj: Linear,
    pub norm2: Norm,
    pub fc1: Linear,
    pub fc2: Linear,
    pub activation: Activation,
    /// Layer scale after attention and after the MLP (DINOv2).
    pub scale: Option<(Vec<f32>, Vec<f32>)>,
    pub heads: usize,
}

impl KernelBlock {
    /// x [batch, tokens, d] (row-major) -> the block's output, in place.
    pub fn forward(&self, x: &mut [f32], batch: usize, tokens: usize) {
        let d = self.proj.weight.n();
        let rows = batch * tokens;
        debug_assert_eq!(x.len(), rows * d);
        let mut h = vec![0f32; rows * d];
        layer_norm(
            x,
            d,
            &self.norm1.gain,
            &self.norm1.shift,
            self.norm1.eps,
            &mut h,
        );
        let mut qkv = vec![0f32; rows * 3 * d];
        gemm(
            rows,
            &h,
            d,
            &self.qkv.weight,
            &mut qkv,
            3 * d,
            bias(&self.qkv),
        );
        for (qkv, out) in qkv
            .chunks_exact(tokens * 3 * d)
            .zip(h.chunks_exact_mut(tokens * d))
        {
            attention(qkv, tokens, d, self.heads, out);
        }
        drop(qkv);
        let (s1, s2) = match &self.scale {
            Some((a, b)) => (Some(&a[..]), Some(&b[..])),
            None => (None, None),
        };
        gemm(
            rows,
            &h,
            d,
            &self.proj.weight,
            x,
            d,
            residual(&self.proj, s1),
        );
        layer_norm(
            x,
            d,
            &self.norm2.gain,
            &self.norm2.shift,
            self.norm2.eps,
            &mut h,
        );
        let mlp = self.fc1.weight.n();
        let mut m = vec![0f32; rows * mlp];
        let fc1 = Epilogue {
            activation: self.activation,
            ..bias(&self.fc1)
        };
        gemm(rows, &h, d, &self.fc1.weight, &mut m, mlp, fc1);
        gemm(
            rows,
            &m,
            mlp,
            &self.fc2.weight,
            x,
            d,
            residual(&self.fc2, s2),
        );
    }
}

/// `+ bias`.
fn bias(l: &Linear) -> Epilogue<'_> {
    Epilogue {
        bias: Some(&l.bias[..]),
        ..Epilogue::default()
    }
}

/// `C += (A W + bias) * scale`: a residual branch's last layer.
fn residual<'a>(l: &'a Linear, scale: Option<&'a [f32]>) -> Epilogue<'a> {
    Epilogue {
        scale,
        accumulate: true,
        ..bias(l)
    }
}
