//! 4-bit weights against 8-bit activations ([`Arithmetic::Q4x8`](super::Arithmetic::Q4x8)),
//! for x86 CPUs with AVX2 but no VNNI.
//!
//! The int8 arithmetic re-quantises the weights to a signed byte per weight, and AVX2's byte
//! multiply (`vpmaddubsw`, unsigned × signed bytes, pairs added into saturating 16-bit lanes)
//! overflows on those ranges, so its AVX2 kernel widens both sides to 16 bits. Here the
//! weights stay the file's Q4_0 values: a nibble `n` in `0..=15` per weight and one scale `d`
//! per row and 32-column block, `w = (n − 8) · d`. Nibble × activation pairs stay far inside
//! 16 bits (2 × 15 × 127 = 3,810), even summed over a whole block (8 × 3,810 = 30,480), so a
//! block costs one `vpmaddubsw` and one 16-bit add per 32 products, and one widening, one
//! conversion and one scaled add per block. The block sum is
//! `sum(n · x) − 8 · sum(x)`; the second term is the token's, computed once per block.
//!
//! The result therefore differs from the int8 arithmetic's (the weights are not re-quantised:
//! it is closer to f32) and carries its own vectors tag. A scalar kernel computes the same
//! integer sums and the same float operations in the same order, so the two agree bit for bit.
//!
//! Layout: the nibbles are interleaved `[block of 8 rows][group of 4 columns][row][4 values]`
//! (see [`super::interleave`]), and two consecutive groups share 32 bytes, the even group in
//! the low nibbles: one load and two masks give two registers of four columns of eight rows
//! each, one token's four activation bytes broadcast to every lane multiply them, and lane
//! pair `2r, 2r + 1` sums row `r`. Packed, the weights are half the bytes a pass streams from
//! memory (10.6 MB for the twelve layers; stored a byte per value they were 21 MB, and the
//! kernel waited on them).
use std::ops::Range;

use super::activations::OUTLIERS;
use super::{interleave, Interleaving, Tokens};
use crate::format::QK;
use crate::kernels::QMatrix;

/// Rows per interleaved block: a 256-bit register holds four columns of each.
const BLOCK_ROWS: usize = 8;
/// Columns per interleaved group.
const GROUP: usize = 4;
/// Packed bytes per row block and 32-column block: eight groups, two per 32 bytes.
const PACKED_BLOCK: usize = QK * BLOCK_ROWS / 2;

/// A `rows x cols` Q4_0 matrix as the Q4x8 kernels read it.
#[derive(Debug, Clone)]
pub(crate) struct Q4x8Matrix {
    pub cols: usize,
    rows: usize,
    /// The nibbles, interleaved and packed two groups per 32 bytes (see the module
    /// comment); rows padded with nibble 8 (weight 0) to a whole block.
    packed: Vec<u8>,
    /// `[block of 8 rows][column block][row]`: eight rows' scales for one column block, which
    /// the kernel loads as one register (0 for padding rows).
    scales: Vec<f32>,
    /// For the activations' outliers: the weights `n − 8` column by column (`[col][row]`)
    /// and the scales `[column block][row]`.
    by_column: Option<(Vec<i8>, Vec<f32>)>,
    simd: bool,
}

impl Q4x8Matrix {
    /// The matrix of `m`, for the AVX2 kernel where this CPU has AVX2 and `simd` is asked,
    /// else for the scalar one. With `keep_outliers`, a column-major copy is kept for the
    /// activations' outliers (see `Tokens::quantise`).
    pub fn from_q4(m: &QMatrix, keep_outliers: bool, simd: bool) -> Self {
        let (rows, cols, nb) = (m.rows, m.cols, m.cols / QK);
        let mut row_nibbles = vec![0u8; rows * cols];
        let mut row_scales = vec![0f32; rows * nb];
        for r in 0..rows {
            m.nibble_row(r, &mut row_nibbles[r * cols..(r + 1) * cols], &mut row_scales[r * nb..(r + 1) * nb]);
        }
        let by_column = keep_outliers.then(|| {
            let mut weights = vec![0i8; rows * cols];
            let mut col_scales = vec![0f32; nb * rows];
            for r in 0..rows {
                for c in 0..cols {
                    weights[c * rows + r] = row_nibbles[r * cols + c] as i8 - 8;
                }
                for b in 0..nb {
                    col_scales[b * rows + r] = row_scales[r * nb + b];
                }
            }
            (weights, col_scales)
        });
        let blocks = rows.div_ceil(BLOCK_ROWS);
        let mut padded = row_nibbles;
        padded.resize(blocks * BLOCK_ROWS * cols, 8);
        let shape = Interleaving { rows: BLOCK_ROWS, cols: GROUP };
        let mut nibbles = interleave(&padded, blocks * BLOCK_ROWS, cols, shape);
        nibbles.truncate(blocks * BLOCK_ROWS * cols);
        let pair = 2 * BLOCK_ROWS * GROUP;
        let mut packed = vec![0u8; nibbles.len() / 2];
        for (out, two) in packed.chunks_exact_mut(pair / 2).zip(nibbles.chunks_exact(pair)) {
            let (even, odd) = two.split_at(pair / 2);
            for ((o, e), d) in out.iter_mut().zip(even).zip(odd) {
                *o = e | (d << 4);
            }
        }
        let mut scales = vec![0f32; blocks * nb * BLOCK_ROWS];
        for r in 0..rows {
            for b in 0..nb {
                scales[((r / BLOCK_ROWS) * nb + b) * BLOCK_ROWS + r % BLOCK_ROWS] = row_scales[r * nb + b];
            }
        }
        let simd = simd && avx2::available();
        Q4x8Matrix { cols, rows, packed, scales, by_column, simd }
    }

