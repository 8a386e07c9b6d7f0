//! Image ops on channels-last tensors [B, H, W, C], with XLA's conventions
//! (the DPT readout is specified in JAX): [`Ops::conv2d`],
//! [`Ops::conv_transpose2d`] and [`Ops::resize_bilinear`]. Convolutions run
//! on burn's conv kernels (NCHW) after a permute; the resize is two matmuls
//! with jax.image.resize's interpolation weights, so its gradient is exact
//! and its edges and antialiasing match JAX's.

use super::{DynTensor, Ops, ops::OpError};
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

type R = Result<DynTensor, OpError>;

/// XLA padding modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// ceil(size / stride) outputs (transposed: size * stride), the odd
    /// padding element at the end.
    Same,
    /// No padding.
    Valid,
}

/// Largest stride or kernel side the ops accept (beyond it a plugin is
/// asking for something no image model does).
const MAX_WINDOW: usize = 64;

/// Validated operands of a convolution.
struct ConvShapes {
    b: usize,
    hw: [usize; 2],
    k: [usize; 2],
    cout: usize,
    stride: [usize; 2],
}

fn conv_shapes(
    op: &'static str,
    x: &DynTensor,
    kernel: &DynTensor,
    stride: (u32, u32),
) -> Result<ConvShapes, OpError> {
    let (&[b, h, w, c], &[kh, kw, cin, cout]) = (x.shape(), kernel.shape()) else {
        return Err(OpError::new(
            op,
            format!(
                "needs an image [B, H, W, C] and a kernel [kh, kw, in, out], got {:?} and {:?}",
                x.shape(),
                kernel.shape()
            ),
        ));
    };
    if c != cin {
        return Err(OpError::new(
            op,
            format!(
                "image has {c} channels, kernel {:?} expects {cin}",
                kernel.shape()
            ),
        ));
    }
    let stride = [stride.0 as usize, stride.1 as usize];
    let bad = |v: usize| v == 0 || v > MAX_WINDOW;
    if stride.iter().any(|&s| bad(s)) || bad(kh) || bad(kw) || cout == 0 || h == 0 || w == 0 {
        return Err(OpError::new(
            op,
            format!(
                "stride {stride:?}, kernel {:?} and image {:?} must be non-empty, strides and kernel sides at most {MAX_WINDOW}",
                kernel.shape(),
                x.shape()
            ),
        ));
    }
    Ok(ConvShapes {
        b,
        hw: [h, w],
        k: [kh, kw],
        cout,
        stride,
    })
}

/// Output size and (begin, end) padding of a convolution along one axis.
fn conv_axis(size: usize, k: usize, s: usize, padding: Padding) -> Option<(usize, usize, usize)> {
    match padding {
        Padding::Same => {
            let out = size.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(size);
            Some((out, total / 2, total - total / 2))
        }
        Padding::Valid => (size >= k).then(|| ((size - k) / s + 1, 0, 0)),
    }
}

/// (begin, end) padding of the dilated input of `jax.lax.conv_transpose`.
fn transpose_axis_padding(k: usize, s: usize, padding: Padding) -> (usize, usize) {
    let (len, begin) = match padding {
        Padding::Same if s > k - 1 => (k + s - 2, k - 1),
        Padding::Same => (k + s - 2, (k + s - 2).div_ceil(2)),
        Padding::Valid => (k + s - 2 + k.saturating_sub(s), k - 1),
    };
    (begin, len - begin)
}

fn to_nchw(x: &DynTensor) -> Tensor<4> {
    x.to_burn::<4>().permute([0, 3, 1, 2])
}

fn from_nchw(y: Tensor<4>) -> DynTensor {
    DynTensor::from_burn(y.permute([0, 2, 3, 1]))
}

/// Zeros appended at the end of axis `dim` of an NCHW tensor.
fn pad_end(x: Tensor<4>, dim: usize, extra: usize) -> Tensor<4> {
    if extra == 0 {
        return x;
    }
    let mut dims = x.dims();
    dims[dim] = extra;
    let zeros = Tensor::<4>::zeros(dims, &x.device());
    Tensor::cat(vec![x, zeros], dim)
}

