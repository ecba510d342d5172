//! 8-bit integer matmul for the transformer layers.
//!
//! The Q4_0 weights are re-quantised once, at load, to one signed byte per weight with one
//! scale per row; at every matmul each token's activations are quantised to signed bytes with
//! one scale per token ([`Tokens`]). A row's products then sum exactly in `i32` over the whole
//! reduction, and one multiply by the two scales gives the result. Five kernels compute the
//! sums ([`Int8Kernel`]): AMX tiles (`tdpbsud`, 16,384 products per instruction); `vpdpbusd`
//! on CPUs with AVX-512 VNNI, or with AVX-VNNI on 256-bit registers (32 byte products per
//! 256 bits, against 8 for an f32 fused multiply-add, which is what brings a 32-token query
//! under the f32 floor, docs/encoder.md); 16-bit `vpmaddwd` on AVX2 CPUs without either; and
//! scalar code elsewhere. The sums are exact integers, so every kernel gives the same bits,
//! only at different speeds.
//!
//! `vpdpbusd` and `tdpbsud` multiply unsigned by signed bytes, so the weights are stored biased
//! by 128 (`w + 128` in `1..=255`) and `128 * sum(x)` is subtracted once per token.

use std::ops::Range;

use crate::format::QK;
use crate::kernels::QMatrix;

mod activations;
#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx_vnni;
mod q4x8;
#[cfg(test)]
mod q4x8_tests;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub(crate) use activations::Tokens;
use activations::{quantise, Outliers, OUTLIERS};
pub(crate) use q4x8::{matmul_part as q4x8_matmul_part, matmul_tokens as q4x8_matmul_tokens, Q4x8Matrix};

/// What the transformer layers compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// f32 activations against the 4-bit weights, dequantised on the fly (as read from the file).
    F32,
    /// 8-bit activations against 8-bit weights (re-quantised from the 4-bit ones at load).
    Int8,
    /// 8-bit activations against the file's 4-bit weights and block scales (`q4x8.rs`): what
    /// AVX2 multiplies fastest without VNNI; its vectors differ from int8's (closer to f32).
    Q4x8,
}

/// Environment variable that overrides [`Arithmetic::detect`]: `f32`, `int8` or `q4x8`.
pub const ARITHMETIC_ENV: &str = "LINGXI_ENCODER_ARITHMETIC";

impl Arithmetic {
    /// Int8 where the CPU has a byte-product instruction for it ([`Int8Kernel::best`]: AMX,
    /// AVX-512 VNNI or AVX-VNNI), Q4x8 where it has AVX2 only, else f32;
    /// `LINGXI_ENCODER_ARITHMETIC=f32|int8|q4x8` overrides the choice, and so does naming an
    /// int8 kernel in [`INT8_KERNEL_ENV`] (int8 on that kernel). An unknown value, or an
    /// unusable kernel, is an error.
    pub fn detect() -> Result<Self, crate::EncoderError> {
        let kernel = Int8Kernel::from_env()?;
        let kernel_named = std::env::var(INT8_KERNEL_ENV).is_ok_and(|v| !v.trim().is_empty());
        match std::env::var(ARITHMETIC_ENV).ok().as_deref().map(str::trim) {
            None | Some("") => Ok(Arithmetic::for_kernel(kernel, kernel_named)),
            Some(v) => v.parse(),
        }
    }

    /// The arithmetic for the best int8 kernel a CPU has, or for one named explicitly: with
    /// AVX2 alone, q4x8's byte products are faster than int8's 16-bit ones (docs/encoder.md),
    /// unless the int8 kernel was asked for by name.
    fn for_kernel(kernel: Int8Kernel, named: bool) -> Self {
        match kernel {
            Int8Kernel::Scalar => Arithmetic::F32,
            Int8Kernel::Avx2 if !named => Arithmetic::Q4x8,
            _ => Arithmetic::Int8,
        }
    }