    /// Whether activations keep their outliers apart for this matrix.
    pub fn keeps_outliers(&self) -> bool {
        self.by_column.is_some()
    }

    /// `n_tokens` rows of width `k` of `x` quantised for this matrix.
    pub fn quantise_input(&self, x: &[f32], k: usize, n_tokens: usize) -> Tokens {
        Tokens::quantise(x, k, n_tokens, self.keeps_outliers(), 1)
    }

    /// Resident bytes of the weights.
    pub fn heap_bytes(&self) -> usize {
        self.packed.len() + self.scales.len() * 4 + self.by_column.as_ref().map_or(0, |(w, s)| w.len() + s.len() * 4)
    }

    /// Row block `rb`'s packed nibbles over the column blocks `kb`.
    fn block_packed(&self, rb: usize, kb: &Range<usize>) -> &[u8] {
        let (base, per_block) = (rb * BLOCK_ROWS * self.cols / 2, PACKED_BLOCK);
        &self.packed[base + kb.start * per_block..base + kb.end * per_block]
    }

    /// Row block `rb`'s scales over the column blocks `kb`, eight per column block.
    fn block_scales(&self, rb: usize, kb: &Range<usize>) -> &[f32] {
        let base = rb * (self.cols / QK) * BLOCK_ROWS;
        &self.scales[base + kb.start * BLOCK_ROWS..base + kb.end * BLOCK_ROWS]
    }
}

/// Each token's byte sums per 32-column block, times 8 (the nibbles' bias): `[token][block]`.
fn block_offsets(tokens: &Tokens) -> Vec<i32> {
    let n_tokens = tokens.steps.len();
    let mut out = Vec::with_capacity(n_tokens * tokens.k / QK);
    for t in 0..n_tokens {
        out.extend(tokens.token(t).chunks_exact(QK).map(|b| 8 * b.iter().map(|&q| i32::from(q)).sum::<i32>()));
    }
    out
}

/// `Y[t, j] = sum over the columns of blocks kb of X[t, k] * W[rows.start + j, k]`, where `x` is
/// `[token][kb.len() * 32]`: [`matmul_tokens`] after quantising `x` (as `int8::matmul_part`).
pub(crate) fn matmul_part(
    w: &Q4x8Matrix,
    rows: Range<usize>,
    kb: Range<usize>,
    x: &[f32],
    n_tokens: usize,
) -> Vec<f32> {
    if rows.is_empty() || kb.is_empty() || n_tokens == 0 {
        return vec![0f32; n_tokens * rows.len()];
    }
    let tokens = w.quantise_input(x, kb.len() * QK, n_tokens);
    matmul_tokens(w, rows, kb, &tokens)
}

/// `Y[t, j] = sum over the columns of blocks kb of X[t, k] * W[rows.start + j, k]` over
/// activations quantised by [`Q4x8Matrix::quantise_input`] for those columns; returns the
/// `n_tokens x rows.len()` block, row-major, without bias.
pub(crate) fn matmul_tokens(w: &Q4x8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens) -> Vec<f32> {
    let n_tokens = tokens.steps.len();
    let mut y = vec![0f32; n_tokens * rows.len()];
    if rows.is_empty() || kb.is_empty() || n_tokens == 0 {
        return y;
    }
    assert_eq!(tokens.k, kb.len() * QK, "tokens quantised for another reduction range");
    assert!(rows.end <= w.rows, "rows {rows:?} of a {}-row matrix", w.rows);
    let offsets = block_offsets(tokens);
    let mut out = super::Out { y: &mut y, rows: rows.clone() };
    let ids = rows.start / BLOCK_ROWS..rows.end.div_ceil(BLOCK_ROWS);
    let blocks: Vec<Block> = ids
        .clone()
        .map(|rb| Block {
            row0: rb * BLOCK_ROWS,
            packed: w.block_packed(rb, &kb),
            next: if rb + 2 < ids.end { w.block_packed(rb + 2, &kb) } else { &[] },
            scales: w.block_scales(rb, &kb),
        })
        .collect();
    for two in blocks.chunks(2) {
        if w.simd {
            #[cfg(target_arch = "x86_64")]
            avx2::blocks(two, tokens, &offsets, &mut out);
        } else {
            for block in two {
                scalar_block(block, tokens, &offsets, &mut out);
            }
        }
    }
    if let (Some(outliers), Some((weights, col_scales))) = (&tokens.outliers, &w.by_column) {
        add_outliers(weights, col_scales, w.rows, rows, kb.start * QK, outliers, &mut y);
    }
    y
}

