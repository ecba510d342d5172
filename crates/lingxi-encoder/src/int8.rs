//! 8-bit integer matmul for the transformer layers.
//!
//! The Q4_0 weights are re-quantised once, at load, to one signed byte per weight with one
//! scale per row; at every matmul each token's activations are quantised to signed bytes with
//! one scale per token. A row's products then sum exactly in `i32` over the whole reduction,
//! and one multiply by the two scales gives the result. On CPUs with AVX-512 VNNI the sums are
//! `vpdpbusd`: 32 byte products per 256-bit instruction, against 8 for an f32 fused
//! multiply-add, which is what brings a 32-token query under the f32 floor (docs/encoder.md).
//! Elsewhere the same sums are computed by scalar code, so the results are bit-identical on
//! every CPU, only slower; [`Arithmetic::detect`] picks int8 only where VNNI is present.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so the weights are stored biased by 128
//! (`w + 128` in `1..=255`) and `128 * sum(x)` is subtracted once per token.

use std::ops::Range;

use crate::format::QK;
use crate::kernels::QMatrix;

/// What the transformer layers compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// f32 activations against the 4-bit weights, dequantised on the fly (as read from the file).
    F32,
    /// 8-bit activations against 8-bit weights (re-quantised from the 4-bit ones at load).
    Int8,
}

/// Environment variable that overrides [`Arithmetic::detect`]: `f32` or `int8`.
pub const ARITHMETIC_ENV: &str = "LINGXI_ENCODER_ARITHMETIC";

impl Arithmetic {
    /// Int8 where the CPU has the 8-bit dot-product instructions (AVX-512 VNNI), else f32;
    /// `LINGXI_ENCODER_ARITHMETIC=f32|int8` overrides the choice (an unknown value is an error).
    pub fn detect() -> Result<Self, crate::EncoderError> {
        match std::env::var(ARITHMETIC_ENV).ok().as_deref().map(str::trim) {
            None | Some("") => Ok(if has_vnni() { Arithmetic::Int8 } else { Arithmetic::F32 }),
            Some(v) => v.parse(),
        }
    }

    /// What a cache of vectors adds to the model's identity so that vectors of different
    /// arithmetics never mix: nothing for f32 (caches written before int8 existed hold f32
    /// vectors and stay valid), the int8 revision's name otherwise.
    pub fn vectors_tag(self) -> Option<&'static str> {
        match self {
            Arithmetic::F32 => None,
            // "o2": two outliers per token set apart (tenth session); the first int8
            // vectors, tagged "int8", differ from these and must not be reused.
            Arithmetic::Int8 => Some("int8o2"),
        }
    }

    /// The name `FromStr` reads and logs print: `f32` or `int8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arithmetic::F32 => "f32",
            Arithmetic::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Arithmetic {
    type Err = crate::EncoderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Arithmetic::F32),
            "int8" => Ok(Arithmetic::Int8),
            other => Err(crate::EncoderError::Unsupported(format!(
                "{ARITHMETIC_ENV}={other:?}: expected \"f32\" or \"int8\""
            ))),
        }
    }
}

/// Whether this CPU runs the `vpdpbusd` kernel.
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A `rows x cols` weight matrix in signed bytes with one scale per row, stored as `w + 128`.
#[derive(Debug, Clone)]
pub(crate) struct Int8Matrix {
    pub cols: usize,
    biased: Vec<u8>,
    scales: Vec<f32>,
    /// The same signed bytes column by column (`[col][row]`), when the matrix multiplies
    /// activation outliers back in (see [`Tokens::quantise`]).
    by_column: Option<Vec<i8>>,
}

impl Int8Matrix {
    /// Re-quantise a Q4_0 matrix: each row's largest weight maps to ±127. With
    /// `keep_outliers`, a column-major copy of the bytes is kept too, for the activations'
    /// outliers.
    pub fn from_q4(m: &QMatrix, keep_outliers: bool) -> Self {
        let mut row = vec![0f32; m.cols];
        let mut q = vec![0i8; m.cols];
        let mut biased = Vec::with_capacity(m.rows * m.cols);
        let mut scales = Vec::with_capacity(m.rows);
        for r in 0..m.rows {
            m.dequant_row(r, &mut row);
            scales.push(quantise(&row, &mut q));
            biased.extend(q.iter().map(|&v| (v as u8) ^ 0x80));
        }
        let by_column = keep_outliers.then(|| {
            let mut by_column = vec![0i8; m.rows * m.cols];
            for (r, row) in biased.chunks_exact(m.cols).enumerate() {
                for (c, &b) in row.iter().enumerate() {
                    by_column[c * m.rows + r] = (b ^ 0x80) as i8;
                }
            }
            by_column
        });
        Int8Matrix { cols: m.cols, biased, scales, by_column }
    }