    /// What a cache of vectors adds to the model's identity so that vectors of different
    /// arithmetics never mix: nothing for f32 (caches written before int8 existed hold f32
    /// vectors and stay valid), the int8 revision's name otherwise (the same for every
    /// kernel: they give the same bits).
    pub fn vectors_tag(self) -> Option<&'static str> {
        match self {
            Arithmetic::F32 => None,
            // "o2": two outliers per token set apart (tenth session); the first int8
            // vectors, tagged "int8", differ from these and must not be reused.
            Arithmetic::Int8 => Some("int8o2"),
            Arithmetic::Q4x8 => Some("q4x8o2"),
        }
    }

    /// The name `FromStr` reads and logs print: `f32`, `int8` or `q4x8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arithmetic::F32 => "f32",
            Arithmetic::Int8 => "int8",
            Arithmetic::Q4x8 => "q4x8",
        }
    }
}

impl std::str::FromStr for Arithmetic {
    type Err = crate::EncoderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Arithmetic::F32),
            "int8" => Ok(Arithmetic::Int8),
            "q4x8" => Ok(Arithmetic::Q4x8),
            other => Err(crate::EncoderError::Unsupported(format!(
                "{ARITHMETIC_ENV}={other:?}: expected \"f32\", \"int8\" or \"q4x8\""
            ))),
        }
    }
}

/// Which code computes the int8 sums. They give the same bits and differ only in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AMX-INT8 tiles, `tdpbsud` (Intel Sapphire Rapids and later servers).
    Amx,
    /// AVX-512 VNNI `vpdpbusd` (Intel Cascade Lake and later servers, AMD Zen 4 and later).
    Vnni,
    /// AVX-VNNI, `vpdpbusd` on 256-bit registers (Intel client CPUs since Alder Lake, Sierra
    /// Forest servers: AVX-VNNI without AVX-512).
    AvxVnni,
    /// AVX2 `vpmaddwd` on 16-bit values (any x86-64 CPU since 2013-2015).
    Avx2,
    /// Plain integer code: any CPU, several times slower than f32.
    Scalar,
}

/// Environment variable that picks the int8 kernel: `amx`, `vnni`, `avxvnni`, `avx2` or
/// `scalar` (default: [`Int8Kernel::best`]); for measuring one CPU's fallback on another.
pub const INT8_KERNEL_ENV: &str = "LINGXI_ENCODER_INT8_KERNEL";

impl Int8Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Int8Kernel; 5] =
        [Int8Kernel::Amx, Int8Kernel::Vnni, Int8Kernel::AvxVnni, Int8Kernel::Avx2, Int8Kernel::Scalar];

    /// The fastest kernel this CPU runs.
    pub fn best() -> Self {
        Int8Kernel::ALL.into_iter().find(|k| k.available()).unwrap_or(Int8Kernel::Scalar)
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Amx => amx::available(),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Vnni => vnni::available(),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::AvxVnni => avx_vnni::available(),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Int8Kernel::Amx | Int8Kernel::Vnni | Int8Kernel::AvxVnni | Int8Kernel::Avx2 => false,
            Int8Kernel::Scalar => true,
        }
    }

    /// The kernel [`INT8_KERNEL_ENV`] names, else [`Int8Kernel::best`]; an unknown name, or a
    /// kernel this CPU lacks, is an error.
    pub fn from_env() -> Result<Self, crate::EncoderError> {
        let Some(v) = std::env::var(INT8_KERNEL_ENV).ok().filter(|v| !v.trim().is_empty()) else {
            return Ok(Int8Kernel::best());
        };
        let kernel: Int8Kernel = v.trim().parse()?;
        kernel.usable().map_err(|_| {
            crate::EncoderError::Unsupported(format!(
                "{INT8_KERNEL_ENV}={v:?}: this CPU lacks the {} instructions",
                kernel.as_str()
            ))
        })
    }

    /// The kernel itself where this CPU runs it, else an error naming it.
    pub fn usable(self) -> Result<Self, crate::EncoderError> {
        if self.available() {
            Ok(self)
        } else {
            Err(crate::EncoderError::Unsupported(format!("this CPU lacks the {} instructions", self.as_str())))
        }
    }

    /// The name [`INT8_KERNEL_ENV`] takes and logs print.
    pub fn as_str(self) -> &'static str {
        match self {
            Int8Kernel::Amx => "amx",
            Int8Kernel::Vnni => "vnni",
            Int8Kernel::AvxVnni => "avxvnni",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::Scalar => "scalar",
        }
    }
}

impl std::str::FromStr for Int8Kernel {
    type Err = crate::EncoderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Int8Kernel::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            crate::EncoderError::Unsupported(format!(
                "{INT8_KERNEL_ENV}={s:?}: expected \"amx\", \"vnni\", \"avxvnni\", \"avx2\" or \"scalar\""
            ))
        })
    }
}