/// One block of eight rows over a reduction range.
struct Block<'w> {
    row0: usize,
    packed: &'w [u8],
    /// The packed nibbles of the block two on (the next pair's; empty past the last), which
    /// the first token tile prefetches: the weights stream from memory once per pass, and the
    /// kernel otherwise waits on each block's first load.
    next: &'w [u8],
    scales: &'w [f32],
}

/// The reference kernel: for each row and token, per column block the exact integer sum,
/// converted and scaled, summed in block order, times the token's step.
fn scalar_block(block: &Block, tokens: &Tokens, offsets: &[i32], out: &mut super::Out) {
    let nb = tokens.k / QK;
    for t in 0..tokens.steps.len() {
        let x = tokens.token(t);
        let mut acc = [0f32; BLOCK_ROWS];
        for b in 0..nb {
            let mut sums = [0i32; BLOCK_ROWS];
            for g in 0..QK / GROUP {
                let at = b * PACKED_BLOCK + (g / 2) * BLOCK_ROWS * GROUP;
                for (lane, sum) in sums.iter_mut().enumerate() {
                    for i in 0..GROUP {
                        let byte = block.packed[at + lane * GROUP + i];
                        let n = if g % 2 == 0 { byte & 0x0f } else { byte >> 4 };
                        *sum += i32::from(n) * i32::from(x[b * QK + g * GROUP + i]);
                    }
                }
            }
            for (lane, a) in acc.iter_mut().enumerate() {
                *a += (sums[lane] - offsets[t * nb + b]) as f32 * block.scales[b * BLOCK_ROWS + lane];
            }
        }
        out.store(t, block.row0, &acc.map(|a| a * tokens.steps[t]));
    }
}

