//! Activations quantised per token, with each token's largest values optionally set apart.

/// Quantise `v` into `out` as signed bytes, largest magnitude to ±127; returns the step (the
/// value of one unit). All-zero input, or input holding a NaN or an infinity, quantises to
/// zeros with step 0.
///
/// Written for the baseline target: the magnitude is the float's bits without the sign (their
/// integer order is the float order, and NaN and infinity compare above every finite value),
/// and rounding adds 1.5 * 2^23, whose float grid there is the integers, so the low byte of
/// the sum's bits is the rounded value (ties to even). SSE2 has no rounding instruction and
/// `round_ties_even` became a call to `rintf` per value (a sixth of encoding time, measured).
pub(super) fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
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
pub(super) const OUTLIERS: usize = 2;

/// A token's outlier values, `(column, value)`, largest magnitude first; value 0 marks an
/// unused slot (it contributes nothing).
pub(super) type Outliers = [(u32, f32); OUTLIERS];

/// Activations quantised for one or more matmuls over the same input: `[token][k]` signed
/// bytes, each token's step, each token's byte sum times 128 (the bias correction), and,
/// when asked for, each token's outliers.
pub(crate) struct Tokens {
    pub(super) k: usize,
    bytes: Vec<i8>,
    pub(super) steps: Vec<f32>,
    pub(super) offsets: Vec<i32>,
    pub(super) outliers: Option<Vec<Outliers>>,
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
    ///
    /// The bytes are allocated for a multiple of `padding` tokens, the extra rows zero (the AMX
    /// kernel loads whole tiles of [`TOKEN_PADDING`] tokens; the others pass 1).
    pub(super) fn quantise(x: &[f32], k: usize, n_tokens: usize, outliers: bool, padding: usize) -> Self {
        quantise_tokens(x, k, n_tokens, outliers, padding)
    }

    pub(super) fn token(&self, t: usize) -> &[i8] {
        &self.bytes[t * self.k..(t + 1) * self.k]
    }

    /// The bytes from token `t` on, `[token][k]`, with zero rows after the last token up to
    /// the multiple of the padding asked of [`Tokens::quantise`].
    pub(super) fn padded_from(&self, t: usize) -> &[i8] {
        &self.bytes[t * self.k..]
    }
}

/// The token padding the AMX kernel needs: its activation tiles are this many tokens.
pub(super) const TOKEN_PADDING: usize = 16;

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
pub(super) fn largest<const N: usize>(v: &[f32]) -> Option<[(u32, f32); N]> {
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
fn quantise_tokens(x: &[f32], k: usize, n_tokens: usize, keep_outliers: bool, padding: usize) -> Tokens {
    let mut bytes = vec![0i8; n_tokens.next_multiple_of(padding.max(1)) * k];
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
