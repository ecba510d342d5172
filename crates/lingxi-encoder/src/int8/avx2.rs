//! The AVX2 kernel, for x86 CPUs without AVX-512 VNNI (AVX2-only Intel and AMD parts, and
//! AVX-512 parts before Cascade Lake).
//!
//! AVX2's byte multiply (`vpmaddubsw`) adds pairs of products into saturating 16-bit lanes,
//! which these ranges overflow (255 x 127 x 2), and the sign trick that avoids it costs a
//! third instruction per product pair. So both sides are widened to 16 bits instead: the
//! activations once per token group, into the panel, and the weights once per chunk (shared
//! by the tile's tokens), and `vpmaddwd` adds each pair of 16-bit products exactly into a
//! 32-bit lane: 16 products per instruction, half VNNI's 32 but twice an f32 multiply-add's
//! 8. The weights stay biased (`w + 128`, zero-extended), so the sums are biased as VNNI's are.
use std::arch::x86_64::*;
use std::ops::Range;

use super::{Int8Matrix, Tokens};
use crate::format::QK;

/// Tokens per tile: one 256-bit accumulator each (per row) across the reduction.
const TILE: usize = 8;
/// Tokens per group (a multiple of TILE): the group's widened activations, at most
/// 64 x 1536 x 2 bytes, stay in L2 while every weight row passes over them.
const GROUP: usize = 64;

/// 32 bytes as a vector. Written as four 8-byte lanes because `_mm256_loadu_si256` takes a
/// raw pointer; LLVM turns this into one unaligned load (checked in the disassembly).
macro_rules! load32 {
    ($b:expr) => {{
        let b: &[u8; 32] = $b.try_into().expect("32 bytes");
        let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3))
    }};
}

/// Tokens per pass over the weights: two rows x four tokens is eight accumulators, which
/// with the four widened weight vectors and two activation vectors fills AVX2's sixteen
/// registers (a tile of eight is done in two passes; its weights are then in L1).
const HALF: usize = TILE / 2;

/// Whether this CPU runs this kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Run the kernel; panics where the CPU lacks it (callers choose it by [`available`]).
pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    assert!(available(), "the AVX2 kernel needs AVX2");
    #[allow(unsafe_code)]
    // SAFETY: `matmul_tiles` only requires the CPU feature it enables, asserted just above.
    unsafe {
        matmul_tiles(w, rows, kb, tokens, y)
    }
}

#[target_feature(enable = "avx2")]
fn matmul_tiles(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    let n_tokens = tokens.steps.len();
    let chunks = kb.len();
    let width = rows.len();
    let chunk_bytes = QK * 2;
    let tile_bytes = TILE * chunks * chunk_bytes;
    let mut panel = vec![0u8; GROUP / TILE * tile_bytes];
    let mut g0 = 0;
    while g0 < n_tokens {
        let ng = GROUP.min(n_tokens - g0);
        // The group's tokens interleaved `[tile][chunk][slot][32 values]` (slot stride
        // TILE in every tile), so each tile's kernel reads its part front to back.
        for t in 0..ng {
            let q = tokens.token(g0 + t);
            let (tile, slot) = (t / TILE, t % TILE);
            for c in 0..chunks {
                let at = ((tile * chunks + c) * TILE + slot) * chunk_bytes;
                pack(&q[c * QK..(c + 1) * QK], &mut panel[at..at + chunk_bytes]);
            }
        }
        let mut steps = [0f32; GROUP];
        let mut offsets = [0i32; GROUP];
        steps[..ng].copy_from_slice(&tokens.steps[g0..g0 + ng]);
        offsets[..ng].copy_from_slice(&tokens.offsets[g0..g0 + ng]);
        let scale = |sums: &[i32; TILE], t0: usize, w_step: f32| -> [f32; TILE] {
            std::array::from_fn(|t| super::finish_plain(sums[t] - offsets[t0 + t], w_step, steps[t0 + t]))
        };
        // Rows outside, tiles inside: a weight row is read from memory once per group and
        // then from L1 for every tile (the weights, 21 MB, do not stay in cache). Two rows
        // at a time share each load of the activations.
        for p in 0..width / 2 {
            let (j, r) = (2 * p, rows.start + 2 * p);
            let (w0, w1) = (w.row(r, &kb), w.row(r + 1, &kb));
            for t0 in (0..ng).step_by(TILE) {
                let tile = &panel[t0 / TILE * tile_bytes..(t0 / TILE + 1) * tile_bytes];
                // Full tiles call the full-width instance directly, so LLVM inlines it
                // here; through the width `match` it stayed a call per row pair and tile.
                let [s0, s1] = if ng - t0 >= TILE { full_tile(w0, w1, tile) } else { pair_sums(ng - t0, w0, w1, tile) };
                let (v0, v1) = (scale(&s0, t0, w.scales[r]), scale(&s1, t0, w.scales[r + 1]));
                for t in 0..TILE.min(ng - t0) {
                    let at = (g0 + t0 + t) * width + j;
                    y[at] = v0[t];
                    y[at + 1] = v1[t];
                }
            }
        }
        // An odd last row is paired with itself (half the work thrown away); e5-small's
        // row ranges (192, 384, 768, 1536) are all even, so only the tests take this path.
        if width % 2 == 1 {
            let (j, r) = (width - 1, rows.end - 1);
            let w0 = w.row(r, &kb);
            for t0 in (0..ng).step_by(TILE) {
                let tile = &panel[t0 / TILE * tile_bytes..(t0 / TILE + 1) * tile_bytes];
                let [s0, _] = pair_sums(ng - t0, w0, w0, tile);
                let v0 = scale(&s0, t0, w.scales[r]);
                for (t, v) in v0.iter().enumerate().take(ng - t0) {
                    y[(g0 + t0 + t) * width + j] = *v;
                }
            }
        }
        g0 += ng;
    }
}

