//! `C = A B` for a row-major A [m, k] against B packed once ([`PackedB`]),
//! the bias, activation, column scale and residual add applied as each
//! tile is stored ([`Epilogue`]).
//!
//! The micro-kernel keeps a 14 x 32 tile of C in 28 of the 32 vector
//! registers and runs the whole depth k before storing it: each step
//! broadcasts 14 values of A against two vectors of B. Rows are split
//! across rayon's threads in blocks small enough that their part of A stays
//! in L2 while every column panel of B streams past it, handed out large
//! first and small last so that the threads finish together.

use rayon::prelude::*;

/// Rows of C per micro-kernel call.
pub(crate) const MR: usize = 14;
/// Columns of C per micro-kernel call (two vectors of 16).
pub(crate) const NR: usize = 32;

// A tile's rows are packed with 16-lane transposes.
const _: () = assert!(MR <= 16);

/// B [k, n] stored as panels of [`NR`] columns, each panel k-major (the 32
/// values a micro-kernel step needs are contiguous), the last panel padded
/// with zeros.
#[derive(Debug, Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// From a weight stored [n, k] (PyTorch's Linear, [out, in]): `y = x W^T`.
    pub fn from_out_in(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "a [{n}, {k}] weight");
        Self::from_columns(w, k, n, k)
    }

    /// From B stored row-major [k, n].
    pub fn from_k_by_n(b: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(b.len(), k * n, "a [{k}, {n}] matrix");
        Self::from_rows(b, k, n, n)
    }

    /// B [k, n] whose row `kk` is `b[kk * ld ..][..n]`.
    pub(crate) fn from_rows(b: &[f32], k: usize, n: usize, ld: usize) -> Self {
        let mut packed = Self::zeros(0, 0);
        packed.pack_rows(b, k, n, ld);
        packed
    }

    /// B [k, n] whose column `j` is `b[j * ld ..][..k]` (B transposed).
    pub(crate) fn from_columns(b: &[f32], k: usize, n: usize, ld: usize) -> Self {
        let mut packed = Self::zeros(0, 0);
        packed.pack_columns(b, k, n, ld);
        packed
    }

    /// Refill with B [k, n] given by rows (as [`PackedB::from_rows`]),
    /// reusing the allocation: attention repacks its keys and values on
    /// every call.
    pub(crate) fn pack_rows(&mut self, b: &[f32], k: usize, n: usize, ld: usize) {
        self.reshape(k, n);
        for (p, panel) in self.data.chunks_exact_mut(k * NR).enumerate() {
            let width = NR.min(n - p * NR);
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                dst[..width].copy_from_slice(&b[kk * ld + p * NR..][..width]);
            }
        }
    }

    /// Refill with B [k, n] given by columns (as [`PackedB::from_columns`]),
    /// reusing the allocation.
    pub(crate) fn pack_columns(&mut self, b: &[f32], k: usize, n: usize, ld: usize) {
        self.reshape(k, n);
        if n == 0 || k == 0 {
            return;
        }
        assert!(b.len() >= (n - 1) * ld + k, "B's {n} columns of {k}");
        #[cfg(target_arch = "x86_64")]
        if crate::available() {
            // Columns are rows of what is stored: the same transposing
            // pack as A's, 32 rows to a tile (a value at a time, attention's
            // keys took 1% of a forward pass).
            // SAFETY: AVX-512F checked; `b` holds n rows of k at stride ld
            // (asserted), `data` n rounded up to NR rows of k (reshaped).
            unsafe { x86::pack_tiles::<NR>(n, b.as_ptr(), ld, 0, k, &mut self.data) };
            return;
        }
        for (p, panel) in self.data.chunks_exact_mut(k * NR).enumerate() {
            for jj in 0..NR.min(n - p * NR) {
                let column = &b[(p * NR + jj) * ld..][..k];
                for (kk, &v) in column.iter().enumerate() {
                    panel[kk * NR + jj] = v;
                }
            }
        }
    }

    /// Room for [k, n], padding columns zero: kept as they are when the
    /// shape is unchanged (the padding is never written).
    fn reshape(&mut self, k: usize, n: usize) {
        if (self.k, self.n) != (k, n) {
            self.data.clear();
            self.data.resize(n.div_ceil(NR) * k * NR, 0.0);
            (self.k, self.n) = (k, n);
        }
    }

    pub(crate) fn zeros(k: usize, n: usize) -> Self {
        PackedB {
            k,
            n,
            data: vec![0.0; n.div_ceil(NR) * k * NR],
        }
    }

    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }

    pub(crate) fn panel(&self, p: usize) -> *const f32 {
        self.data[p * self.k * NR..].as_ptr()
    }
}

