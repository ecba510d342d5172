//! Numeric kernels: f16 decoding, Q4_0 matrices with on-the-fly dequantisation, tiled matmul, layer norm, GELU.
//!
//! Everything is plain safe Rust written so that LLVM auto-vectorises it for the
//! baseline target (SSE2 on x86-64, NEON on aarch64): fixed-width lane arrays as
//! accumulators, `chunks_exact` loops, no data-dependent branches in hot loops.

use std::ops::Range;

use crate::format::{EncoderResult, Q4_BLOCK_BYTES, QK};
use crate::EncoderError;

/// Lanes per accumulator; 8 f32 = two SSE registers or one AVX register.
const LANES: usize = 8;

/// Decode an IEEE-754 binary16 value.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: value = man * 2^-24
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (31, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// A `rows x cols` matrix of Q4_0 weights: per block of 32 weights one scale and
/// 16 bytes whose low nibbles hold weights 0..16 and high nibbles weights 16..32,
/// each stored as `q + 8` with `q` in `-8..=7`. The nibbles stay packed in memory
/// (half a byte per weight); the matmul unpacks them in registers.
#[derive(Debug, Clone)]
pub(crate) struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    scales: Vec<f32>,
    nibbles: Vec<u8>,
}

impl QMatrix {
    /// An empty matrix to be filled by [`QMatrix::push_q4_bytes`].
    pub fn with_capacity(rows: usize, cols: usize) -> Self {
        let n_blocks = rows * cols / QK;
        QMatrix { rows, cols, scales: Vec::with_capacity(n_blocks), nibbles: Vec::with_capacity(n_blocks * QK / 2) }
    }

    /// Append whole file blocks `(f16 scale, 16 nibble bytes)`, splitting scales from nibbles.
    pub fn push_q4_bytes(&mut self, bytes: &[u8]) -> EncoderResult<()> {
        if !bytes.len().is_multiple_of(Q4_BLOCK_BYTES)
            || self.scales.len() + bytes.len() / Q4_BLOCK_BYTES > self.n_blocks()
        {
            return Err(EncoderError::Corrupt(format!("q4 matrix {}x{} overflows", self.rows, self.cols)));
        }
        for block in bytes.chunks_exact(Q4_BLOCK_BYTES) {
            let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            if !d.is_finite() {
                return Err(EncoderError::Corrupt("non-finite q4 block scale".into()));
            }
            self.scales.push(d);
            self.nibbles.extend_from_slice(&block[2..]);
        }
        Ok(())
    }

    fn n_blocks(&self) -> usize {
        self.rows * self.cols / QK
    }

    /// Whether every block has been pushed.
    pub fn is_complete(&self) -> bool {
        self.scales.len() == self.n_blocks()
    }

    /// Split the file's interleaved `(f16 scale, 16 nibble bytes)` blocks into two arrays.
    #[cfg(test)]
    pub fn from_q4_bytes(bytes: &[u8], rows: usize, cols: usize) -> EncoderResult<Self> {
        let n_blocks = rows * cols / QK;
        if !cols.is_multiple_of(QK) || bytes.len() != n_blocks * Q4_BLOCK_BYTES {
            return Err(EncoderError::Corrupt(format!("q4 matrix {rows}x{cols} does not fit {} bytes", bytes.len())));
        }
        let mut m = QMatrix::with_capacity(rows, cols);
        m.push_q4_bytes(bytes)?;
        Ok(m)
    }

    /// Resident bytes of the weights.
    pub fn heap_bytes(&self) -> usize {
        self.scales.len() * 4 + self.nibbles.len()
    }

