//! The AVX-512 VNNI kernel: `vpdpbusd` multiplies the biased (unsigned) weight bytes by the
//! signed activation bytes and adds groups of four into 32-bit lanes, 32 products per
//! 256-bit instruction. Its functions are safe but enable the features, so only the one entry
//! point below, after run-time detection, needs `unsafe`.
use std::arch::x86_64::*;
use std::ops::Range;

use super::tiles::TILE;
use super::{Int8Matrix, Tokens};
use crate::format::QK;

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
    #[allow(unsafe_code)]
    // SAFETY: `matmul_tiles` only requires the CPU features it enables, asserted just above.
    unsafe {
        matmul_tiles(w, rows, kb, tokens, y)
    }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn matmul_tiles(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    tile_loop!(w, rows, kb, tokens, y, bytes: 1, pack: pack, full: pair_sums_n::<TILE>, part: pair_sums);
}

/// A chunk of activations as the bytes `vpdpbusd` reads (their two's-complement bits).
#[inline(always)]
fn pack(q: &[i8], out: &mut [u8]) {
    out.iter_mut().zip(q).for_each(|(d, &s)| *d = s as u8);
}

/// [`pair_sums_n`] for a tile of `left` or more tokens left: one instance per width, so a
/// short last tile costs its own tokens only.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair_sums(left: usize, w0: &[u8], w1: &[u8], tile: &[u8]) -> [[i32; TILE]; 2] {
    match left {
        1 => pair_sums_n::<1>(w0, w1, tile),
        2 => pair_sums_n::<2>(w0, w1, tile),
        3 => pair_sums_n::<3>(w0, w1, tile),
        4 => pair_sums_n::<4>(w0, w1, tile),
        5 => pair_sums_n::<5>(w0, w1, tile),
        6 => pair_sums_n::<6>(w0, w1, tile),
        7 => pair_sums_n::<7>(w0, w1, tile),
        _ => pair_sums_n::<8>(w0, w1, tile),
    }
}

/// The biased integer sums of two weight rows against a tile's first `NT` tokens (the
/// other slots' sums are 0). Sixteen accumulators: AVX-512VL gives the 256-bit
/// instructions 32 registers.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair_sums_n<const NT: usize>(w0: &[u8], w1: &[u8], tile: &[u8]) -> [[i32; TILE]; 2] {
    let mut a0 = [_mm256_setzero_si256(); TILE];
    let mut a1 = [_mm256_setzero_si256(); TILE];
    for ((c0, c1), pc) in w0.chunks_exact(QK).zip(w1.chunks_exact(QK)).zip(tile.chunks_exact(QK * TILE)) {
        let (v0, v1) = (load32!(c0), load32!(c1));
        for t in 0..NT {
            let x = load32!(&pc[t * QK..(t + 1) * QK]);
            a0[t] = _mm256_dpbusd_epi32(a0[t], v0, x);
            a1[t] = _mm256_dpbusd_epi32(a1[t], v1, x);
        }
    }
    [lane_sums(&a0), lane_sums(&a1)]
}

/// The lane sums of eight accumulators by a transposing reduction (three rounds of pair sums).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn lane_sums(acc: &[__m256i; TILE]) -> [i32; TILE] {
    let u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
    let u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[4], acc[5]), _mm256_hadd_epi32(acc[6], acc[7]));
    let s = _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
    [
        _mm256_extract_epi32::<0>(s),
        _mm256_extract_epi32::<1>(s),
        _mm256_extract_epi32::<2>(s),
        _mm256_extract_epi32::<3>(s),
        _mm256_extract_epi32::<4>(s),
        _mm256_extract_epi32::<5>(s),
        _mm256_extract_epi32::<6>(s),
        _mm256_extract_epi32::<7>(s),
    ]
}