/// The nonlinearity applied after the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    /// x Phi(x) (PyTorch's `nn.GELU()`).
    GeluErf,
    /// The tanh approximation (flax's `nn.gelu`).
    GeluTanh,
}

/// What happens to a value of `A B` on its way to C, in this order:
/// `+ bias[j]`, the activation, `* scale[j]`, then `C += value` if
/// `accumulate` (a residual connection kept in C) else `C = value`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub activation: Activation,
    pub scale: Option<&'a [f32]>,
    pub accumulate: bool,
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Epilogue {
            bias: None,
            activation: Activation::None,
            scale: None,
            accumulate: false,
        }
    }
}

/// C [m, n] (row stride `ldc`) from A [m, k] (row stride `lda`) times `b`.
pub fn gemm(m: usize, a: &[f32], lda: usize, b: &PackedB, c: &mut [f32], ldc: usize, ep: Epilogue) {
    crate::require();
    let (k, n) = (b.k, b.n);
    assert!(
        lda >= k && ldc >= n,
        "row strides {lda}, {ldc} for k {k}, n {n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + k,
        "A holds {} values, not [{m}, {k}]",
        a.len()
    );
    assert!(
        c.len() >= (m - 1) * ldc + n,
        "C holds {} values, not [{m}, {n}]",
        c.len()
    );
    assert!(ep.bias.is_none_or(|v| v.len() == n) && ep.scale.is_none_or(|v| v.len() == n));
    assert!(
        ep.activation == Activation::None || !ep.accumulate || k <= KC,
        "an activation before a residual add needs k <= {KC}"
    );
    // Blocks of whole tiles taken in turn by whichever thread is free,
    // large first and small at the end, so that the threads finish
    // together (with equal blocks, one thread could sit idle for most of a
    // block at the end of every GEMM; on two cores the idle share of a
    // ViT-B forward pass went from 3.7-5.2% to 2.5-2.8%).
    let threads = rayon::current_num_threads().max(1);
    let mut queue = Vec::new();
    let mut rest = &mut c[..(m - 1) * ldc + n];
    for rows in row_blocks(m, threads) {
        let (c, tail) = rest.split_at_mut((rows.len() * ldc).min(rest.len()));
        queue.push((rows, c));
        rest = tail;
    }
    let queue = std::sync::Mutex::new(queue.into_iter());
    let next = || queue.lock().expect("GEMM block queue").next();
    (0..threads).into_par_iter().with_max_len(1).for_each(|_| {
        PACKED_A.with_borrow_mut(|packed_a| {
            // Every value a block reads is packed first.
            if packed_a.len() < BLOCK_TILES * MR * KC {
                packed_a.resize(BLOCK_TILES * MR * KC, 0.0);
            }
            while let Some((rows, c)) = next() {
                let (a, rows) = (&a[rows.start * lda..], rows.len());
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `require` checked AVX-512F; A has `rows` rows of
                // `k` at stride `lda`, C `rows` rows of `n` at stride `ldc`
                // (checked above), `packed_a` room for `rows` rows of KC.
                unsafe {
                    x86::block(rows, a.as_ptr(), lda, b, c.as_mut_ptr(), ldc, &ep, packed_a)
                }
                #[cfg(not(target_arch = "x86_64"))]
                let _ = (rows, a, c, packed_a);
            }
        })
    });
}