    /// Whether activations keep their outliers apart for this matrix.
    pub fn keeps_outliers(&self) -> bool {
        self.by_column.is_some()
    }

    /// Resident bytes of the weights.
    pub fn heap_bytes(&self) -> usize {
        self.biased.len() + self.scales.len() * 4 + self.by_column.as_ref().map_or(0, Vec::len)
    }

    /// Row `r`'s biased bytes over the reduction blocks `kb`.
    fn row(&self, r: usize, kb: &Range<usize>) -> &[u8] {
        &self.biased[r * self.cols + kb.start * QK..r * self.cols + kb.end * QK]
    }
}

/// Quantise `v` into `out` as signed bytes, largest magnitude to ±127; returns the step (the
/// value of one unit). All-zero input, or input holding a NaN or an infinity, quantises to
/// zeros with step 0.
///
/// Written for the baseline target: the magnitude is the float's bits without the sign (their
/// integer order is the float order, and NaN and infinity compare above every finite value),
/// and rounding adds 1.5 * 2^23, whose float grid there is the integers, so the low byte of
/// the sum's bits is the rounded value (ties to even). SSE2 has no rounding instruction and
/// `round_ties_even` became a call to `rintf` per value (a sixth of encoding time, measured).
fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
    let max_bits = v.iter().fold(0u32, |m, &x| m.max(magnitude(x)));
    if max_bits >= 0x7f80_0000 {
        out.fill(0);
        return 0.0;
    }
    quantise_to(v, f32::from_bits(max_bits), out)
}

/// Quantise `v` with `max` (finite, not negative) mapped to 127; values beyond it give
/// meaningless bytes, which callers overwrite.
#[inline(always)]
fn quantise_to(v: &[f32], max: f32, out: &mut [i8]) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let inv = 127.0 / max;
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x * inv + ROUND).to_bits() as u8 as i8;
    }
    max / 127.0
}

/// Values per token kept out of the bytes and multiplied in f32 (see [`Tokens::quantise`]).
const OUTLIERS: usize = 2;

/// A token's outlier values, `(column, value)`, largest magnitude first; value 0 marks an
/// unused slot (it contributes nothing).
type Outliers = [(u32, f32); OUTLIERS];

/// Activations quantised for one or more matmuls over the same input: `[token][k]` signed
/// bytes, each token's step, each token's byte sum times 128 (the bias correction), and,
/// when asked for, each token's outliers.
pub(crate) struct Tokens {
    k: usize,
    bytes: Vec<i8>,
    steps: Vec<f32>,
    offsets: Vec<i32>,
    outliers: Option<Vec<Outliers>>,
}

impl Tokens {
    /// Quantise `n_tokens` rows of width `k`. With `outliers`, each token's [`OUTLIERS`]
    /// largest-magnitude values are set aside before the step is chosen, so the step follows
    /// the rest of the token instead of its extremes; a matrix built with
    /// [`Int8Matrix::from_q4`]`(.., true)` multiplies them back in f32.
    ///
    /// Why: the layer-normalised inputs of the Q, K, V and FFN matrices carry a few channels
    /// (the same few in most tokens) 3 to 5 times larger than the rest, and the FFN's GELU
    /// output is similar, so one step per token spent most of the 8 bits on them. Setting
    /// two aside cut the mean `1 - cosine` between int8 and f32 vectors from 9.4e-4 to
    /// 1.1e-4 on 1,000 clinc150 dev queries (docs/encoder.md).
    pub(crate) fn quantise(x: &[f32], k: usize, n_tokens: usize, outliers: bool) -> Self {
        quantise_tokens(x, k, n_tokens, outliers)
    }

    fn token(&self, t: usize) -> &[i8] {
        &self.bytes[t * self.k..(t + 1) * self.k]
    }
}