/// `y[t, j] += sum over t's outliers of value * W[r, column]` for `r = rows.start + j`, the
/// weight dequantised as `(n − 8) * d` in f32, the same on both paths.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn add_outliers(
    weights: &[i8],
    col_scales: &[f32],
    n_rows: usize,
    rows: Range<usize>,
    col0: usize,
    outliers: &[super::activations::Outliers],
    y: &mut [f32],
) {
    let width = rows.len();
    for (top, yt) in outliers.iter().zip(y.chunks_exact_mut(width)) {
        let cols: [(&[i8], &[f32], f32); OUTLIERS] = std::array::from_fn(|o| {
            let c = col0 + top[o].0 as usize;
            let b = c / QK;
            (
                &weights[c * n_rows + rows.start..c * n_rows + rows.end],
                &col_scales[b * n_rows + rows.start..b * n_rows + rows.end],
                top[o].1,
            )
        });
        for (j, out) in yt.iter_mut().enumerate() {
            let mut sum = 0f32;
            for (w, d, value) in &cols {
                sum += value * (f32::from(w[j]) * d[j]);
            }
            *out += sum;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Block, Tokens, BLOCK_ROWS, GROUP, PACKED_BLOCK};
    use crate::format::QK;
    use crate::int8::Out;

    /// Tokens per pass over two blocks: eight 16-bit accumulators, the two blocks' weights,
    /// the broadcast token and the mask fill most of the sixteen registers; the float sums,
    /// touched once per column block, may live in memory. Two blocks per broadcast measured
    /// 7-10 % faster than one block of six tokens (products per cycle, docs/encoder.md).
    const TOKENS: usize = 4;

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// One or two blocks of rows against every token.
    pub(super) fn blocks(blocks: &[Block], tokens: &Tokens, offsets: &[i32], out: &mut Out) {
        assert!(available(), "the Q4x8 AVX2 kernel needs AVX2");
        #[allow(unsafe_code)]
        // SAFETY: `tiles` only requires the CPU feature it enables, asserted just above.
        unsafe {
            match blocks {
                [one] => tiles::<1>([one], tokens, offsets, out),
                [a, b] => tiles::<2>([a, b], tokens, offsets, out),
                _ => unreachable!("one or two blocks"),
            }
        }
    }

    #[target_feature(enable = "avx2")]
    fn tiles<const R: usize>(blocks: [&Block; R], tokens: &Tokens, offsets: &[i32], out: &mut Out) {
        let n_tokens = tokens.steps.len();
        for t0 in (0..n_tokens).step_by(TOKENS) {
            // One instance per tile width, so a short last tile costs its own tokens only.
            match n_tokens - t0 {
                1 => tile::<R, 1>(blocks, tokens, offsets, t0, out),
                2 => tile::<R, 2>(blocks, tokens, offsets, t0, out),
                3 => tile::<R, 3>(blocks, tokens, offsets, t0, out),
                _ => tile::<R, TOKENS>(blocks, tokens, offsets, t0, out),
            }
        }
    }

    /// Tokens `t0..t0 + T` against `R` blocks of eight rows: per column block the 16-bit
    /// sums of eight groups, widened and unbiased, converted, times the rows' scales, added
    /// in block order; then times the token's step. The scalar kernel's operations in its
    /// order, lane by lane, so its bits. Each token's broadcast serves the `R` blocks.
    #[target_feature(enable = "avx2")]
    fn tile<const R: usize, const T: usize>(
        blocks: [&Block; R],
        tokens: &Tokens,
        offsets: &[i32],
        t0: usize,
        out: &mut Out,
    ) {
        let nb = tokens.k / QK;
        let xs: [&[i8]; T] = std::array::from_fn(|t| tokens.token(t0 + t));
        let ones = _mm256_set1_epi16(1);
        let low = _mm256_set1_epi8(0x0f);
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        for b in 0..nb {
            if t0 == 0 {
                for block in blocks {
                    prefetch(block.next, b * PACKED_BLOCK);
                }
            }
            // Fixed-size views, so that the unrolled loop below indexes without bounds checks
            // (they were a third of its instructions).
            let packed: [&[u8; PACKED_BLOCK]; R] = blocks.map(|block| {
                block.packed[b * PACKED_BLOCK..(b + 1) * PACKED_BLOCK].try_into().expect("a packed block")
            });
            let xb: [&[i8; QK]; T] = std::array::from_fn(|t| xs[t][b * QK..(b + 1) * QK].try_into().expect("32 bytes"));
            let mut sums = [[_mm256_setzero_si256(); T]; R];
            for p in 0..PACKED_BLOCK / 32 {
                let v = packed.map(|packed| load32(&packed[p * 32..p * 32 + 32]));
                let groups =
                    [v.map(|v| _mm256_and_si256(v, low)), v.map(|v| _mm256_and_si256(_mm256_srli_epi16::<4>(v), low))];
                for (h, w) in groups.into_iter().enumerate() {
                    let at = (2 * p + h) * GROUP;
                    for t in 0..T {
                        let four = [xb[t][at], xb[t][at + 1], xb[t][at + 2], xb[t][at + 3]];
                        let x = _mm256_set1_epi32(i32::from_le_bytes(four.map(|v| v as u8)));
                        for r in 0..R {
                            sums[r][t] = _mm256_add_epi16(sums[r][t], _mm256_maddubs_epi16(w[r], x));
                        }
                    }
                }
            }
            for r in 0..R {
                let s = &blocks[r].scales[b * BLOCK_ROWS..(b + 1) * BLOCK_ROWS];
                let d = _mm256_setr_ps(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
                for t in 0..T {
                    let wide = _mm256_madd_epi16(sums[r][t], ones);
                    let unbiased = _mm256_sub_epi32(wide, _mm256_set1_epi32(offsets[(t0 + t) * nb + b]));
                    acc[r][t] = _mm256_add_ps(acc[r][t], _mm256_mul_ps(_mm256_cvtepi32_ps(unbiased), d));
                }
            }
        }
        for (block, acc) in blocks.iter().zip(&acc) {
            for (t, a) in acc.iter().enumerate() {
                let v = floats(_mm256_mul_ps(*a, _mm256_set1_ps(tokens.steps[t0 + t])));
                out.store(t0 + t, block.row0, &v);
            }
        }
    }

    /// Ask for the two cache lines of `bytes` from `at` (a packed column block), if any.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn prefetch(bytes: &[u8], at: usize) {
        for line in [at, at + 64] {
            if let Some(b) = bytes.get(line) {
                _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(b).cast());
            }
        }
    }

    /// 32 bytes as a register.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load32(bytes: &[u8]) -> __m256i {
        let b: &[u8; 32] = bytes.try_into().expect("32 bytes");
        let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3))
    }

    /// A register's eight floats.
    #[inline(always)]
    fn floats(v: __m256) -> [f32; 8] {
        #[allow(unsafe_code)]
        // SAFETY: both types are 32 bytes of plain data, and every bit pattern is a valid f32.
        unsafe {
            std::mem::transmute::<__m256, [f32; 8]>(v)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    pub(super) fn available() -> bool {
        false
    }
}