    /// Row `row`'s 4-bit values `n` (`w = (n - 8) * d`) into `out` (`cols` bytes, each
    /// `0..=15`), and its blocks' scales `d` into `scales` (`cols / 32` floats).
    pub fn nibble_row(&self, row: usize, out: &mut [u8], scales: &mut [f32]) {
        let nb = self.cols / QK;
        scales.copy_from_slice(&self.scales[row * nb..(row + 1) * nb]);
        let nibbles = &self.nibbles[row * nb * (QK / 2)..(row + 1) * nb * (QK / 2)];
        for (o, q) in out.chunks_exact_mut(QK).zip(nibbles.chunks_exact(QK / 2)) {
            for (i, &b) in q.iter().enumerate() {
                o[i] = b & 0x0f;
                o[i + QK / 2] = b >> 4;
            }
        }
    }

    /// Dequantise row `row` into `out` (`cols` floats).
    pub fn dequant_row(&self, row: usize, out: &mut [f32]) {
        let nb = self.cols / QK;
        let scales = &self.scales[row * nb..(row + 1) * nb];
        let nibbles = &self.nibbles[row * nb * (QK / 2)..(row + 1) * nb * (QK / 2)];
        for ((o, q), &d) in out.chunks_exact_mut(QK).zip(nibbles.chunks_exact(QK / 2)).zip(scales) {
            let q: &[u8; QK / 2] = q.try_into().expect("block");
            o.copy_from_slice(&dequant_block(q, d));
        }
    }
}

/// `b - 8` as f32 for `b < 2^23`, by placing `b` in the mantissa of 2^23: integer
/// to float conversion from bytes does not vectorise on baseline SSE2, this does.
#[inline(always)]
fn biased_to_f32(b: u8) -> f32 {
    f32::from_bits(0x4b00_0000 | u32::from(b)) - 8_388_616.0
}

/// The 32 weights of one Q4_0 block, scaled.
#[inline(always)]
fn dequant_block(q: &[u8; QK / 2], d: f32) -> [f32; QK] {
    let mut w = [0f32; QK];
    for i in 0..QK / 2 {
        w[i] = biased_to_f32(q[i] & 0x0f) * d;
        w[i + QK / 2] = biased_to_f32(q[i] >> 4) * d;
    }
    w
}

/// [`dequant_block`] through signed bytes: the same values (`q - 8` is exact either
/// way), in the form AVX2 widens and converts eight at a time.
#[inline(always)]
fn dequant_block_signed(q: &[u8; QK / 2], d: f32) -> [f32; QK] {
    let mut w = [0f32; QK];
    for i in 0..QK / 2 {
        w[i] = f32::from((q[i] & 0x0f) as i8 - 8) * d;
        w[i + QK / 2] = f32::from((q[i] >> 4) as i8 - 8) * d;
    }
    w
}

/// Activation applied to a matmul's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    None,
    Gelu,
}

