//! The AVX-512 VNNI kernel: `vpdpbusd` multiplies unsigned by signed bytes and adds groups of
//! four into 32-bit lanes, 64 products per 512-bit instruction.
//!
//! It reads the weights interleaved (see [`super::interleave`]): one 64-byte load holds four
//! consecutive columns of sixteen rows, and one token's four activations broadcast to every
//! lane multiply it, so lane `r` sums row `r`'s products and a token's sixteen outputs come out
//! of one register, already in the order `y` stores them; no horizontal sums, no repacking of
//! the activations. Two row blocks x eight tokens are sixteen accumulators of AVX-512's
//! thirty-two registers.
//!
//! Its functions are safe but enable the features, so only the entry point below, after
//! run-time detection, and the read-out of a result register need `unsafe`.
use std::arch::x86_64::*;
use std::ops::Range;

use super::{block_pairs, BlockPair, Int8Matrix, Out, Tokens};

/// Rows per block (see [`super::Interleaving`]): a 512-bit register holds four columns of each.
const BLOCK_ROWS: usize = 16;
/// Tokens per pass over a pair of row blocks.
const TOKENS: usize = 8;

/// 64 bytes as a vector. Written as eight 8-byte lanes because `_mm512_loadu_si512` takes a
/// raw pointer; LLVM turns this into one unaligned load (checked in the disassembly).
macro_rules! load64 {
    ($b:expr) => {{
        let b: &[u8; 64] = $b.try_into().expect("64 bytes");
        let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        _mm512_setr_epi64(lane(0), lane(1), lane(2), lane(3), lane(4), lane(5), lane(6), lane(7))
    }};
}

/// Whether this CPU runs this kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// Run the kernel; panics where the CPU lacks it (callers choose it by [`available`]).
pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    assert!(available(), "the VNNI kernel needs AVX-512 VNNI");
    assert!(!w.interleaved.is_empty(), "a matrix built for the VNNI kernel");
    #[allow(unsafe_code)]
    // SAFETY: `matmul_blocks` only requires the CPU features it enables, asserted just above.
    unsafe {
        matmul_blocks(w, rows, kb, tokens, y)
    }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matmul_blocks(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    let n_tokens = tokens.steps.len();
    let mut out = Out { y, rows: rows.clone() };
    for pair in block_pairs::<BLOCK_ROWS>(w, &rows, &kb) {
        for t0 in (0..n_tokens).step_by(TOKENS) {
            // One instance per tile width, so a short last tile costs its own tokens only.
            match n_tokens - t0 {
                1 => tile::<1>(&pair, tokens, t0, &mut out),
                2 => tile::<2>(&pair, tokens, t0, &mut out),
                3 => tile::<3>(&pair, tokens, t0, &mut out),
                4 => tile::<4>(&pair, tokens, t0, &mut out),
                5 => tile::<5>(&pair, tokens, t0, &mut out),
                6 => tile::<6>(&pair, tokens, t0, &mut out),
                7 => tile::<7>(&pair, tokens, t0, &mut out),
                _ => tile::<TOKENS>(&pair, tokens, t0, &mut out),
            }
        }
    }
}

/// Tokens `t0..t0 + T` against a pair of row blocks: the biased sums, then each result as the
/// scalar kernel computes it, `(sum - offset) as f32 * w_step * x_step` (the same operations
/// in the same order, lane by lane, so the same bits).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile<const T: usize>(pair: &BlockPair<BLOCK_ROWS>, tokens: &Tokens, t0: usize, out: &mut Out) {
    let xs: [&[i8]; T] = std::array::from_fn(|t| tokens.token(t0 + t));
    let mut acc = [[_mm512_setzero_si512(); T]; 2];
    for (g, (w0, w1)) in pair.bytes[0].chunks_exact(64).zip(pair.bytes[1].chunks_exact(64)).enumerate() {
        let (w0, w1) = (load64!(w0), load64!(w1));
        for t in 0..T {
            let four: [i8; 4] = xs[t][g * 4..g * 4 + 4].try_into().expect("4 bytes");
            let x = _mm512_set1_epi32(i32::from_le_bytes(four.map(|b| b as u8)));
            acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], w0, x);
            acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], w1, x);
        }
    }
    for (i, (acc, s)) in acc.iter().zip(&pair.scales).enumerate() {
        let w_steps = _mm512_setr_ps(
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15],
        );
        for (t, sum) in acc.iter().enumerate() {
            let unbiased = _mm512_sub_epi32(*sum, _mm512_set1_epi32(tokens.offsets[t0 + t]));
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(unbiased), w_steps);
            let v = floats(_mm512_mul_ps(v, _mm512_set1_ps(tokens.steps[t0 + t])));
            out.store(t0 + t, pair.row0 + i * BLOCK_ROWS, &v);
        }
    }
}

/// A register's sixteen floats.
#[inline(always)]
fn floats(v: __m512) -> [f32; 16] {
    #[allow(unsafe_code)]
    // SAFETY: both types are 64 bytes of plain data, and every bit pattern is a valid f32.
    unsafe {
        std::mem::transmute::<__m512, [f32; 16]>(v)
    }
}
