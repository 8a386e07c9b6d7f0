//! Vector math on 16 f32 lanes (exp, the two GELUs) and LayerNorm.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::*;

/// LayerNorm of each row of `x` ([rows, d]) into `out`, with gain `g` and
/// shift `b`: `(x - mean) / sqrt(var + eps) * g + b` (biased variance, as
/// PyTorch and flax compute it).
pub fn layer_norm(x: &[f32], d: usize, g: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    crate::require();
    assert!(d > 0 && x.len().is_multiple_of(d), "rows of {d} values");
    assert!(out.len() == x.len() && g.len() == d && b.len() == d);
    use rayon::prelude::*;
    // Rows in chunks: a row of 768 values is too little work for a task.
    let chunk = d * 64;
    out.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(o, x)| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `require` checked AVX-512F; the lengths are checked above.
            unsafe {
                layer_norm_rows(x, d, g, b, eps, o)
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (o, x, g, b, eps);
        });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// A mask of the first `n` (at most 16) lanes.
    #[inline(always)]
    pub(crate) fn lanes(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { (1u16 << n) - 1 }
    }

    /// e^x, within 2 ulp for x in [-87, 88]; the argument is clamped to
    /// [-88, 88.7] (below: e^-88, about 6e-39, which a softmax treats as 0).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp(x: __m512) -> __m512 {
        // x = n ln2 + r, |r| <= ln2 / 2; e^r by its Taylor series to r^7
        // (error below 1e-9 there); 2^n applied exactly by scalef.
        let x = _mm512_max_ps(x, _mm512_set1_ps(-88.0));
        let x = _mm512_min_ps(x, _mm512_set1_ps(88.7));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        // ln 2 in two parts so that n * LN2_HI is exact.
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
        let mut p = _mm512_set1_ps(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// GELU with the exact normal CDF: x * Phi(x) = x/2 (1 + erf(x / sqrt 2)).
    /// erf by Abramowitz & Stegun 7.1.26 (absolute error 1.5e-7), arranged
    /// so that 1 + erf never cancels: for x < 0 it is erfc(|x| / sqrt 2).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn gelu_erf(x: __m512) -> __m512 {
        let z = _mm512_mul_ps(
            _mm512_abs_ps(x),
            _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        );
        let t = _mm512_div_ps(
            _mm512_set1_ps(1.0),
            _mm512_fmadd_ps(z, _mm512_set1_ps(0.327_591_1), _mm512_set1_ps(1.0)),
        );
        let mut poly = _mm512_set1_ps(1.061_405_4);
        for c in [-1.453_152_1, 1.421_413_8, -0.284_496_74, 0.254_829_6] {
            poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(c));
        }
        poly = _mm512_mul_ps(poly, t);
        // erfc(z) for z >= 0.
        let erfc = _mm512_mul_ps(
            poly,
            exp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z))),
        );
        let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
        // 1 + erf(x / sqrt 2): 2 - erfc(z) for x >= 0, erfc(z) for x < 0.
        let one_plus_erf =
            _mm512_mask_blend_ps(negative, _mm512_sub_ps(_mm512_set1_ps(2.0), erfc), erfc);
        _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5)), one_plus_erf)
    }

    /// GELU with tanh (flax's default): x/2 (1 + tanh(y)) with
    /// y = sqrt(2/pi) (x + 0.044715 x^3), computed as x / (1 + e^(-2y)),
    /// which is the same function without the cancellation near y = 0.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn gelu_tanh(x: __m512) -> __m512 {
        let x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        let inner = _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044_715), x);
        let y2 = _mm512_mul_ps(inner, _mm512_set1_ps(-2.0 * 0.797_884_6));
        _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), exp(y2)))
    }

    /// Sum of `n` values from `p`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn sum(p: *const f32, n: usize) -> f32 {
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i < n {
            // SAFETY: lanes past `n` are masked off.
            let v = unsafe { _mm512_maskz_loadu_ps(lanes(n - i), p.add(i)) };
            acc = _mm512_add_ps(acc, v);
            i += 16;
        }
        _mm512_reduce_add_ps(acc)
    }

    /// LayerNorm of rows of `d` values (see `layer_norm`).
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn layer_norm_rows(
        x: &[f32],
        d: usize,
        g: &[f32],
        b: &[f32],
        eps: f32,
        out: &mut [f32],
    ) {
        for (x, out) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
            // SAFETY: every access is within the row of `d` values (masked).
            unsafe {
                let mean = sum(xp, d) / d as f32;
                let m = _mm512_set1_ps(mean);
                let mut var = _mm512_setzero_ps();
                let mut i = 0;
                while i < d {
                    let c = _mm512_sub_ps(_mm512_maskz_loadu_ps(lanes(d - i), xp.add(i)), m);
                    let c = _mm512_maskz_mov_ps(lanes(d - i), c);
                    var = _mm512_fmadd_ps(c, c, var);
                    i += 16;
                }
                let rstd = 1.0 / (_mm512_reduce_add_ps(var) / d as f32 + eps).sqrt();
                let r = _mm512_set1_ps(rstd);
                let mut i = 0;
                while i < d {
                    let k = lanes(d - i);
                    let c = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, xp.add(i)), m);
                    let y = _mm512_fmadd_ps(
                        _mm512_mul_ps(c, r),
                        _mm512_maskz_loadu_ps(k, g.as_ptr().add(i)),
                        _mm512_maskz_loadu_ps(k, b.as_ptr().add(i)),
                    );
                    _mm512_mask_storeu_ps(op.add(i), k, y);
                    i += 16;
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) mod tests {
    use super::*;
    use std::arch::x86_64::*;

    /// erf in f64 by its Taylor series (exact to ~1e-12 for |x| <= 4),
    /// and 1 beyond: an independent reference.
    pub(crate) fn erf64(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn apply(f: unsafe fn(__m512) -> __m512, xs: &[f32]) -> Vec<f32> {
        xs.chunks(16)
            .flat_map(|c| {
                let mut v = [0f32; 16];
                v[..c.len()].copy_from_slice(c);
                let mut o = [0f32; 16];
                // SAFETY: the tests run only where AVX-512F is present.
                unsafe { _mm512_storeu_ps(o.as_mut_ptr(), f(_mm512_loadu_ps(v.as_ptr()))) };
                o[..c.len()].to_vec()
            })
            .collect()
    }

    fn grid() -> Vec<f32> {
        (-4000..=4000).map(|i| i as f32 * 0.002).collect()
    }

    #[test]
    fn exp_is_within_two_ulp() {
        if !crate::available() {
            return;
        }
        let xs: Vec<f32> = (-8700..=8800).map(|i| i as f32 * 0.01 + 0.003).collect();
        for (x, y) in xs.iter().zip(apply(exp, &xs)) {
            let want = (*x as f64).exp();
            assert!(
                ((y as f64 - want) / want).abs() < 2.5e-7,
                "exp({x}) = {y}, want {want}"
            );
        }
        assert!(apply(exp, &[-1000.0])[0] < 1e-38);
    }

    #[test]
    fn gelus_match_their_definitions() {
        if !crate::available() {
            return;
        }
        let xs = grid();
        for (x, y) in xs.iter().zip(apply(gelu_erf, &xs)) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + erf64(x / 2f64.sqrt()));
            assert!(
                (y as f64 - want).abs() < 2e-7 * (1.0 + x.abs()),
                "gelu({x}) = {y}, want {want}"
            );
        }
        for (x, y) in xs.iter().zip(apply(gelu_tanh, &xs)) {
            let x = *x as f64;
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            let want = 0.5 * x * (1.0 + inner.tanh());
            assert!(
                (y as f64 - want).abs() < 2e-7 * (1.0 + x.abs()),
                "gelu_tanh({x}) = {y}, want {want}"
            );
        }
    }

    #[test]
    fn layer_norm_matches_the_two_pass_formula() {
        if !crate::available() {
            return;
        }
        for d in [1, 7, 16, 33, 768] {
            let rows = 70;
            let x: Vec<f32> = (0..rows * d)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.13 + 3.0)
                .collect();
            let g: Vec<f32> = (0..d).map(|j| 0.5 + j as f32 * 0.01).collect();
            let b: Vec<f32> = (0..d).map(|j| j as f32 * -0.02).collect();
            let mut out = vec![0.0; rows * d];
            layer_norm(&x, d, &g, &b, 1e-6, &mut out);
            for r in 0..rows {
                let row: Vec<f64> = x[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
                let mean = row.iter().sum::<f64>() / d as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                for j in 0..d {
                    let want = (row[j] - mean) / (var + 1e-6).sqrt() * g[j] as f64 + b[j] as f64;
                    let got = out[r * d + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                        "d {d} row {r} col {j}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