/// A chunk of activations as little-endian 16-bit values.
#[inline(always)]
fn pack(q: &[i8], out: &mut [u8]) {
    out.chunks_exact_mut(2).zip(q).for_each(|(d, &s)| d.copy_from_slice(&i16::from(s).to_le_bytes()));
}

#[target_feature(enable = "avx2")]
fn full_tile(w0: &[u8], w1: &[u8], tile: &[u8]) -> [[i32; TILE]; 2] {
    joined(half::<HALF>(w0, w1, tile, 0), half::<HALF>(w0, w1, tile, HALF))
}

/// The sums for a tile of `left` or more tokens left: one instance per width, so a short
/// last tile costs its own tokens only.
#[target_feature(enable = "avx2")]
fn pair_sums(left: usize, w0: &[u8], w1: &[u8], tile: &[u8]) -> [[i32; TILE]; 2] {
    let none = [[0; HALF]; 2];
    match left {
        1 => joined(half::<1>(w0, w1, tile, 0), none),
        2 => joined(half::<2>(w0, w1, tile, 0), none),
        3 => joined(half::<3>(w0, w1, tile, 0), none),
        4 => joined(half::<4>(w0, w1, tile, 0), none),
        5 => joined(half::<4>(w0, w1, tile, 0), half::<1>(w0, w1, tile, HALF)),
        6 => joined(half::<4>(w0, w1, tile, 0), half::<2>(w0, w1, tile, HALF)),
        7 => joined(half::<4>(w0, w1, tile, 0), half::<3>(w0, w1, tile, HALF)),
        _ => full_tile(w0, w1, tile),
    }
}

/// Two half tiles' sums as one tile's.
#[inline(always)]
fn joined(a: [[i32; HALF]; 2], b: [[i32; HALF]; 2]) -> [[i32; TILE]; 2] {
    std::array::from_fn(|r| std::array::from_fn(|t| if t < HALF { a[r][t] } else { b[r][t - HALF] }))
}

/// The biased integer sums of two weight rows against the `NT` tokens of a tile from slot
/// `first` on (the other slots' sums are 0). A whole row's sum is at most 1,536 x 255 x 127,
/// 49.7 million: no 32-bit lane overflows.
#[target_feature(enable = "avx2")]
fn half<const NT: usize>(w0: &[u8], w1: &[u8], tile: &[u8], first: usize) -> [[i32; HALF]; 2] {
    let chunk_bytes = 2 * QK;
    let mut a0 = [_mm256_setzero_si256(); HALF];
    let mut a1 = [_mm256_setzero_si256(); HALF];
    for ((c0, c1), pc) in w0.chunks_exact(QK).zip(w1.chunks_exact(QK)).zip(tile.chunks_exact(chunk_bytes * TILE)) {
        let ([l0, h0], [l1, h1]) = (widened(load32!(c0)), widened(load32!(c1)));
        for t in 0..NT {
            let x = &pc[(first + t) * chunk_bytes..(first + t + 1) * chunk_bytes];
            let (xl, xh) = (load32!(&x[..32]), load32!(&x[32..]));
            a0[t] = _mm256_add_epi32(a0[t], _mm256_add_epi32(_mm256_madd_epi16(l0, xl), _mm256_madd_epi16(h0, xh)));
            a1[t] = _mm256_add_epi32(a1[t], _mm256_add_epi32(_mm256_madd_epi16(l1, xl), _mm256_madd_epi16(h1, xh)));
        }
    }
    [lane_sums(&a0), lane_sums(&a1)]
}

/// 32 biased weight bytes as 16-bit values (`w + 128`, zero-extended), the first and last
/// sixteen. Kept biased, like VNNI's bytes: un-biasing here would hold a constant in one of the
/// sixteen registers, which the accumulators need (with it, LLVM spilled one per chunk).
#[target_feature(enable = "avx2")]
fn widened(biased: __m256i) -> [__m256i; 2] {
    [_mm256_cvtepu8_epi16(_mm256_castsi256_si128(biased)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(biased))]
}

/// The lane sums of four accumulators (two rounds of pair sums, then the two halves added).
#[target_feature(enable = "avx2")]
fn lane_sums(acc: &[__m256i; HALF]) -> [i32; HALF] {
    let u = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
    let s = _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256::<1>(u));
    [_mm_extract_epi32::<0>(s), _mm_extract_epi32::<1>(s), _mm_extract_epi32::<2>(s), _mm_extract_epi32::<3>(s)]
}