/// A `rows x cols` weight matrix in signed bytes with one scale per row, stored as `w + 128`.
#[derive(Debug, Clone)]
pub(crate) struct Int8Matrix {
    pub cols: usize,
    /// `[row][col]`, for the scalar kernel; empty for the SIMD ones.
    biased: Vec<u8>,
    /// Interleaved by the kernel's [`Interleaving`] (see [`interleave`]), for the SIMD
    /// kernels; empty for the scalar one.
    interleaved: Vec<u8>,
    scales: Vec<f32>,
    /// The same signed bytes column by column (`[col][row]`), when the matrix multiplies
    /// activation outliers back in (see `Tokens::quantise`).
    by_column: Option<Vec<i8>>,
    kernel: Int8Kernel,
}

impl Int8Matrix {
    /// Re-quantise a Q4_0 matrix: each row's largest weight maps to ±127. With
    /// `keep_outliers`, a column-major copy of the bytes is kept too, for the activations'
    /// outliers. Its products run on `kernel`, which this CPU must have; the bytes are kept
    /// in the order that kernel reads them.
    pub fn from_q4(m: &QMatrix, keep_outliers: bool, kernel: Int8Kernel) -> Self {
        assert!(kernel.available(), "the {} kernel on a CPU without it", kernel.as_str());
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
        let interleaved = match kernel.interleaving() {
            Some(shape) => {
                let interleaved = interleave(&biased, m.rows, m.cols, shape);
                biased = Vec::new();
                interleaved
            }
            None => Vec::new(),
        };
        Int8Matrix { cols: m.cols, biased, interleaved, scales, by_column, kernel }
    }

    /// Whether activations keep their outliers apart for this matrix.
    pub fn keeps_outliers(&self) -> bool {
        self.by_column.is_some()
    }

    /// `n_tokens` rows of width `k` of `x` quantised as this matrix's kernel reads them: with
    /// outliers apart when it keeps them, padded to whole AMX tiles for the AMX kernel.
    pub fn quantise_input(&self, x: &[f32], k: usize, n_tokens: usize) -> Tokens {
        let padding = if self.kernel == Int8Kernel::Amx { activations::TOKEN_PADDING } else { 1 };
        Tokens::quantise(x, k, n_tokens, self.keeps_outliers(), padding)
    }

    /// Resident bytes of the weights.
    pub fn heap_bytes(&self) -> usize {
        self.biased.len() + self.interleaved.len() + self.scales.len() * 4 + self.by_column.as_ref().map_or(0, Vec::len)
    }

    /// Row `r`'s biased bytes over the reduction blocks `kb` (row-major matrices only).
    fn row(&self, r: usize, kb: &Range<usize>) -> &[u8] {
        assert!(self.interleaved.is_empty(), "row access to a SIMD kernel's interleaved bytes");
        &self.biased[r * self.cols + kb.start * QK..r * self.cols + kb.end * QK]
    }
}

/// How the SIMD kernels read the weights: `(rows, columns)` per interleaved group, one
/// register's worth (VNNI: four bytes of each of sixteen rows, 512 bits, which AMX loads
/// sixteen at a time; AVX-VNNI: four of each of eight rows; AVX2: two of each of eight rows,
/// widened to 256 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Interleaving {
    pub rows: usize,
    pub cols: usize,
}

impl Int8Kernel {
    fn interleaving(self) -> Option<Interleaving> {
        match self {
            // AMX's weight tile is sixteen of VNNI's groups (see `amx.rs`).
            Int8Kernel::Amx | Int8Kernel::Vnni => Some(Interleaving { rows: 16, cols: 4 }),
            Int8Kernel::AvxVnni => Some(Interleaving { rows: 8, cols: 4 }),
            Int8Kernel::Avx2 => Some(Interleaving { rows: 8, cols: 2 }),
            Int8Kernel::Scalar => None,
        }
    }
}