#[inline(always)]
fn hsum(a: [f32; LANES]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// Tokens multiplied together against each weight block (one accumulator register each).
pub(crate) const TOKEN_TILE: usize = 8;
/// The last tile's width when at most this many tokens are left (FMA instance only).
const HALF_TILE: usize = 4;

/// Copy tokens `t0..t0 + nt` of `x` (`[token][k]`, `k = blocks * 32`) into a panel
/// laid out `[block][token][32]` with `tile` token slots (the slots past `nt` are
/// zero), so the kernel reads it front to back.
fn pack_panel(x: &[f32], k: usize, t0: usize, nt: usize, tile: usize, panel: &mut Vec<f32>) {
    panel.clear();
    for b in 0..k / QK {
        for t in t0..t0 + nt {
            panel.extend_from_slice(&x[t * k + b * QK..t * k + (b + 1) * QK]);
        }
        panel.resize(panel.len() + (tile - nt) * QK, 0.0);
    }
}

/// Dot products of one packed weight row (`nib`, `scales`: the blocks of the
/// reduction range) with `NT` tokens of a panel. Each block is unpacked once into
/// four registers of floats and multiplied against every token; the token
/// accumulators (one 8-lane vector each) stay in registers.
///
/// The FMA instance (AVX2+FMA) unpacks through signed bytes (`vpmovsxbd` +
/// `vcvtdq2ps`), chains four fused multiply-adds per token and block straight into
/// the accumulator, and sums the lanes with [`sums8`]: with the product tree and
/// eight separate horizontal sums it spilled accumulators and spent about a tenth of
/// the time shuffling (docs/encoder.md). The baseline instance keeps the tree and
/// the SSE2-friendly unpacking.
#[inline(always)]
fn row_dot<const NT: usize, const FMA: bool>(nib: &[u8], scales: &[f32], panel: &[f32]) -> [f32; NT] {
    let mut acc = [[0f32; LANES]; NT];
    for ((q, &d), xb) in nib.chunks_exact(QK / 2).zip(scales).zip(panel.chunks_exact(QK * NT)) {
        let q: &[u8; QK / 2] = q.try_into().expect("block");
        if FMA {
            let w = dequant_block_signed(q, d);
            for (a, xs) in acc.iter_mut().zip(xb.chunks_exact(QK)) {
                for (wp, xp) in w.chunks_exact(LANES).zip(xs.chunks_exact(LANES)) {
                    for l in 0..LANES {
                        a[l] = wp[l].mul_add(xp[l], a[l]);
                    }
                }
            }
        } else {
            let w = dequant_block(q, d);
            for (a, xs) in acc.iter_mut().zip(xb.chunks_exact(QK)) {
                let xs: &[f32; QK] = xs.try_into().expect("block");
                for l in 0..LANES {
                    a[l] += (w[l] * xs[l] + w[l + 8] * xs[l + 8]) + (w[l + 16] * xs[l + 16] + w[l + 24] * xs[l + 24]);
                }
            }
        }
    }
    if FMA && NT == 8 {
        let a: &[[f32; LANES]; 8] = acc[..].try_into().expect("eight accumulators");
        return sums8(a)[..].try_into().expect("NT is 8");
    }
    if FMA {
        // The 4-wide last tile sums in `sums8`'s order, so a token's vector does not depend
        // on the tile it fell in (a text encodes the same alone and in a batch).
        return acc.map(hsum_pairs);
    }
    acc.map(hsum)
}

/// One accumulator's lane sum in the order [`sums8`] adds: `((0+1)+(2+3))+((4+5)+(6+7))`.
#[inline(always)]
fn hsum_pairs(a: [f32; LANES]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `hadd(a, b)` of AVX, lane for lane: pairs summed within each 128-bit half.
#[inline(always)]
fn hadd(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
    [a[0] + a[1], a[2] + a[3], b[0] + b[1], b[2] + b[3], a[4] + a[5], a[6] + a[7], b[4] + b[5], b[6] + b[7]]
}

/// The lane sums of eight accumulators, by the transposing reduction (three rounds of pair
/// sums across accumulators instead of eight separate horizontal sums).
#[inline(always)]
fn sums8(a: &[[f32; LANES]; 8]) -> [f32; 8] {
    let (t0, t1, t2, t3) = (hadd(a[0], a[1]), hadd(a[2], a[3]), hadd(a[4], a[5]), hadd(a[6], a[7]));
    let (u0, u1) = (hadd(t0, t1), hadd(t2, t3));
    [
        u0[0] + u0[4],
        u0[1] + u0[5],
        u0[2] + u0[6],
        u0[3] + u0[7],
        u1[0] + u1[4],
        u1[1] + u1[5],
        u1[2] + u1[6],
        u1[3] + u1[7],
    ]
}

/// `y[t][j - rows.start] = sum over blocks b of W[j][b] . panel[b][t]` for one token tile.
#[inline(always)]
fn tile_rows<const NT: usize, const FMA: bool>(
    w: &QMatrix,
    rows: Range<usize>,
    kb: Range<usize>,
    panel: &[f32],
    (t0, nt): (usize, usize),
    y: &mut [f32],
) {
    let nb = w.cols / QK;
    let width = rows.len();
    for (j, r) in rows.enumerate() {
        let blocks = r * nb + kb.start..r * nb + kb.end;
        let nib = &w.nibbles[blocks.start * (QK / 2)..blocks.end * (QK / 2)];
        let d = row_dot::<NT, FMA>(nib, &w.scales[blocks], panel);
        for (t, v) in d.into_iter().enumerate().take(nt) {
            y[(t0 + t) * width + j] = v;
        }
    }
}

/// The matmul body, compiled once for the baseline target and once with AVX2+FMA
/// (chosen at run time by CPU detection). The two differ in rounding only (fused
/// multiply-adds, summation order); the kernel tests hold both to the naive product.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn matmul_body(w: &QMatrix, rows: Range<usize>, kb: Range<usize>, x: &[f32], n_tokens: usize, y: &mut [f32]) {
    let k = kb.len() * QK;
    let mut panel = Vec::with_capacity(k * TOKEN_TILE);
    let mut t0 = 0;
    while t0 < n_tokens {
        // Tiles of 8 tokens, the last one zero-padded (to 4 when at most 4 are left,
        // in the FMA instance): LLVM vectorises the 8- and 4-token shapes along the
        // lanes as intended, while for 2 tokens (measured) and other odd widths its SLP
        // vectoriser gathers across tokens with scalar inserts (2-3x slower).
        let nt = TOKEN_TILE.min(n_tokens - t0);
        const FMA: bool = multiversion::target::selected_target!().supports_feature_str("fma");
        if FMA && nt <= HALF_TILE {
            pack_panel(x, k, t0, nt, HALF_TILE, &mut panel);
            tile_rows::<HALF_TILE, FMA>(w, rows.clone(), kb.clone(), &panel, (t0, nt), y);
        } else {
            pack_panel(x, k, t0, nt, TOKEN_TILE, &mut panel);
            tile_rows::<TOKEN_TILE, FMA>(w, rows.clone(), kb.clone(), &panel, (t0, nt), y);
        }
        t0 += nt;
    }
}

/// `Y[t, j] = sum_{k in kblocks} X[t, k] * W[rows.start + j, k]` for every token
/// `t < n_tokens`, where `x` is `[token][kblocks.len() * 32]` (only the reduction
/// range's columns). Returns the `n_tokens x rows.len()` block, row-major, without bias.
pub(crate) fn matmul_part(
    w: &QMatrix,
    rows: Range<usize>,
    kblocks: Range<usize>,
    x: &[f32],
    n_tokens: usize,
) -> Vec<f32> {
    let mut y = vec![0f32; n_tokens * rows.len()];
    if !rows.is_empty() && !kblocks.is_empty() {
        matmul_body(w, rows, kblocks, x, n_tokens, &mut y);
    }
    y
}

/// `Y[t, j] = act(sum_k X[t, k] * W[rows.start + j, k] + bias[rows.start + j])` for
/// every token `t < n_tokens`; returns the `n_tokens x rows.len()` block, row-major.
#[cfg(test)]
pub(crate) fn matmul(w: &QMatrix, bias: &[f32], x: &[f32], n_tokens: usize, rows: Range<usize>, act: Act) -> Vec<f32> {
    let mut y = matmul_part(w, rows.clone(), 0..w.cols / QK, x, n_tokens);
    add_bias_act(&mut y, &bias[rows], act);
    y
}

/// `y[t][j] = act(y[t][j] + b[j])` for a row-major `[token][b.len()]` block.
pub(crate) fn add_bias_act(y: &mut [f32], b: &[f32], act: Act) {
    let width = b.len();
    for row in y.chunks_exact_mut(width.max(1)) {
        for (v, &bb) in row.iter_mut().zip(b) {
            *v += bb;
        }
        if act == Act::Gelu {
            gelu_slice(row);
        }
    }
}

/// `x[t] = layer_norm(x[t] + residual[t])` over rows of width `w.len()`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub(crate) fn add_layer_norm(x: &mut [f32], residual: Option<&[f32]>, w: &[f32], b: &[f32], eps: f32) {
    let h = w.len();
    for (t, row) in x.chunks_exact_mut(h).enumerate() {
        if let Some(res) = residual {
            for (v, r) in row.iter_mut().zip(&res[t * h..(t + 1) * h]) {
                *v += r;
            }
        }
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, &ww), &bb) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * ww + bb;
        }
    }
}

