//! Multi-head self-attention, a block of 14 queries at a time.
//!
//! For each head and block the scores against every key (14 x N) are
//! formed in a per-thread scratch row block, soft-maxed exactly (max,
//! exponentials, sum: no online rescaling needed, as the whole row is
//! there) and multiplied into the values, each output row divided by its
//! sum at the end. Keys are packed per head once
//! (transposed into 32-key panels) and so are the values, so both products
//! run on the GEMM micro-kernel.

use crate::gemm::{MR, NR, PackedB};
use rayon::prelude::*;

/// `softmax(q k^T / sqrt(dh)) v` for each of `heads` heads over `tokens`
/// rows of fused projections `qkv` ([tokens, 3 d]: q, then k, then v; head
/// `h` at columns `h dh .. (h + 1) dh` of each), written to `out` [tokens, d].
pub fn attention(qkv: &[f32], tokens: usize, d: usize, heads: usize, out: &mut [f32]) {
    crate::require();
    assert!(
        heads > 0 && d.is_multiple_of(heads),
        "{d} channels in {heads} heads"
    );
    assert_eq!(
        qkv.len(),
        tokens * 3 * d,
        "q/k/v rows [{tokens}, {}]",
        3 * d
    );
    assert_eq!(out.len(), tokens * d, "output rows [{tokens}, {d}]");
    if tokens == 0 {
        return;
    }
    let dh = d / heads;
    // Per head: keys transposed into 32-key panels (for the scores), values
    // into dh-column panels (for the weighted sum), each read contiguously.
    // The buffers are the calling thread's, kept from call to call (fresh
    // ones cost page faults and zeroing: 9 MiB per ViT-B block).
    let mut packed = PACKED.take();
    packed.resize_with(heads, || (PackedB::zeros(0, 0), PackedB::zeros(0, 0)));
    packed
        .par_iter_mut()
        .enumerate()
        .for_each(|(h, (keys, values))| {
            keys.pack_columns(&qkv[d + h * dh..], dh, tokens, 3 * d);
            values.pack_rows(&qkv[2 * d + h * dh..], tokens, dh, 3 * d);
        });
    let padded = tokens.div_ceil(NR) * NR;
    let scale = 1.0 / (dh as f32).sqrt();
    // Head by head, its query blocks spread over the threads: one head's
    // keys and values (800 KiB at 1568 tokens x 64) stay in each core's L2
    // while every block of queries passes. One block per task: by default
    // rayon leaves a quarter of the blocks in one task that the other
    // thread, once done, cannot take a share of.
    for (h, (keys, values)) in packed.iter().enumerate() {
        out.par_chunks_mut(MR * d)
            .enumerate()
            .with_max_len(1)
            .for_each(|(i, out)| {
                SCORES.with_borrow_mut(|scores| {
                    // Only the first `tokens` of each row are read back; the
                    // block's queries, packed, follow the scores.
                    if scores.len() < MR * (padded + dh) {
                        scores.resize(MR * (padded + dh), 0.0);
                    }
                    let block = Block {
                        qkv: qkv.as_ptr(),
                        first: i * MR,
                        rows: out.len() / d,
                        tokens,
                        d,
                        head: h,
                        dh,
                        keys,
                        values,
                        scores: scores.as_mut_ptr(),
                        // SAFETY: within `scores`, resized above.
                        queries: unsafe { scores.as_mut_ptr().add(MR * padded) },
                        padded,
                        scale,
                    };
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `require` checked AVX-512F; `qkv` holds `tokens`
                    // rows of 3 d, `scores` MR rows of `padded` then MR x dh,
                    // `out` this block's rows of `d` (all checked above).
                    unsafe {
                        x86::head(&block, out.as_mut_ptr().add(h * dh))
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    let _ = block;
                })
            });
    }
    PACKED.set(packed);
}

thread_local! {
    /// The calling thread's packed keys and values, one pair per head.
    static PACKED: std::cell::Cell<Vec<(PackedB, PackedB)>> = const { std::cell::Cell::new(Vec::new()) };
    /// A worker's scores for one block of queries (MR rows of the keys).
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One head of one block of query rows, and where its inputs are.
struct Block<'a> {
    qkv: *const f32,
    first: usize,
    rows: usize,
    tokens: usize,
    d: usize,
    head: usize,
    dh: usize,
    keys: &'a PackedB,
    values: &'a PackedB,
    scores: *mut f32,
    /// Room for the block's queries packed as the micro-kernel reads A.
    queries: *mut f32,
    padded: usize,
    scale: f32,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Block, MR, NR};
    use crate::gemm::x86::{Store, Tile, pack_tiles, tile_rows};
    use crate::math::{exp, lanes};
    use std::arch::x86_64::*;

    /// One head for one block of query rows: scores, softmax, values,
    /// written to `out` (the block's first row, at the head's columns).
    ///
    /// # Safety
    /// AVX-512F; the block's pointers are valid for its sizes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn head(b: &Block, out: *mut f32) {
        let stride = 3 * b.d;
        let q = unsafe { b.qkv.add(b.first * stride + b.head * b.dh) };
        // Packed once, the queries serve all N / 32 key panels from one
        // contiguous stream (read in place, each of the 14 rows needed its
        // own address arithmetic: 7-12% slower).
        unsafe {
            let queries = std::slice::from_raw_parts_mut(b.queries, MR * b.dh);
            pack_tiles::<MR>(b.rows, q, stride, 0, b.dh, queries);
        }
        for p in 0..b.padded / NR {
            let tile = Tile {
                a: b.queries,
                lda: MR,
                b: b.keys.panel(p),
                ldb: NR,
                k: b.dh,
                load: u32::MAX,
            };
            unsafe {
                tile_rows::<true>(
                    b.rows,
                    &tile,
                    &Store::plain(b.scores.add(p * NR), b.padded, NR),
                )
            };
        }
        // Each row's exponentials stay unnormalised; the weighted sum's 14 x
        // dh outputs are divided by their row's sum instead (a pass over
        // the 14 x N probabilities saved).
        let mut inverse_sums = [0f32; MR];
        for (r, inverse) in inverse_sums.iter_mut().enumerate().take(b.rows) {
            *inverse = 1.0 / unsafe { exponentials(b.scores.add(r * b.padded), b.tokens, b.scale) };
        }
        for half in 0..b.dh.div_ceil(NR) {
            let cols = NR.min(b.dh - half * NR);
            let tile = Tile {
                a: b.scores,
                lda: b.padded,
                b: b.values.panel(half),
                ldb: NR,
                k: b.tokens,
                load: u32::MAX,
            };
            unsafe {
                tile_rows::<false>(b.rows, &tile, &Store::plain(out.add(half * NR), b.d, cols))
            };
        }
        for (r, &inverse) in inverse_sums.iter().enumerate().take(b.rows) {
            let inverse = _mm512_set1_ps(inverse);
            for c in (0..b.dh).step_by(16) {
                let k = lanes(b.dh - c);
                unsafe {
                    let o = out.add(r * b.d + c);
                    _mm512_mask_storeu_ps(
                        o,
                        k,
                        _mm512_mul_ps(_mm512_maskz_loadu_ps(k, o), inverse),
                    );
                }
            }
        }
    }

    /// In place: `row[j] = e^(scale (row[j] - max))` over `n` values;
    /// returns their sum.
    #[target_feature(enable = "avx512f")]
    unsafe fn exponentials(row: *mut f32, n: usize, scale: f32) -> f32 {
        unsafe {
            let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut i = 0;
            while i < n {
                let k = lanes(n - i);
                max = _mm512_mask_max_ps(max, k, max, _mm512_maskz_loadu_ps(k, row.add(i)));
                i += 16;
            }
            let shift = _mm512_set1_ps(-_mm512_reduce_max_ps(max) * scale);
            let s = _mm512_set1_ps(scale);
            let mut sum = _mm512_setzero_ps();
            let mut i = 0;
            while i < n {
                let k = lanes(n - i);
                let e = exp(_mm512_fmadd_ps(
                    _mm512_maskz_loadu_ps(k, row.add(i)),
                    s,
                    shift,
                ));
                let e = _mm512_maskz_mov_ps(k, e);
                sum = _mm512_add_ps(sum, e);
                _mm512_mask_storeu_ps(row.add(i), k, e);
                i += 16;
            }
            _mm512_reduce_add_ps(sum)
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn attention_matches_softmax_of_scores_in_f64() {
        if !crate::available() {
            return;
        }
        // The last shape twice with other values: the second call reuses
        // the first's packed buffers, and must not see its numbers.
        for (case, &(tokens, d, heads)) in [
            (1, 16, 1),
            (15, 32, 2),
            (70, 48, 3),
            (257, 128, 2),
            (100, 24, 2),
            (100, 24, 2),
        ]
        .iter()
        .enumerate()
        {
            let qkv: Vec<f32> = (0..tokens * 3 * d)
                .map(|i| (((i * 7919 + case * 131) % 1013) as f32 / 1013.0 - 0.5) * 3.0)
                .collect();
            let mut out = vec![f32::NAN; tokens * d];
            attention(&qkv, tokens, d, heads, &mut out);
            let dh = d / heads;
            let at = |t: usize, part: usize, h: usize, c: usize| {
                qkv[t * 3 * d + part * d + h * dh + c] as f64
            };
            for h in 0..heads {
                for i in 0..tokens {
                    let s: Vec<f64> = (0..tokens)
                        .map(|j| {
                            (0..dh)
                                .map(|c| at(i, 0, h, c) * at(j, 1, h, c))
                                .sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for c in 0..dh {
                        let want = (0..tokens).map(|j| e[j] * at(j, 2, h, c)).sum::<f64>() / total;
                        let got = out[i * d + h * dh + c] as f64;
                        assert!(
                            (got - want).abs() < 2e-5,
                            "{tokens} tokens, {heads} x {dh}: head {h} row {i} col {c}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
