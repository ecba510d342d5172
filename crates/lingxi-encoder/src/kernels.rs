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
/// Output rows dequantised together and processed as one tile.
pub(crate) const ROW_TILE: usize = 4;

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
/// each stored as `q + 8` with `q` in `-8..=7`.
#[derive(Debug, Clone)]
pub(crate) struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    scales: Vec<f32>,
    quants: Quants,
}

/// Storage of the 4-bit values: packed as in the file (half the memory, used for
/// the large word-embedding table) or expanded to one `i8` each (cheaper to
/// dequantise, used for the layer matrices that every token multiplies).
#[derive(Debug, Clone)]
enum Quants {
    Nibbles(Vec<u8>),
    /// One byte per weight holding `q + 8` (0..=15).
    Bytes(Vec<u8>),
}

impl QMatrix {
    /// Split the file's interleaved `(f16 scale, 16 nibble bytes)` blocks into two arrays.
    pub fn from_q4_bytes(bytes: &[u8], rows: usize, cols: usize) -> EncoderResult<Self> {
        let n_blocks = rows * cols / QK;
        if cols % QK != 0 || bytes.len() != n_blocks * Q4_BLOCK_BYTES {
            return Err(EncoderError::Corrupt(format!("q4 matrix {rows}x{cols} does not fit {} bytes", bytes.len())));
        }
        let mut scales = Vec::with_capacity(n_blocks);
        let mut nibbles = Vec::with_capacity(n_blocks * QK / 2);
        for block in bytes.chunks_exact(Q4_BLOCK_BYTES) {
            let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            if !d.is_finite() {
                return Err(EncoderError::Corrupt("non-finite q4 block scale".into()));
            }
            scales.push(d);
            nibbles.extend_from_slice(&block[2..]);
        }
        Ok(QMatrix { rows, cols, scales, quants: Quants::Nibbles(nibbles) })
    }

    /// Expand packed nibbles to one byte per weight (`q + 8`, block order kept).
    pub fn expanded(self) -> QMatrix {
        let Quants::Nibbles(nibbles) = self.quants else {
            return self;
        };
        let mut bytes = Vec::with_capacity(nibbles.len() * 2);
        for block in nibbles.chunks_exact(QK / 2) {
            bytes.extend(block.iter().map(|&b| b & 0x0f));
            bytes.extend(block.iter().map(|&b| b >> 4));
        }
        QMatrix { quants: Quants::Bytes(bytes), ..self }
    }

    /// Stack matrices with equal column counts on top of each other.
    pub fn concat_rows(parts: Vec<QMatrix>) -> QMatrix {
        let cols = parts[0].cols;
        let parts: Vec<QMatrix> = parts.into_iter().map(QMatrix::expanded).collect();
        let mut bytes = Vec::new();
        for p in &parts {
            if let Quants::Bytes(b) = &p.quants {
                bytes.extend_from_slice(b);
            }
        }
        QMatrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            scales: parts.iter().flat_map(|p| p.scales.iter().copied()).collect(),
            quants: Quants::Bytes(bytes),
        }
    }

    /// Resident bytes of the weights.
    pub fn heap_bytes(&self) -> usize {
        self.scales.len() * 4
            + match &self.quants {
                Quants::Nibbles(n) => n.len(),
                Quants::Bytes(b) => b.len(),
            }
    }

    /// Dequantise row `row` into `out` (`cols` floats).
    pub fn dequant_row(&self, row: usize, out: &mut [f32]) {
        let nb = self.cols / QK;
        let scales = &self.scales[row * nb..(row + 1) * nb];
        let nibbles = match &self.quants {
            Quants::Nibbles(n) => &n[row * nb * (QK / 2)..(row + 1) * nb * (QK / 2)],
            Quants::Bytes(b) => {
                let q = &b[row * self.cols..(row + 1) * self.cols];
                dequant_bytes(q, scales, out);
                return;
            }
        };
        for ((o, q), &d) in out.chunks_exact_mut(QK).zip(nibbles.chunks_exact(QK / 2)).zip(scales) {
            let (lo, hi) = o.split_at_mut(QK / 2);
            for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(q) {
                *l = biased_to_f32(b & 0x0f) * d;
                *h = biased_to_f32(b >> 4) * d;
            }
        }
    }
}

/// Dequantise blocks of 32 one-byte quants (kept out of line so it vectorises on its own).
#[inline(never)]
fn dequant_bytes(q: &[u8], scales: &[f32], out: &mut [f32]) {
    for ((o, q), &d) in out.chunks_exact_mut(QK).zip(q.chunks_exact(QK)).zip(scales) {
        for (o, &b) in o.iter_mut().zip(q) {
            *o = biased_to_f32(b) * d;
        }
    }
}