/// The `N` largest magnitudes of `v`, `(column, value)`, largest first (value 0 where `v` has
/// fewer non-zero values); `None` when `v` holds a NaN or an infinity.
///
/// Two passes: every 16-value chunk's largest magnitude (the float bits without the sign,
/// compared as integers, which vectorises), then a scan of only the `N` chunks with the
/// largest of those, which must hold the `N` largest values (a chunk holding none of them has
/// its largest below the `N`-th, and at most `N` chunks do not). One pass scanning, with a
/// branch per value, every chunk whose largest beat the running `N`-th made the outliers' whole
/// overhead about twice as large (docs/encoder.md).
#[inline(always)]
fn largest<const N: usize>(v: &[f32]) -> Option<[(u32, f32); N]> {
    const C: usize = 16;
    let mut best = [(0u32, usize::MAX); N]; // (chunk max, chunk index), largest first
    let mut all = 0u32;
    for (c, chunk) in v.chunks(C).enumerate() {
        let m = chunk.iter().fold(0u32, |m, &x| m.max(magnitude(x)));
        all = all.max(m);
        if m > best[N - 1].0 {
            let mut j = N - 1;
            while j > 0 && best[j - 1].0 < m {
                best[j] = best[j - 1];
                j -= 1;
            }
            best[j] = (m, c);
        }
    }
    if all >= 0x7f80_0000 {
        return None;
    }
    // In column order, so that equal magnitudes keep the lower column first.
    best.sort_unstable_by_key(|b| b.1);
    let mut top = [(0u32, 0f32); N];
    for &(_, c) in best.iter().filter(|b| b.1 != usize::MAX) {
        let at = c * C;
        keep_largest(&mut top, at, &v[at..(at + C).min(v.len())]);
    }
    Some(top)
}

/// A float's magnitude as an integer of the same order (NaN and infinity above every finite).
#[inline(always)]
fn magnitude(x: f32) -> u32 {
    x.to_bits() & 0x7fff_ffff
}

/// Merge `chunk` (starting at column `at`) into `top`; returns the smallest kept magnitude.
#[inline(always)]
fn keep_largest<const N: usize>(top: &mut [(u32, f32); N], at: usize, chunk: &[f32]) -> u32 {
    let mut floor = magnitude(top[N - 1].1);
    for (i, &x) in chunk.iter().enumerate() {
        let a = magnitude(x);
        if a > floor {
            let mut j = N - 1;
            while j > 0 && magnitude(top[j - 1].1) < a {
                top[j] = top[j - 1];
                j -= 1;
            }
            top[j] = ((at + i) as u32, x);
            floor = magnitude(top[N - 1].1);
        }
    }
    floor
}

/// Quantise one token with its [`OUTLIERS`] largest values set aside: the next largest maps
/// to 127, and the set-aside columns' bytes are 0.
#[inline(always)]
fn quantise_apart(v: &[f32], out: &mut [i8]) -> (f32, Outliers) {
    const N: usize = OUTLIERS + 1;
    let Some(top) = largest::<N>(v) else {
        out.fill(0);
        return (0.0, [(0, 0.0); OUTLIERS]);
    };
    let step = quantise_to(v, top[OUTLIERS].1.abs(), out);
    let apart: Outliers = std::array::from_fn(|o| top[o]);
    for &(i, _) in apart.iter().filter(|o| o.1 != 0.0) {
        out[i as usize] = 0;
    }
    (step, apart)
}

/// [`Tokens::quantise`], compiled for AVX2 too (eight lanes instead of four; same results).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn quantise_tokens(x: &[f32], k: usize, n_tokens: usize, keep_outliers: bool) -> Tokens {
    let mut bytes = vec![0i8; n_tokens * k];
    let mut steps = Vec::with_capacity(n_tokens);
    let mut offsets = Vec::with_capacity(n_tokens);
    let mut outliers = Vec::with_capacity(if keep_outliers { n_tokens } else { 0 });
    for (xt, qt) in x.chunks_exact(k).zip(bytes.chunks_exact_mut(k)).take(n_tokens) {
        let step = if keep_outliers {
            let (step, apart) = quantise_apart(xt, qt);
            outliers.push(apart);
            step
        } else {
            quantise(xt, qt)
        };
        steps.push(step);
        offsets.push(128 * qt.iter().map(|&q| i32::from(q)).sum::<i32>());
    }
    Tokens { k, bytes, steps, offsets, outliers: keep_outliers.then_some(outliers) }
}