/// `biased` (`[row][col]`) as `[block of shape.rows rows][group of shape.cols columns][row]
/// [shape.cols bytes]`: one load then gives a few consecutive columns of a block of rows,
/// which the kernel multiplies by one token's activations for those columns broadcast to every
/// row, so each 32-bit lane sums one row's products and no horizontal sum is needed. Rows are
/// padded with zero weights (`128`) to an even number of blocks, because the kernels read
/// blocks in pairs.
fn interleave(biased: &[u8], rows: usize, cols: usize, shape: Interleaving) -> Vec<u8> {
    let blocks = rows.div_ceil(shape.rows).next_multiple_of(2);
    let mut out = vec![128u8; blocks * shape.rows * cols];
    for (r, row) in biased.chunks_exact(cols).enumerate() {
        let (block, lane) = (r / shape.rows, r % shape.rows);
        for (g, group) in row.chunks_exact(shape.cols).enumerate() {
            let at = ((block * cols / shape.cols + g) * shape.rows + lane) * shape.cols;
            out[at..at + shape.cols].copy_from_slice(group);
        }
    }
    out
}

/// Two consecutive row blocks of an interleaved matrix: their first row, their bytes over a
/// reduction range, and their rows' scales (0 for padding rows).
pub(super) struct BlockPair<'w, const R: usize> {
    pub row0: usize,
    pub bytes: [&'w [u8]; 2],
    pub scales: [[f32; R]; 2],
}

/// The pairs of `R`-row blocks that cover `rows` over the column blocks `kb`. Pairs start at
/// even blocks, which the padding to an even count (see [`interleave`]) keeps inside `w`.
pub(super) fn block_pairs<'w, const R: usize>(
    w: &'w Int8Matrix,
    rows: &Range<usize>,
    kb: &Range<usize>,
) -> impl Iterator<Item = BlockPair<'w, R>> {
    let block_bytes = R * w.cols;
    let span = kb.start * QK * R..kb.end * QK * R;
    ((rows.start / R) & !1..rows.end.div_ceil(R)).step_by(2).map(move |b| BlockPair {
        row0: b * R,
        bytes: std::array::from_fn(|i| {
            &w.interleaved[(b + i) * block_bytes + span.start..(b + i) * block_bytes + span.end]
        }),
        scales: std::array::from_fn(|i| {
            std::array::from_fn(|lane| w.scales.get((b + i) * R + lane).copied().unwrap_or(0.0))
        }),
    })
}

/// Where a SIMD kernel's results go: `y` is `[token][row]` over `rows`.
pub(super) struct Out<'y> {
    pub y: &'y mut [f32],
    pub rows: Range<usize>,
}

impl Out<'_> {
    /// Token `t`'s results for the rows `row0..row0 + N`, of which only those in `rows` are
    /// stored (a block can reach past either end).
    #[inline(always)]
    pub fn store<const N: usize>(&mut self, t: usize, row0: usize, v: &[f32; N]) {
        let at = t * self.rows.len();
        if row0 >= self.rows.start && row0 + N <= self.rows.end {
            // A whole block, most of them: a copy of known length, which inlines (the general
            // one below is a call to `memmove`, 7 % of encoding time with the AMX kernel).
            let start = at + row0 - self.rows.start;
            let dst: &mut [f32; N] = (&mut self.y[start..start + N]).try_into().expect("N floats");
            *dst = *v;
            return;
        }
        let (lo, hi) = (self.rows.start.max(row0), self.rows.end.min(row0 + N));
        if lo < hi {
            self.y[at + lo - self.rows.start..at + hi - self.rows.start].copy_from_slice(&v[lo - row0..hi - row0]);
        }
    }
}

/// The output value from a row's exact (unbiased) integer sum: the same expression on every
/// path, so the kernels agree bit for bit.
#[inline(always)]
fn finish_plain(sum: i32, w_step: f32, x_step: f32) -> f32 {
    sum as f32 * w_step * x_step
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
    let tokens = w.quantise_input(x, kb.len() * QK, n_tokens);
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
    match w.kernel {
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Amx => amx::matmul(w, rows.clone(), kb.clone(), tokens, &mut y),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Vnni => vnni::matmul(w, rows.clone(), kb.clone(), tokens, &mut y),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::AvxVnni => avx_vnni::matmul(w, rows.clone(), kb.clone(), tokens, &mut y),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 => avx2::matmul(w, rows.clone(), kb.clone(), tokens, &mut y),
        _ => scalar_matmul(w, rows.clone(), kb.clone(), tokens, &mut y),
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
            y[t * width + j] = finish_plain(sum - tokens.offsets[t], w.scales[r], tokens.steps[t]);
        }
    }
}