/// `b - 8` as f32 for `b < 2^23`, by placing `b` in the mantissa of 2^23: integer
/// to float conversion from bytes does not vectorise on baseline SSE2, this does.
#[inline(always)]
fn biased_to_f32(b: u8) -> f32 {
    f32::from_bits(0x4b00_0000 | u32::from(b)) - 8_388_616.0
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

/// Dot products of two activation rows with `ROW_TILE` weight rows (`w` holds the
/// rows back to back). Eight named lane accumulators keep the tile in registers:
/// LLVM's SLP vectoriser turns each `for l` body into packed multiplies and adds.
#[inline(always)]
fn tile_2x4(x0: &[f32], x1: &[f32], w: &[f32], cols: usize) -> [[f32; ROW_TILE]; 2] {
    let n = cols / LANES * LANES;
    let (x0, x1) = (&x0[..n], &x1[..n]);
    let (w0, w1, w2, w3) = (&w[..n], &w[cols..cols + n], &w[2 * cols..2 * cols + n], &w[3 * cols..3 * cols + n]);
    let (mut a00, mut a01, mut a02, mut a03) = ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let (mut a10, mut a11, mut a12, mut a13) = ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let mut k = 0;
    while k < n {
        let a: &[f32; LANES] = x0[k..k + LANES].try_into().expect("chunk");
        let b: &[f32; LANES] = x1[k..k + LANES].try_into().expect("chunk");
        let p: &[f32; LANES] = w0[k..k + LANES].try_into().expect("chunk");
        let q: &[f32; LANES] = w1[k..k + LANES].try_into().expect("chunk");
        let r: &[f32; LANES] = w2[k..k + LANES].try_into().expect("chunk");
        let s: &[f32; LANES] = w3[k..k + LANES].try_into().expect("chunk");
        for l in 0..LANES {
            a00[l] += a[l] * p[l];
            a01[l] += a[l] * q[l];
            a02[l] += a[l] * r[l];
            a03[l] += a[l] * s[l];
            a10[l] += b[l] * p[l];
            a11[l] += b[l] * q[l];
            a12[l] += b[l] * r[l];
            a13[l] += b[l] * s[l];
        }
        k += LANES;
    }
    [[hsum(a00), hsum(a01), hsum(a02), hsum(a03)], [hsum(a10), hsum(a11), hsum(a12), hsum(a13)]]
}

/// Dot product with independent lane accumulators (vectorisable).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    hsum(acc) + tail
}

/// `Y[t, j] = act(sum_k X[t, k] * W[rows.start + j, k] + bias[rows.start + j])` for
/// every token `t < n_tokens`; returns the `n_tokens x rows.len()` block, row-major.
///
/// Weight rows are dequantised `ROW_TILE` at a time into a small buffer that
/// stays in L1 while every token is multiplied against it, two tokens at a time.
pub(crate) fn matmul(w: &QMatrix, bias: &[f32], x: &[f32], n_tokens: usize, rows: Range<usize>, act: Act) -> Vec<f32> {
    let cols = w.cols;
    let width = rows.len();
    let mut y = vec![0f32; n_tokens * width];
    let mut wbuf = vec![0f32; ROW_TILE * cols];
    let mut r0 = rows.start;
    while r0 < rows.end {
        let nr = ROW_TILE.min(rows.end - r0);
        for r in 0..nr {
            w.dequant_row(r0 + r, &mut wbuf[r * cols..(r + 1) * cols]);
        }
        let j0 = r0 - rows.start;
        if nr == ROW_TILE && cols % LANES == 0 {
            let mut t = 0;
            while t + 2 <= n_tokens {
                let x0 = &x[t * cols..(t + 1) * cols];
                let x1 = &x[(t + 1) * cols..(t + 2) * cols];
                let d = tile_2x4(x0, x1, &wbuf, cols);
                for (dt, tok) in d.iter().zip(t..) {
                    y[tok * width + j0..tok * width + j0 + ROW_TILE].copy_from_slice(dt);
                }
                t += 2;
            }
            if t < n_tokens {
                let x0 = &x[t * cols..(t + 1) * cols];
                for r in 0..ROW_TILE {
                    y[t * width + j0 + r] = dot(x0, &wbuf[r * cols..(r + 1) * cols]);
                }
            }
        } else {
            for t in 0..n_tokens {
                let x0 = &x[t * cols..(t + 1) * cols];
                for r in 0..nr {
                    y[t * width + j0 + r] = dot(x0, &wbuf[r * cols..(r + 1) * cols]);
                }
            }
        }
        r0 += nr;
    }
    let b = &bias[rows];
    for row in y.chunks_exact_mut(width.max(1)) {
        for (v, &bb) in row.iter_mut().zip(b) {
            *v += bb;
        }
        if act == Act::Gelu {
            for v in row.iter_mut() {
                *v = gelu(*v);
            }
        }
    }
    y
}

/// `x[t] = layer_norm(x[t] + residual[t])` over rows of width `w.len()`.
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

/// Exact (erf-based) GELU as used by BERT.
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
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
        }
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
        for n_tokens in [1, 2, 3, 5] {
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