/// Estimated FLOPs of a convolution (or its transpose) of these operands:
/// every input pixel meets the whole kernel once.
pub fn conv_flops(x: &[usize], kernel: &[usize]) -> u64 {
    x.iter()
        .take(3)
        .chain(kernel.iter())
        .fold(2u64, |acc, &d| acc.saturating_mul(d as u64))
}

/// Estimated FLOPs of a bilinear resize of `x` [B, H, W, C] (two matmuls).
pub fn resize_flops(x: &[usize], height: u32, width: u32) -> u64 {
    let &[b, h, w, c] = x else { return 0 };
    let (ho, wo) = (height as u64, width as u64);
    let (b, h, w, c) = (b as u64, h as u64, w as u64, c as u64);
    2u64.saturating_mul(b * c)
        .saturating_mul(w * h * ho + ho * w * wo)
}

/// The interpolation kernels of `jax.image.resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeKernel {
    /// "bilinear": the triangle kernel.
    Triangle,
    /// "cubic": Keys' cubic kernel (a = -0.5).
    KeysCubic,
}

impl ResizeKernel {
    fn weight(self, x: f64) -> f64 {
        match self {
            ResizeKernel::Triangle => (1.0 - x).max(0.0),
            ResizeKernel::KeysCubic if x >= 2.0 => 0.0,
            ResizeKernel::KeysCubic if x >= 1.0 => ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
            ResizeKernel::KeysCubic => ((1.5 * x - 2.5) * x) * x + 1.0,
        }
    }
}

/// jax.image.resize's weights for one axis (`scale_and_translate`,
/// antialiased: the kernel widens by the shrink factor), as a row-major
/// [input, output] matrix. Weights are normalised over the input, so edges
/// renormalise instead of reading outside.
pub fn resize_weights(input: usize, output: usize, kernel: ResizeKernel) -> Vec<f32> {
    let inv_scale = input as f64 / output as f64;
    let kernel_scale = inv_scale.max(1.0);
    let mut m = vec![0.0f32; input * output];
    for o in 0..output {
        let sample = (o as f64 + 0.5) * inv_scale - 0.5;
        if !(-0.5..=input as f64 - 0.5).contains(&sample) {
            continue;
        }
        let w: Vec<f64> = (0..input)
            .map(|i| kernel.weight((sample - i as f64).abs() / kernel_scale))
            .collect();
        let total: f64 = w.iter().sum();
        if total.abs() <= 1000.0 * f32::EPSILON as f64 {
            continue;
        }
        for (i, wi) in w.iter().enumerate() {
            m[i * output + o] = (wi / total) as f32;
        }
    }
    m
}

/// [`resize_weights`] with the triangle kernel (`"bilinear"`).
pub fn bilinear_weights(input: usize, output: usize) -> Vec<f32> {
    resize_weights(input, output, ResizeKernel::Triangle)
}

impl Ops {
    /// Convolution of `x` [B, H, W, Cin] with `kernel` [kh, kw, Cin, Cout].
    pub fn conv2d(
        &self,
        x: &DynTensor,
        kernel: &DynTensor,
        stride: (u32, u32),
        padding: Padding,
    ) -> R {
        const OP: &str = "conv2d";
        let s = conv_shapes(OP, x, kernel, stride)?;
        let mut out = [0; 2];
        let mut pads = [(0, 0); 2];
        for a in 0..2 {
            let Some((o, lo, hi)) = conv_axis(s.hw[a], s.k[a], s.stride[a], padding) else {
                return Err(OpError::new(
                    OP,
                    format!(
                        "`valid` padding needs an image {:?} at least as large as the kernel {:?}",
                        x.shape(),
                        kernel.shape()
                    ),
                ));
            };
            out[a] = o;
            pads[a] = (lo, hi);
        }
        self.check_result(OP, &[s.b, out[0], out[1], s.cout])?;
        // XLA puts the odd padding element at the end; burn pads both ends
        // alike, so the extra end zeros are appended first.
        let mut xin = to_nchw(x);
        for (a, &(lo, hi)) in pads.iter().enumerate() {
            xin = pad_end(xin, 2 + a, hi - lo);
        }
        let weight = kernel.to_burn::<4>().permute([3, 2, 0, 1]);
        let options = ConvOptions::new(s.stride, [pads[0].0, pads[1].0], [1, 1], 1);
        let y = conv2d(xin, weight, None, options);
        debug_assert_eq!(y.dims(), [s.b, s.cout, out[0], out[1]]);
        Ok(from_nchw(y))
    }