/// The output value from a row's exact biased sum: the same expression on every path, so
/// the VNNI and scalar kernels agree bit for bit.
#[inline(always)]
fn finish(biased_sum: i32, offset: i32, w_step: f32, x_step: f32) -> f32 {
    (biased_sum - offset) as f32 * w_step * x_step
}

/// `Y[t, j] = sum over the columns of blocks kb of X[t, k] * W[rows.start + j, k]`, where `x` is
/// `[token][kb.len() * 32]`; returns the `n_tokens x rows.len()` block, row-major, without bias.
/// The activations keep their outliers apart when the matrix was built for it.
pub(crate) fn matmul_part(
    w: &Int8Matrix,
    rows: Range<usize>,
    kb: Range<usize>,
    x: &[f32],
    n_tokens: usize,
) -> Vec<f32> {
    if rows.is_empty() || kb.is_empty() || n_tokens == 0 {
        return vec![0f32; n_tokens * rows.len()];
    }
    let tokens = Tokens::quantise(x, kb.len() * QK, n_tokens, w.keeps_outliers());
    matmul_tokens(w, rows, kb, &tokens)
}

/// [`matmul_part`] over activations already quantised (shared by the matrices that read the
/// same input). Tokens with outliers need a matrix built to keep them.
pub(crate) fn matmul_tokens(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens) -> Vec<f32> {
    let n_tokens = tokens.steps.len();
    let mut y = vec![0f32; n_tokens * rows.len()];
    if rows.is_empty() || kb.is_empty() || n_tokens == 0 {
        return y;
    }
    assert_eq!(tokens.k, kb.len() * QK, "tokens quantised for another reduction range");
    #[cfg(target_arch = "x86_64")]
    let done = has_vnni() && {
        vnni::matmul(w, rows.clone(), kb.clone(), tokens, &mut y);
        true
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    if !done {
        scalar_matmul(w, rows.clone(), kb.clone(), tokens, &mut y);
    }
    add_token_outliers(w, rows, kb.start * QK, tokens, &mut y);
    y
}

/// The outliers' share, after either kernel (see [`add_outliers`]).
fn add_token_outliers(w: &Int8Matrix, rows: Range<usize>, col0: usize, tokens: &Tokens, y: &mut [f32]) {
    if let Some(outliers) = &tokens.outliers {
        let by_column = w.by_column.as_deref().expect("a matrix built to keep outliers");
        add_outliers(by_column, &w.scales, rows, col0, outliers, y);
    }
}

/// `y[t, j] += scale[r] * sum over t's outliers of value * W[r, column]` for `r = rows.start + j`,
/// reading the weights column by column (`by_column` is `[col][row]`), in f32, the same on
/// every path.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn add_outliers(
    by_column: &[i8],
    scales: &[f32],
    rows: Range<usize>,
    col0: usize,
    outliers: &[Outliers],
    y: &mut [f32],
) {
    let (n, width) = (scales.len(), rows.len());
    let scales = &scales[rows.clone()];
    // Touch every cache line of the columns first: these loads are independent, so the CPU
    // overlaps their misses, where the sums below would wait for them one column at a time.
    let mut touched = 0i8;
    for &(i, _) in outliers.iter().flatten() {
        let c = col0 + i as usize;
        for &b in by_column[c * n + rows.start..c * n + rows.end].iter().step_by(64) {
            touched ^= b;
        }
    }
    std::hint::black_box(touched);
    for (top, yt) in outliers.iter().zip(y.chunks_exact_mut(width)) {
        let cols: [&[i8]; OUTLIERS] = std::array::from_fn(|o| {
            let c = col0 + top[o].0 as usize;
            &by_column[c * n + rows.start..c * n + rows.end]
        });
        for (j, (out, s)) in yt.iter_mut().zip(scales).enumerate() {
            let mut sum = 0f32;
            for o in 0..OUTLIERS {
                sum += top[o].1 * f32::from(cols[o][j]);
            }
            *out += sum * s;
        }
    }
}