/// Error function, |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit, in f64).
/// The scalar reference for [`erf_fast`].
#[cfg(test)]
pub(crate) fn erf(x: f32) -> f32 {
    let z = f64::from(x).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let r = 1.0 - erfc;
    (if x >= 0.0 { r } else { -r }) as f32
}

/// `e^v` for `v <= 0` in branch-free f32 (vectorisable): `2^n * p(r)` with
/// `v = n ln2 + r`, `|r| <= ln2/2`, degree-6 Taylor polynomial (relative error < 2e-7).
#[inline(always)]
fn exp_neg(v: f32) -> f32 {
    let v = v.max(-87.0);
    // round to nearest through the 1.5 * 2^23 trick (SSE2 has no vector round)
    let n = (v * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = (v - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Error function in f32, branch-free (Abramowitz & Stegun 7.1.26, |error| < 3e-7).
#[inline(always)]
pub(crate) fn erf_fast(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - poly * exp_neg(-a * a)).copysign(x)
}

/// Exact (erf-based) GELU as used by BERT, applied in place (vectorised).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub(crate) fn gelu_slice(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf_fast(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_decoding_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn erf_matches_reference_values() {
        for (x, e) in [(0.0, 0.0), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3), (3.5, 0.999_999_3)] {
            assert!((erf(x) - e).abs() < 2e-7, "erf({x}) = {} != {e}", erf(x));
            assert!((erf_fast(x) - e).abs() < 4e-7, "erf_fast({x}) = {} != {e}", erf_fast(x));
        }
        let mut worst = 0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 5e-4;
            worst = worst.max((erf_fast(x) - erf(x)).abs());
        }
        assert!(worst < 4e-7, "erf_fast max error {worst}");
        for v in [0.0f32, -1e-3, -0.5, -1.0, -10.0, -80.0] {
            let rel = (exp_neg(v) - v.exp()).abs() / v.exp();
            assert!(rel < 3e-7, "exp_neg({v}) rel error {rel}");
        }
        assert_eq!(exp_neg(-1000.0).min(1e-37), exp_neg(-1000.0));
    }

    fn q4_matrix(rows: usize, cols: usize) -> (QMatrix, Vec<f32>) {
        let mut bytes = Vec::new();
        let mut dense = vec![0f32; rows * cols];
        for r in 0..rows {
            for b in 0..cols / QK {
                let scale = 0x3800u16 + (r * 7 + b) as u16; // ~0.5
                bytes.extend_from_slice(&scale.to_le_bytes());
                let d = f16_to_f32(scale);
                for j in 0..16 {
                    let lo = ((r + 3 * j + b) % 16) as u8;
                    let hi = ((5 * r + j + 2 * b) % 16) as u8;
                    bytes.push(lo | (hi << 4));
                    dense[r * cols + b * QK + j] = (f32::from(lo) - 8.0) * d;
                    dense[r * cols + b * QK + 16 + j] = (f32::from(hi) - 8.0) * d;
                }
            }
        }
        (QMatrix::from_q4_bytes(&bytes, rows, cols).unwrap(), dense)
    }

    #[test]
    fn matmul_equals_naive_dense_product_for_all_tile_shapes() {
        let (rows, cols) = (11, 64);
        let (w, dense) = q4_matrix(rows, cols);
        let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.1).collect();
        for n_tokens in [1, 2, 3, 5, 8, 9, 15, 17] {
            let x: Vec<f32> = (0..n_tokens * cols).map(|i| ((i * 37 % 17) as f32 - 8.0) / 7.0).collect();
            for range in [0..rows, 3..9, 4..8, 10..11] {
                let y = matmul(&w, &bias, &x, n_tokens, range.clone(), Act::None);
                for t in 0..n_tokens {
                    for (j, r) in range.clone().enumerate() {
                        let want: f32 = (0..cols).map(|k| x[t * cols + k] * dense[r * cols + k]).sum::<f32>() + bias[r];
                        let got = y[t * range.len() + j];
                        assert!((got - want).abs() < 1e-3, "t={t} r={r}: {got} != {want}");
                    }
                }
            }
            // reduction over the second block only, input holding just that block's columns
            let xk: Vec<f32> = (0..n_tokens).flat_map(|t| x[t * cols + QK..(t + 1) * cols].to_vec()).collect();
            let y = matmul_part(&w, 2..7, 1..2, &xk, n_tokens);
            for t in 0..n_tokens {
                for (j, r) in (2..7).enumerate() {
                    let want: f32 = (QK..cols).map(|k| x[t * cols + k] * dense[r * cols + k]).sum();
                    assert!((y[t * 5 + j] - want).abs() < 1e-3);
                }
            }
        }
    }

    #[test]
    fn portable_and_fma_kernels_agree() {
        // Both instantiations, whichever one the CPU dispatch picks at run time.
        let (w, dense) = q4_matrix(3, 96);
        let x: Vec<f32> = (0..TOKEN_TILE * 96).map(|i| ((i * 29 % 23) as f32 - 11.0) / 5.0).collect();
        let mut panel = Vec::new();
        pack_panel(&x, 96, 0, TOKEN_TILE, TOKEN_TILE, &mut panel);
        for r in 0..3 {
            let nib = &w.nibbles[r * 48..(r + 1) * 48];
            let sc = &w.scales[r * 3..(r + 1) * 3];
            let a = row_dot::<TOKEN_TILE, false>(nib, sc, &panel);
            let b = row_dot::<TOKEN_TILE, true>(nib, sc, &panel);
            for t in 0..TOKEN_TILE {
                let want: f32 = (0..96).map(|k| x[t * 96 + k] * dense[r * 96 + k]).sum();
                assert!((a[t] - want).abs() < 1e-3 && (b[t] - want).abs() < 1e-3, "{} {} {want}", a[t], b[t]);
            }
        }
        // The 4-wide last tile of the FMA instance, three tokens in four slots: against the
        // naive product, and bit for bit against the same tokens in an 8-wide tile.
        let mut wide = Vec::new();
        pack_panel(&x, 96, 2, 3, TOKEN_TILE, &mut wide);
        pack_panel(&x, 96, 2, 3, HALF_TILE, &mut panel);
        for r in 0..3 {
            let nib = &w.nibbles[r * 48..(r + 1) * 48];
            let sc = &w.scales[r * 3..(r + 1) * 3];
            let got = row_dot::<HALF_TILE, true>(nib, sc, &panel);
            let in_wide = row_dot::<TOKEN_TILE, true>(nib, sc, &wide);
            for (t, g) in got.iter().enumerate() {
                let want: f32 =
                    if t < 3 { (0..96).map(|k| x[(2 + t) * 96 + k] * dense[r * 96 + k]).sum() } else { 0.0 };
                assert!((g - want).abs() < 1e-3, "row {r} slot {t}: {g} != {want}");
                assert_eq!(g.to_bits(), in_wide[t].to_bits(), "row {r} slot {t}: the tile width changed the result");
            }
        }
    }

    #[test]
    fn gelu_matches_exact_erf_gelu() {
        let mut v: Vec<f32> = (-800..=800).map(|i| i as f32 * 0.01).collect();
        let want: Vec<f32> = v.iter().map(|&x| 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))).collect();
        gelu_slice(&mut v);
        for (g, w) in v.iter().zip(&want) {
            assert!((g - w).abs() < 3e-6, "{g} != {w}");
        }
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        add_layer_norm(&mut x, Some(&[1.0, 1.0, 1.0, 1.0]), &[1.0; 4], &[0.5; 4], 0.0);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        assert!((mean - 0.5).abs() < 1e-6);
        assert!((x[3] - x[0] - 2.0 * 3.0 / 5f32.sqrt()).abs() < 1e-5);
    }
}