    /// `jax.lax.conv_transpose(x, kernel, stride, padding)` (kernel not
    /// flipped) for `x` [B, H, W, Cin] and `kernel` [kh, kw, Cin, Cout].
    pub fn conv_transpose2d(
        &self,
        x: &DynTensor,
        kernel: &DynTensor,
        stride: (u32, u32),
        padding: Padding,
    ) -> R {
        const OP: &str = "conv-transpose2d";
        let s = conv_shapes(OP, x, kernel, stride)?;
        let mut out = [0; 2];
        let mut extra_end = [0; 2];
        let mut crop = [(0, 0); 2];
        for a in 0..2 {
            let (k, st) = (s.k[a], s.stride[a]);
            let (pa, pb) = transpose_axis_padding(k, st, padding);
            out[a] = (s.hw[a] - 1) * st + pa + pb + 2 - k;
            // burn pads the dilated input by k-1 on both sides (plus
            // `padding_out` at the end) and correlates with the flipped
            // kernel; crop what XLA's padding leaves out.
            extra_end[a] = pb.saturating_sub(k - 1);
            crop[a] = (k - 1 - pa, (k - 1).saturating_sub(pb));
        }
        self.check_result(OP, &[s.b, out[0], out[1], s.cout])?;
        let weight = kernel.to_burn::<4>().permute([2, 3, 0, 1]).flip([2, 3]);
        let options = ConvTransposeOptions::new(s.stride, [0, 0], extra_end, [1, 1], 1);
        let y = conv_transpose2d(to_nchw(x), weight, None, options);
        let [_, _, fh, fw] = y.dims();
        let y = y.slice([
            0..s.b,
            0..s.cout,
            crop[0].0..fh - crop[0].1,
            crop[1].0..fw - crop[1].1,
        ]);
        debug_assert_eq!(y.dims(), [s.b, s.cout, out[0], out[1]]);
        Ok(from_nchw(y))
    }

    /// `jax.image.resize(x, (B, height, width, C), "bilinear")` for `x` [B, H, W, C].
    pub fn resize_bilinear(&self, x: &DynTensor, height: u32, width: u32) -> R {
        const OP: &str = "resize-bilinear";
        let &[b, h, w, c] = x.shape() else {
            return Err(OpError::new(
                OP,
                format!("needs an image [B, H, W, C], got {:?}", x.shape()),
            ));
        };
        let (ho, wo) = (height as usize, width as usize);
        if ho == 0 || wo == 0 || h == 0 || w == 0 {
            return Err(OpError::new(
                OP,
                format!("cannot resize {:?} to {height}x{width}", x.shape()),
            ));
        }
        self.check_result(OP, &[b, ho, w, c])?;
        self.check_result(OP, &[b, ho, wo, c])?;
        let device = &self.device;
        let matrix = |input: usize, output: usize| {
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(bilinear_weights(input, output), [input, output]),
                device,
            )
        };
        let mut y = x.to_burn::<4>();
        if ho != h {
            // [B, H, W, C] -> rows of H values -> [B, W, C, Ho] -> [B, Ho, W, C]
            let rows = y.permute([0, 2, 3, 1]).reshape([b * w * c, h]);
            y = rows
                .matmul(matrix(h, ho))
                .reshape([b, w, c, ho])
                .permute([0, 3, 1, 2]);
        }
        if wo != w {
            // [B, Ho, W, C] -> rows of W values -> [B, Ho, C, Wo] -> [B, Ho, Wo, C]
            let rows = y.permute([0, 1, 3, 2]).reshape([b * ho * c, w]);
            y = rows
                .matmul(matrix(w, wo))
                .reshape([b, ho, c, wo])
                .permute([0, 1, 3, 2]);
        }
        Ok(DynTensor::from_burn(y))
    }
}