/// The reference kernel: plain integer sums.
fn scalar_matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    let width = rows.len();
    let n_tokens = tokens.steps.len();
    for (j, r) in rows.enumerate() {
        let wr = w.row(r, &kb);
        for t in 0..n_tokens {
            let sum: i32 = wr.iter().zip(tokens.token(t)).map(|(&b, &q)| i32::from(b) * i32::from(q)).sum();
            y[t * width + j] = finish(sum, tokens.offsets[t], w.scales[r], tokens.steps[t]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    //! The `vpdpbusd` kernel. Its functions are safe but enable AVX-512 VNNI, so only the
    //! one entry point below, after run-time detection, needs `unsafe`.
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{finish, Int8Matrix, Tokens};
    use crate::format::QK;

    /// Tokens per tile: one 256-bit accumulator each, all live across the reduction.
    const TILE: usize = 8;
    /// Tokens per group (a multiple of TILE): the group's quantised activations, at most
    /// 64 x 1536 bytes, stay in L2 while every weight row passes over them.
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

    /// Run the VNNI kernel. Callers have checked [`super::has_vnni`].
    pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
        assert!(super::has_vnni(), "the VNNI kernel needs AVX-512 VNNI");
        #[allow(unsafe_code)]
        // SAFETY: `matmul_tiles` only requires the CPU features it enables, asserted just above.
        unsafe {
            matmul_tiles(w, rows, kb, tokens, y)
        }
    }

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn matmul_tiles(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
        let n_tokens = tokens.steps.len();
        let chunks = kb.len();
        let width = rows.len();
        let mut panel = vec![0u8; GROUP * chunks * QK];
        let mut g0 = 0;
        while g0 < n_tokens {
            let ng = GROUP.min(n_tokens - g0);
            // The group's tokens interleaved `[tile][chunk][slot][32 bytes]` (slot stride
            // TILE in every tile), so each tile's kernel reads its part front to back.
            for t in 0..ng {
                let q = tokens.token(g0 + t);
                let (tile, slot) = (t / TILE, t % TILE);
                for c in 0..chunks {
                    let at = ((tile * chunks + c) * TILE + slot) * QK;
                    panel[at..at + QK].iter_mut().zip(&q[c * QK..(c + 1) * QK]).for_each(|(d, &s)| *d = s as u8);
                }
            }
            let mut steps = [0f32; GROUP];
            let mut offsets = [0i32; GROUP];
            steps[..ng].copy_from_slice(&tokens.steps[g0..g0 + ng]);
            offsets[..ng].copy_from_slice(&tokens.offsets[g0..g0 + ng]);
            // Rows outside, tiles inside: a weight row is read from memory once per group and
            // then from L1 for every tile (the weights, 21 MB, do not stay in cache). Two rows
            // at a time share each load of the activations.
            let pairs = width / 2;
            for p in 0..pairs {
                let (j, r) = (2 * p, rows.start + 2 * p);
                let (w0, w1) = (w.row(r, &kb), w.row(r + 1, &kb));
                for t0 in (0..ng).step_by(TILE) {
                    let tile = &panel[t0 * chunks * QK..(t0 + TILE) * chunks * QK];
                    // Full tiles call the 8-wide instance directly, so LLVM inlines it here;
                    // through the width `match` it stayed a call per row pair and tile.
                    let [s0, s1] = if ng - t0 >= TILE {
                        pair_sums_n::<TILE>(w0, w1, tile)
                    } else {
                        pair_sums(ng - t0, w0, w1, tile)
                    };
                    let (o, st) = (&offsets[t0..t0 + TILE], &steps[t0..t0 + TILE]);
                    let (v0, v1) = (scale8(&s0, o, st, w.scales[r]), scale8(&s1, o, st, w.scales[r + 1]));
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
                    let tile = &panel[t0 * chunks * QK..(t0 + TILE) * chunks * QK];
                    let [s0, _] = pair_sums(ng - t0, w0, w0, tile);
                    let v0 = scale8(&s0, &offsets[t0..t0 + TILE], &steps[t0..t0 + TILE], w.scales[r]);
                    for (t, v) in v0.iter().enumerate().take(ng - t0) {
                        y[(g0 + t0 + t) * width + j] = *v;
                    }
                }
            }
            g0 += ng;
        }
    }

    /// Eight results of one row and tile from their biased sums (vectorised; slots past the
    /// tile's tokens are computed from zeros and not stored).
    #[inline(always)]
    fn scale8(sums: &[i32; TILE], offsets: &[i32], steps: &[f32], w_step: f32) -> [f32; TILE] {
        let mut out = [0f32; TILE];
        for t in 0..TILE {
            out[t] = finish(sums[t], offsets[t], w_step, steps[t]);
        }
        out
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
    /// other slots' sums are 0).
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Q4 matrix with varied block scales (the row scale must cover its largest block).
    fn q4(rows: usize, cols: usize) -> QMatrix {
        let mut bytes = Vec::new();
        for r in 0..rows {
            for b in 0..cols / QK {
                let scale = 0x3000u16 + ((r * 131 + b * 977) % 2048) as u16; // 0.125 .. 1.0
                bytes.extend_from_slice(&scale.to_le_bytes());
                bytes.extend(
                    (0..16).map(|j| (((r + 3 * j + b) % 16) as u8) | ((((5 * r + j + 2 * b) % 16) as u8) << 4)),
                );
            }
        }
        QMatrix::from_q4_bytes(&bytes, rows, cols).expect("matrix")
    }

    fn dense(m: &QMatrix) -> Vec<f32> {
        let mut d = vec![0f32; m.rows * m.cols];
        for (r, row) in d.chunks_exact_mut(m.cols).enumerate() {
            m.dequant_row(r, row);
        }
        d
    }

    #[test]
    fn int8_products_are_within_quantisation_error_of_the_exact_ones() {
        let (rows, cols) = (13, 128);
        let m = q4(rows, cols);
        let d = dense(&m);
        for (keep, n_tokens) in [false, true].into_iter().flat_map(|k| [1, 2, 3, 7, 8, 9, 17].map(|n| (k, n))) {
            let w = Int8Matrix::from_q4(&m, keep);
            let x: Vec<f32> = (0..n_tokens * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0).collect();
            let y = matmul_part(&w, 2..11, 0..cols / QK, &x, n_tokens);
            for t in 0..n_tokens {
                for (j, r) in (2..11).enumerate() {
                    let (xs, ws) = (&x[t * cols..(t + 1) * cols], &d[r * cols..(r + 1) * cols]);
                    let exact: f32 = xs.iter().zip(ws).map(|(a, b)| a * b).sum();
                    // Each factor is off by at most half a step: bound the sum of the errors.
                    let (xm, wm) =
                        (xs.iter().fold(0f32, |a, v| a.max(v.abs())), ws.iter().fold(0f32, |a, v| a.max(v.abs())));
                    let bound: f32 =
                        xs.iter().zip(ws).map(|(a, b)| a.abs() * wm / 254.0 + b.abs() * xm / 254.0).sum::<f32>()
                            + cols as f32 * (xm / 254.0) * (wm / 254.0);
                    let got = y[t * 9 + j];
                    assert!(
                        (got - exact).abs() <= bound * 1.001 + 1e-4,
                        "t={t} r={r} outliers {keep}: {got} vs {exact} (bound {bound})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_vnni_kernel_equals_the_scalar_one_bit_for_bit() {
        // Every tile width 1..=8, more than one token group (64), even and odd row counts
        // and a partial reduction range; on a CPU without VNNI both sides are the scalar
        // kernel and the test only checks the reference against itself.
        let (rows, cols) = (10, 192);
        let kb = 1..5;
        let k = kb.len() * QK;
        for keep in [false, true] {
            let w = Int8Matrix::from_q4(&q4(rows, cols), keep);
            for n_tokens in (1..=17).chain([64, 65, 70, 130]) {
                let x: Vec<f32> = (0..n_tokens * k).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.37).collect();
                let tokens = Tokens::quantise(&x, k, n_tokens, keep);
                for range in [1..9, 1..10, 0..1, 3..6] {
                    let got = matmul_part(&w, range.clone(), kb.clone(), &x, n_tokens);
                    let mut want = vec![0f32; n_tokens * range.len()];
                    scalar_matmul(&w, range.clone(), kb.clone(), &tokens, &mut want);
                    add_token_outliers(&w, range.clone(), kb.start * QK, &tokens, &mut want);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{n_tokens} tokens, rows {range:?}, outliers {keep}");
                    assert!(got.iter().any(|v| *v != 0.0));
                }
            }
        }
        eprintln!("VNNI kernel exercised: {}", has_vnni());
    }

    #[test]
    fn quantisation_rounds_ties_to_even_and_rejects_non_finite_input() {
        let mut q = [0i8; 6];
        let step = quantise(&[127.0, 0.5, 1.5, -2.5, -127.0, -126.6], &mut q);
        assert_eq!((step, q), (1.0, [127, 0, 2, -2, -127, -127]));
        let step = quantise(&[0.02, -0.01, 0.0, 0.0, 0.0, 0.0], &mut q);
        assert_eq!(q, [127, -64, 0, 0, 0, 0]);
        assert!((step - 0.02 / 127.0).abs() < 1e-12);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            q = [1; 6];
            assert_eq!(quantise(&[1.0, bad, 2.0, 0.0, 0.0, 0.0], &mut q), 0.0);
            assert_eq!(q, [0; 6], "{bad}");
        }
    }

    #[test]
    fn degenerate_activations_give_zeros_not_nan() {
        for keep in [false, true] {
            let w = Int8Matrix::from_q4(&q4(3, 64), keep);
            for bad in [0.0, f32::NAN, f32::INFINITY] {
                let x = vec![bad; 2 * 64];
                let y = matmul_part(&w, 0..3, 0..2, &x, 2);
                assert!(y.iter().all(|v| *v == 0.0), "{bad}, outliers {keep}: {y:?}");
            }
        }
    }

    #[test]
    fn arithmetic_names_parse_and_unknown_ones_are_errors() {
        assert_eq!("f32".parse::<Arithmetic>().unwrap(), Arithmetic::F32);
        assert_eq!("int8".parse::<Arithmetic>().unwrap(), Arithmetic::Int8);
        let e = "fp16".parse::<Arithmetic>().unwrap_err().to_string();
        assert!(e.contains(ARITHMETIC_ENV) && e.contains("fp16"), "{e}");
        assert_eq!(Arithmetic::Int8.as_str().parse::<Arithmetic>().unwrap(), Arithmetic::Int8);
        assert_eq!((Arithmetic::F32.vectors_tag(), Arithmetic::Int8.vectors_tag()), (None, Some("int8o2")));
    }

    #[test]
    fn the_largest_magnitudes_are_found_in_every_chunk_and_the_tail() {
        // 37 values: two chunks of 16 and a tail of 5; the largest in the tail, the
        // second negative in the second chunk, the third in the first.
        let mut v = vec![0.5f32; 37];
        v[3] = 4.0;
        v[20] = -6.0;
        v[35] = 9.0;
        v[36] = -3.9;
        assert_eq!(largest::<3>(&v), Some([(35, 9.0), (20, -6.0), (3, 4.0)]));
        assert_eq!(largest::<2>(&[0.0, 0.0, 1.0]), Some([(2, 1.0), (0, 0.0)]));
        v[7] = f32::NAN;
        assert_eq!(largest::<3>(&v), None);
    }

    #[test]
    fn outliers_set_apart_shrink_the_error_of_tokens_with_a_few_large_channels() {
        // Layer-normalised activations look like this: most channels near ±1, two of them
        // 30 times larger, which one step per token spends the 8 bits on.
        let (rows, cols, n_tokens) = (16, 128, 5);
        let m = q4(rows, cols);
        let d = dense(&m);
        let x: Vec<f32> = (0..n_tokens * cols)
            .map(|i| {
                let base = ((i * 37 % 101) as f32 - 50.0) / 50.0;
                match i % cols {
                    9 => 30.0,
                    77 => -25.0 - (i / cols) as f32,
                    _ => base,
                }
            })
            .collect();
        let error = |keep: bool| {
            let y = matmul_part(&Int8Matrix::from_q4(&m, keep), 0..rows, 0..cols / QK, &x, n_tokens);
            let mut sum = 0f32;
            for t in 0..n_tokens {
                for r in 0..rows {
                    let exact: f32 =
                        x[t * cols..(t + 1) * cols].iter().zip(&d[r * cols..(r + 1) * cols]).map(|(a, b)| a * b).sum();
                    sum += (y[t * rows + r] - exact).abs();
                }
            }
            sum
        };
        let (without, with) = (error(false), error(true));
        assert!(with < without / 4.0, "error with the outliers apart {with}, without {without}");
    }
}