/// The most tiles in a block: its packed A (8 x 14 rows of KC, 672 KiB)
/// stays in L2 while every panel of B streams past it.
const BLOCK_TILES: usize = 8;

/// The blocks `m` rows are split into, in order: whole tiles, each block
/// half of a thread's share of what is left (so the last ones are a tile
/// each), at most [`BLOCK_TILES`].
fn row_blocks(m: usize, threads: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut first = 0;
    std::iter::from_fn(move || {
        let left = (m - first).div_ceil(MR);
        let tiles = left.div_ceil(2 * threads).clamp(1, BLOCK_TILES);
        let rows = first..(first + tiles * MR).min(m);
        first = rows.end;
        (!rows.is_empty()).then_some(rows)
    })
}

thread_local! {
    /// A worker's packed rows of A, kept from call to call: a fresh buffer
    /// per block (774 KiB at ViT-B's sizes) cost zeroing and page faults
    /// on every GEMM.
    static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Depth of a pass over A and B. Measured on a Zen 4 (1 MiB L2): 256
/// (a 32 KiB slice of B per panel) ran the ViT-B GEMMs at 150-170 GFLOP/s,
/// 1536 at about 200 (of 226 peak): fewer passes, fewer reloads of C.
const KC: usize = 1536;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{Activation, Epilogue, KC, MR, NR, PackedB};
    use crate::math::{gelu_erf, gelu_tanh, lanes};
    use std::arch::x86_64::*;

    /// All column panels for `rows` rows of A, KC of the depth at a time
    /// (A's rows packed tile by tile for each pass, see [`Tile`]).
    ///
    /// # Safety
    /// AVX-512F; A and C hold `rows` rows at their strides; `packed_a` has
    /// room for `rows` (rounded up to MR) x KC values.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        rows: usize,
        a: *const f32,
        lda: usize,
        b: &PackedB,
        c: *mut f32,
        ldc: usize,
        ep: &Epilogue,
        packed_a: &mut [f32],
    ) {
        let linear = ep.activation == Activation::None;
        let tiles = rows.div_ceil(MR);
        for k0 in (0..b.k).step_by(KC) {
            let kb = KC.min(b.k - k0);
            let (first, last) = (k0 == 0, k0 + kb == b.k);
            unsafe { pack_tiles::<MR>(rows, a, lda, k0, kb, packed_a) };
            for p in 0..b.n.div_ceil(NR) {
                let cols = NR.min(b.n - p * NR);
                let at = |v: &[f32]| unsafe { v.as_ptr().add(p * NR) };
                // Linear: every pass adds its share (the bias once) to C.
                // Otherwise: passes sum into C, the last applies the rest.
                let out = Store {
                    c: unsafe { c.add(p * NR) },
                    ldc,
                    cols,
                    pre_add: !linear && !first,
                    bias: if (linear && first) || (!linear && last) {
                        ep.bias.map(at)
                    } else {
                        None
                    },
                    activation: if last {
                        ep.activation
                    } else {
                        Activation::None
                    },
                    scale: if linear || last {
                        ep.scale.map(at)
                    } else {
                        None
                    },
                    post_add: if linear {
                        ep.accumulate || !first
                    } else {
                        last && ep.accumulate
                    },
                };
                for t in 0..tiles {
                    let tile = Tile {
                        a: packed_a[t * kb * MR..].as_ptr(),
                        lda: MR,
                        b: unsafe { b.panel(p).add(k0 * NR) },
                        ldb: NR,
                        k: kb,
                        load: u32::MAX,
                    };
                    let out = Store {
                        c: unsafe { out.c.add(t * MR * ldc) },
                        ..out
                    };
                    unsafe { tile_rows::<true>(MR.min(rows - t * MR), &tile, &out) };
                }
            }
        }
    }

    /// `rows` rows (stride `lda`), depths `k0 .. k0 + kb`, into tiles of
    /// H rows: value (r, kk) of tile t at `dst[(t kb + kk) H + r]`, rows
    /// past `rows` zero. Sixteen rows by sixteen depths at a time,
    /// transposed in registers, so that every store is contiguous (written
    /// as a plain loop, the compiler scattered each value on its own).
    ///
    /// # Safety
    /// AVX-512F; `a` holds `rows` rows of `k0 + kb` at stride `lda`; `dst`
    /// has room for `rows` (rounded up to H) x `kb` values.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn pack_tiles<const H: usize>(
        rows: usize,
        a: *const f32,
        lda: usize,
        k0: usize,
        kb: usize,
        dst: &mut [f32],
    ) {
        for t in 0..rows.div_ceil(H) {
            let tile = &mut dst[t * kb * H..(t + 1) * kb * H];
            let filled = H.min(rows - t * H);
            for g in (0..H).step_by(16) {
                let (width, loaded) = (16.min(H - g), 16.min(filled.saturating_sub(g)));
                for kk in (0..kb).step_by(16) {
                    let depths = 16.min(kb - kk);
                    let mut v = [_mm512_setzero_ps(); 16];
                    for (r, v) in v.iter_mut().enumerate().take(loaded) {
                        // SAFETY: row t H + g + r < rows, depths within k0 + kb.
                        *v = unsafe {
                            _mm512_maskz_loadu_ps(
                                lanes(depths),
                                a.add((t * H + g + r) * lda + k0 + kk),
                            )
                        };
                    }
                    for (j, v) in transpose(v).iter().enumerate().take(depths) {
                        // SAFETY: `width` values from (kk + j) H + g, within the tile.
                        unsafe {
                            _mm512_mask_storeu_ps(
                                tile.as_mut_ptr().add((kk + j) * H + g),
                                lanes(width),
                                *v,
                            )
                        };
                    }
                }
            }
        }
    }

    /// Rows become columns: pairs of rows interleaved, then pairs of pairs,
    /// then 128-bit lanes gathered twice (64 shuffles for 256 values).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(rows: [__m512; 16]) -> [__m512; 16] {
        let mut pairs = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
            pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
        }
        // quads[4 g + c]: rows 4g .. 4g + 4 of columns c, c + 4, c + 8 and
        // c + 12, one 128-bit lane each.
        let mut quads = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let [lo0, hi0, lo1, hi1] = [0, 1, 2, 3].map(|i| _mm512_castps_pd(pairs[4 * g + i]));
            quads[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
            quads[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
            quads[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
            quads[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
        }
        let mut columns = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            // Lanes 0 and 2 (columns c, c + 8) or 1 and 3 (c + 4, c + 12)
            // of two groups of rows, then of the two halves.
            let (even, odd) = (quads[c], quads[4 + c]);
            let low_even = _mm512_shuffle_f32x4::<0x88>(even, odd);
            let low_odd = _mm512_shuffle_f32x4::<0xDD>(even, odd);
            let (even, odd) = (quads[8 + c], quads[12 + c]);
            let high_even = _mm512_shuffle_f32x4::<0x88>(even, odd);
            let high_odd = _mm512_shuffle_f32x4::<0xDD>(even, odd);
            columns[c] = _mm512_shuffle_f32x4::<0x88>(low_even, high_even);
            columns[c + 8] = _mm512_shuffle_f32x4::<0xDD>(low_even, high_even);
            columns[c + 4] = _mm512_shuffle_f32x4::<0x88>(low_odd, high_odd);
            columns[c + 12] = _mm512_shuffle_f32x4::<0xDD>(low_odd, high_odd);
        }
        columns
    }

    /// One micro-kernel's inputs: `rows` x k of A, k x 32 of B. A is
    /// either packed (value (r, kk) at `a[kk * lda + r]`, lda = MR: one
    /// contiguous stream) or row-major (at `a[r * lda + kk]`).
    pub(crate) struct Tile {
        pub a: *const f32,
        pub lda: usize,
        pub b: *const f32,
        pub ldb: usize,
        pub k: usize,
        /// Which of B's 32 columns to read (the others count as zero).
        pub load: u32,
    }

    /// Where a tile goes and what happens on the way: `v = acc`, `+ C` if
    /// `pre_add`, `+ bias`, the activation, `* scale`, `+ C` if `post_add`.
    #[derive(Clone, Copy)]
    pub(crate) struct Store {
        pub c: *mut f32,
        pub ldc: usize,
        pub cols: usize,
        pub pre_add: bool,
        pub bias: Option<*const f32>,
        pub activation: Activation,
        pub scale: Option<*const f32>,
        pub post_add: bool,
    }

    impl Store {
        /// C = acc.
        pub(crate) fn plain(c: *mut f32, ldc: usize, cols: usize) -> Self {
            Store {
                c,
                ldc,
                cols,
                pre_add: false,
                bias: None,
                activation: Activation::None,
                scale: None,
                post_add: false,
            }
        }
    }

    /// The micro-kernel for `rows` (1 to 14) rows.
    ///
    /// # Safety
    /// AVX-512F; the tile's A, B and C ranges are valid.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn tile_rows<const PACKED: bool>(rows: usize, t: &Tile, s: &Store) {
        unsafe {
            match rows {
                14 => kernel::<14, PACKED>(t, s),
                13 => kernel::<13, PACKED>(t, s),
                12 => kernel::<12, PACKED>(t, s),
                11 => kernel::<11, PACKED>(t, s),
                10 => kernel::<10, PACKED>(t, s),
                9 => kernel::<9, PACKED>(t, s),
                8 => kernel::<8, PACKED>(t, s),
                7 => kernel::<7, PACKED>(t, s),
                6 => kernel::<6, PACKED>(t, s),
                5 => kernel::<5, PACKED>(t, s),
                4 => kernel::<4, PACKED>(t, s),
                3 => kernel::<3, PACKED>(t, s),
                2 => kernel::<2, PACKED>(t, s),
                1 => kernel::<1, PACKED>(t, s),
                _ => unreachable!("{rows} rows in a tile"),
            }
        }
    }

    /// How many depth steps ahead the micro-kernel prefetches B. On an
    /// Intel Xeon (Emerald Rapids) 4, 8, 16, 24 and 32 all ran the ViT-B
    /// GEMMs 13-20% faster than none; 16 (2 KiB ahead) was as good as any.
    const PREFETCH: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const R: usize, const PACKED: bool>(t: &Tile, s: &Store) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let (l0, l1) = (t.load as u16, (t.load >> 16) as u16);
        let (mut a, mut b) = (t.a, t.b);
        for _ in 0..t.k {
            // B's two lines [`PREFETCH`] steps ahead: without it the loads
            // at the top of the loop stalled on L2 (a quarter of the
            // kernel's samples on an Intel Xeon); the hint never faults,
            // so running past B's end is harmless.
            let ahead = b.wrapping_add(PREFETCH * t.ldb);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
            // SAFETY (whole loop): within the tile's A and B (caller).
            let (b0, b1) = unsafe {
                (
                    _mm512_maskz_loadu_ps(l0, b),
                    _mm512_maskz_loadu_ps(l1, b.add(16)),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(unsafe { *a.add(if PACKED { r } else { r * t.lda }) });
                acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
            }
            a = unsafe { a.add(if PACKED { t.lda } else { 1 }) };
            b = unsafe { b.add(t.ldb) };
        }
        for (r, acc) in acc.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                let done = h * 16;
                if done >= s.cols {
                    break;
                }
                let m = lanes(s.cols - done);
                // SAFETY: lanes past the tile's columns are masked off.
                unsafe {
                    let c = s.c.add(r * s.ldc + done);
                    let mut v = v;
                    if s.pre_add {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
                    }
                    if let Some(bias) = s.bias {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias.add(done)));
                    }
                    v = match s.activation {
                        Activation::None => v,
                        Activation::GeluErf => gelu_erf(v),
                        Activation::GeluTanh => gelu_tanh(v),
                    };
                    if let Some(scale) = s.scale {
                        v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, scale.add(done)));
                    }
                    if s.post_add {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
                    }
                    _mm512_mask_storeu_ps(c, m, v);
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::math::tests::erf64;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn gemm_with_every_epilogue_matches_a_plain_loop() {
        if !crate::available() {
            return;
        }
        // Shapes around the tile edges: rows 1..=29, columns 1..=70.
        for &(m, k, n) in &[
            (1, 1, 1),
            (13, 5, 31),
            (14, 64, 32),
            (29, 33, 70),
            (200, 768, 96),
            (15, 17, 33),
        ] {
            let (lda, ldc) = (k + 3, n + 5);
            let a = values(m * lda, 1);
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let scale = values(n, 4);
            let residual = values(m * ldc, 5);
            let packed = PackedB::from_out_in(&w, n, k);
            for (activation, with_bias, with_scale, accumulate) in [
                (Activation::None, false, false, false),
                (Activation::None, true, false, true),
                (Activation::GeluErf, true, false, false),
                (Activation::GeluTanh, true, true, true),
            ] {
                // (An activation before a residual add is for short k only.)
                let accumulate = accumulate && (activation == Activation::None || k <= KC);
                let mut c = residual.clone();
                let ep = Epilogue {
                    bias: with_bias.then_some(&bias[..]),
                    activation,
                    scale: with_scale.then_some(&scale[..]),
                    accumulate,
                };
                gemm(m, &a, lda, &packed, &mut c, ldc, ep);
                for i in 0..m {
                    for j in 0..ldc {
                        let got = c[i * ldc + j] as f64;
                        if j >= n {
                            assert_eq!(
                                got,
                                residual[i * ldc + j] as f64,
                                "padding column {j} touched"
                            );
                            continue;
                        }
                        let mut v: f64 = (0..k)
                            .map(|kk| a[i * lda + kk] as f64 * w[j * k + kk] as f64)
                            .sum();
                        if with_bias {
                            v += bias[j] as f64;
                        }
                        v = match activation {
                            Activation::None => v,
                            Activation::GeluErf => 0.5 * v * (1.0 + erf64(v / 2f64.sqrt())),
                            Activation::GeluTanh => {
                                let y = (2.0 / std::f64::consts::PI).sqrt()
                                    * (v + 0.044715 * v * v * v);
                                0.5 * v * (1.0 + y.tanh())
                            }
                        };
                        if with_scale {
                            v *= scale[j] as f64;
                        }
                        if accumulate {
                            v += residual[i * ldc + j] as f64;
                        }
                        assert!(
                            (got - v).abs() < 1e-5 * (1.0 + (k as f64).sqrt()),
                            "[{m}, {k}, {n}] {activation:?} at ({i}, {j}): {got} vs {v}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn row_blocks_cover_the_rows_in_whole_tiles_largest_first() {
        for threads in [1, 2, 3, 8] {
            for m in [1, 13, 14, 15, 100, 1568, 6272] {
                let ranges: Vec<_> = row_blocks(m, threads).collect();
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start) && ranges[0].start == 0);
                let blocks: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert_eq!(
                    blocks.iter().sum::<usize>(),
                    m,
                    "{m} rows, {threads} threads"
                );
                let (last, whole) = blocks.split_last().unwrap();
                assert!(whole.iter().all(|r| r % MR == 0), "{blocks:?}");
                assert!(blocks.windows(2).all(|w| w[0] >= w[1]), "{blocks:?}");
                assert!(blocks[0] <= MR * BLOCK_TILES && *last <= MR, "{blocks:?}");
            }
        }
    }

    #[test]
    fn packing_from_k_by_n_and_from_out_in_agree() {
        // Depths and columns below, at and past the transposing pack's 16
        // and the panels' 32, partial panels included.
        for (k, n) in [
            (5, 37),
            (1, 1),
            (16, 32),
            (17, 33),
            (64, 70),
            (70, 64),
            (3, 100),
        ] {
            let w = values(n * k, 9);
            let t: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
            assert_eq!(
                PackedB::from_out_in(&w, n, k).data,
                PackedB::from_k_by_n(&t, k, n).data,
                "[{k}, {n}]"
            );
        }
    }
}
