//! The AVX2 kernel, for x86 CPUs without AVX-512 VNNI (AVX2-only Intel and AMD parts, and
//! AVX-512 parts before Cascade Lake).
//!
//! AVX2's byte multiply (`vpmaddubsw`) adds pairs of products into saturating 16-bit lanes,
//! which these ranges overflow (255 x 127 x 2), and the sign trick that avoids it costs a
//! third instruction per product pair. So both sides are widened to 16 bits instead, and
//! `vpmaddwd` adds each pair of 16-bit products exactly into a 32-bit lane: 16 products per
//! instruction, half VNNI's 32 (per 256 bits) but twice an f32 multiply-add's 8.
//!
//! Like the VNNI kernel it reads the weights interleaved (see [`super::interleave`]): 16 bytes
//! hold two consecutive columns of eight rows, widened (`vpmovzxbw`, still biased by 128) to
//! one register, which one token's two activations, widened once per matmul and broadcast to
//! every lane, multiply; lane `r` sums row `r`. Two row blocks x five tokens are ten
//! accumulators, which with the two widened weight vectors, the broadcast and a product fill
//! fourteen of AVX2's sixteen registers.
use std::arch::x86_64::*;
use std::ops::Range;

use super::{block_pairs, BlockPair, Int8Matrix, Out, Tokens};

/// Rows per block (see [`super::Interleaving`]): a 256-bit register holds two columns of each.
pub(super) const BLOCK_ROWS: usize = 8;
/// Tokens per pass over a pair of row blocks.
const TOKENS: usize = 5;

/// Whether this CPU runs this kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Run the kernel; panics where the CPU lacks it (callers choose it by [`available`]).
pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    assert!(available(), "the AVX2 kernel needs AVX2");
    assert!(!w.interleaved.is_empty(), "a matrix built for the AVX2 kernel");
    #[allow(unsafe_code)]
    // SAFETY: `matmul_blocks` only requires the CPU feature it enables, asserted just above.
    unsafe {
        matmul_blocks(w, rows, kb, tokens, y)
    }
}

#[target_feature(enable = "avx2")]
fn matmul_blocks(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    let n_tokens = tokens.steps.len();
    // The activations as little-endian 16-bit values, `[token][k]`.
    let mut wide = vec![0u8; n_tokens * tokens.k * 2];
    for (t, out) in wide.chunks_exact_mut(tokens.k * 2).enumerate() {
        for (d, &q) in out.chunks_exact_mut(2).zip(tokens.token(t)) {
            d.copy_from_slice(&i16::from(q).to_le_bytes());
        }
    }
    let mut out = Out { y, rows: rows.clone() };
    for pair in block_pairs::<BLOCK_ROWS>(w, &rows, &kb) {
        for t0 in (0..n_tokens).step_by(TOKENS) {
            // One instance per tile width, so a short last tile costs its own tokens only.
            match n_tokens - t0 {
                1 => tile::<1>(&pair, &wide, tokens, t0, &mut out),
                2 => tile::<2>(&pair, &wide, tokens, t0, &mut out),
                3 => tile::<3>(&pair, &wide, tokens, t0, &mut out),
                4 => tile::<4>(&pair, &wide, tokens, t0, &mut out),
                _ => tile::<TOKENS>(&pair, &wide, tokens, t0, &mut out),
            }
        }
    }
}

/// Tokens `t0..t0 + T` against a pair of row blocks: the biased sums, then each result as the
/// scalar kernel computes it, `(sum - offset) as f32 * w_step * x_step` (the same operations
/// in the same order, lane by lane, so the same bits).
#[target_feature(enable = "avx2")]
fn tile<const T: usize>(pair: &BlockPair<BLOCK_ROWS>, wide: &[u8], tokens: &Tokens, t0: usize, out: &mut Out) {
    let k2 = tokens.k * 2;
    let xs: [&[u8]; T] = std::array::from_fn(|t| &wide[(t0 + t) * k2..(t0 + t + 1) * k2]);
    let mut acc = [[_mm256_setzero_si256(); T]; 2];
    for (g, (w0, w1)) in pair.bytes[0].chunks_exact(16).zip(pair.bytes[1].chunks_exact(16)).enumerate() {
        let (w0, w1) = (widened(w0), widened(w1));
        for t in 0..T {
            let two: [u8; 4] = xs[t][g * 4..g * 4 + 4].try_into().expect("4 bytes");
            let x = _mm256_set1_epi32(i32::from_le_bytes(two));
            acc[0][t] = _mm256_add_epi32(acc[0][t], _mm256_madd_epi16(w0, x));
            acc[1][t] = _mm256_add_epi32(acc[1][t], _mm256_madd_epi16(w1, x));
        }
    }
    finish(&acc, pair, tokens, t0, out);
}

/// Store the biased sums of tokens `t0..t0 + T` against a pair of eight-row blocks, each as
/// `(sum - offset) as f32 * w_step * x_step` lane by lane (the scalar kernel's operations in
/// its order, so its bits); shared with the AVX-VNNI kernel. Inlined: called out of line, its
/// reference to `acc` kept the AVX-VNNI kernel's accumulators in memory (28 % slower).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn finish<const T: usize>(
    acc: &[[__m256i; T]; 2],
    pair: &BlockPair<BLOCK_ROWS>,
    tokens: &Tokens,
    t0: usize,
    out: &mut Out,
) {
    for (i, (acc, s)) in acc.iter().zip(&pair.scales).enumerate() {
        let w_steps = _mm256_setr_ps(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        for (t, sum) in acc.iter().enumerate() {
            let unbiased = _mm256_sub_epi32(*sum, _mm256_set1_epi32(tokens.offsets[t0 + t]));
            let v = _mm256_mul_ps(_mm256_cvtepi32_ps(unbiased), w_steps);
            let v = floats(_mm256_mul_ps(v, _mm256_set1_ps(tokens.steps[t0 + t])));
            out.store(t0 + t, pair.row0 + i * BLOCK_ROWS, &v);
        }
    }
}

/// 16 biased weight bytes (two columns of eight rows) as 16-bit values, zero-extended: kept
/// biased, like VNNI's bytes, so that the sums are the scalar kernel's.
#[target_feature(enable = "avx2")]
fn widened(bytes: &[u8]) -> __m256i {
    let b: &[u8; 16] = bytes.try_into().expect("16 bytes");
    let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    _mm256_cvtepu8_epi16(_mm_set_epi64x(lane(1), lane(0)))
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
