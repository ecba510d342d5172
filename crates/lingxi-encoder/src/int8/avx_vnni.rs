//! The AVX-VNNI kernel, for x86 CPUs with the VEX-encoded `vpdpbusd` but no AVX-512: Intel's
//! client cores since Alder Lake and its E-core servers (Sierra Forest). 32 byte products per
//! 256-bit instruction, twice the AVX2 kernel's `vpmaddwd`, with no widening.
//!
//! The VNNI kernel's scheme on 256-bit registers: the weights interleaved by blocks of eight
//! rows and groups of four columns (see [`super::interleave`]), one token's four activations
//! broadcast to every lane, lane `r` summing row `r`. Two row blocks x six tokens are twelve
//! accumulators, which with the two weight vectors and the broadcast fill fifteen of the
//! sixteen registers.
use std::arch::x86_64::*;
use std::ops::Range;

use super::avx2::{finish, BLOCK_ROWS};
use super::{block_pairs, BlockPair, Int8Matrix, Out, Tokens};

// Rows per block (see [`super::Interleaving`]): a 256-bit register holds four columns of each
// of eight rows, the AVX2 kernel's block height, so the two share its `finish`.
/// Tokens per pass over a pair of row blocks.
const TOKENS: usize = 6;

/// Whether this CPU runs this kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("avxvnni")
}

/// Run the kernel; panics where the CPU lacks it (callers choose it by [`available`]).
pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    assert!(available(), "the AVX-VNNI kernel needs AVX-VNNI");
    assert!(!w.interleaved.is_empty(), "a matrix built for the AVX-VNNI kernel");
    #[allow(unsafe_code)]
    // SAFETY: `matmul_blocks` only requires the CPU features it enables, asserted just above.
    unsafe {
        matmul_blocks(w, rows, kb, tokens, y)
    }
}

#[target_feature(enable = "avx2,avxvnni")]
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
                _ => tile::<TOKENS>(&pair, tokens, t0, &mut out),
            }
        }
    }
}

/// Tokens `t0..t0 + T` against a pair of row blocks, finished by the AVX2 kernel's [`finish`]
/// (the same bits as every kernel).
#[target_feature(enable = "avx2,avxvnni")]
fn tile<const T: usize>(pair: &BlockPair<BLOCK_ROWS>, tokens: &Tokens, t0: usize, out: &mut Out) {
    let xs: [&[i8]; T] = std::array::from_fn(|t| tokens.token(t0 + t));
    let mut acc = [[_mm256_setzero_si256(); T]; 2];
    for (g, (w0, w1)) in pair.bytes[0].chunks_exact(32).zip(pair.bytes[1].chunks_exact(32)).enumerate() {
        let (w0, w1) = (load32(w0), load32(w1));
        for t in 0..T {
            let four: [i8; 4] = xs[t][g * 4..g * 4 + 4].try_into().expect("4 bytes");
            let x = _mm256_set1_epi32(i32::from_le_bytes(four.map(|b| b as u8)));
            acc[0][t] = _mm256_dpbusd_avx_epi32(acc[0][t], w0, x);
            acc[1][t] = _mm256_dpbusd_avx_epi32(acc[1][t], w1, x);
        }
    }
    finish(&acc, pair, tokens, t0, out);
}

/// 32 bytes as a vector, written as four 8-byte lanes because `_mm256_loadu_si256` takes a raw
/// pointer (LLVM makes it one unaligned load).
#[target_feature(enable = "avx2")]
fn load32(bytes: &[u8]) -> __m256i {
    let b: &[u8; 32] = bytes.try_into().expect("32 bytes");
    let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3))
}
