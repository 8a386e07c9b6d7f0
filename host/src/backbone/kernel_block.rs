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

impl Linear {
    /// `x W + b` for `rows` rows of x.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (k, n) = (self.weight.k(), self.weight.n());
        let mut y = vec![0f32; rows * n];
        gemm(rows, x, k, &self.weight, &mut y, n, bias(self));
        y
    }
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
        // Taken, not borrowed: while it waits inside a kernel, this thread
        // may run another clip's block (see `forward_clips`).
        let [mut h, mut qkv, mut m] = SCRATCH.take();
        self.forward_with(x, batch, tokens, &mut h, &mut qkv, &mut m);
        SCRATCH.set([h, qkv, m]);
    }

    fn forward_with(
        &self,
        x: &mut [f32],
        batch: usize,
        tokens: usize,
        h: &mut Vec<f32>,
        qkv: &mut Vec<f32>,
        m: &mut Vec<f32>,
    ) {
        let d = self.proj.weight.n();
        let mlp = self.fc1.weight.n();
        let rows = batch * tokens;
        debug_assert_eq!(x.len(), rows * d);
        // Every value of these is written before it is read.
        for (buffer, len) in [
            (&mut *h, rows * d),
            (&mut *qkv, rows * 3 * d),
            (&mut *m, rows * mlp),
        ] {
            buffer.resize(len, 0.0);
        }
        let (h, qkv, m) = (
            &mut h[..rows * d],
            &mut qkv[..rows * 3 * d],
            &mut m[..rows * mlp],
        );
        layer_norm(x, d, &self.norm1.gain, &self.norm1.shift, self.norm1.eps, h);
        gemm(rows, h, d, &self.qkv.weight, qkv, 3 * d, bias(&self.qkv));
        for (qkv, out) in qkv
            .chunks_exact(tokens * 3 * d)
            .zip(h.chunks_exact_mut(tokens * d))
        {
            attention(qkv, tokens, d, self.heads, out);
        }
        let (s1, s2) = match &self.scale {
            Some((a, b)) => (Some(&a[..]), Some(&b[..])),
            None => (None, None),
        };
        gemm(
            rows,
            h,
            d,
            &self.proj.weight,
            x,
            d,
            residual(&self.proj, s1),
        );
        layer_norm(x, d, &self.norm2.gain, &self.norm2.shift, self.norm2.eps, h);
        let fc1 = Epilogue {
            activation: self.activation,
            ..bias(&self.fc1)
        };
        gemm(rows, h, d, &self.fc1.weight, m, mlp, fc1);
        gemm(
            rows,
            m,
            mlp,
            &self.fc2.weight,
            x,
            d,
            residual(&self.fc2, s2),
        );
    }
}

thread_local! {
    /// A block's temporaries (normalised rows, q/k/v, MLP hidden), kept
    /// from block to block: fresh ones cost page faults and zeroing
    /// (about 40 MB per ViT-B block at 1568 tokens).
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
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

/// Runs `blocks` in turn over every clip of `x` ([clips, tokens, d],
/// row-major), in place. Clips go side by side on rayon's threads, a clip
/// per thread while there are clips enough, and a thread with nothing left
/// to do takes a share of another clip's kernels: no thread waits at the
/// end of each GEMM and attention head for the slower one, yet a thread
/// that the machine slows down is made up for.
pub fn forward_clips(blocks: &[&KernelBlock], x: &mut [f32], tokens: usize) {
    let Some(first) = blocks.first() else {
        return;
    };
    let clip = (tokens * first.proj.weight.n()).max(1);
    let clips = x.len() / clip;
    if clips <= 1 {
        for block in blocks {
            block.forward(x, 1, tokens);
        }
        return;
    }
    let (a, b) = x.split_at_mut(clips / 2 * clip);
    rayon::join(
        || forward_clips(blocks, a, tokens),
        || forward_clips(blocks, b, tokens),
    );
}
