//! Turns text into sparse hashed feature vectors (word uni/bigrams, jieba words, character
//! n-grams) weighted by sublinear TF × IDF and L2-normalised, plus optional dense features.
//!
//! Hashing keeps extraction allocation-light and language-agnostic; a fitted [`Vectorizer`]
//! then maps the buckets seen in training to compact columns so the model only stores
//! weights for features that exist.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// A sparse vector: strictly increasing column indices with their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    /// Column indices, strictly increasing.
    pub indices: Vec<u32>,
    /// One value per index.
    pub values: Vec<f32>,
}

impl SparseVec {
    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Squared Euclidean norm.
    pub fn norm_sq(&self) -> f32 {
        self.values.iter().map(|v| v * v).sum()
    }
}

/// What the feature extractor emits; stored inside model artifacts so a model always
/// featurises text the way it was trained.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// log2 of the number of hash buckets.
    pub hash_bits: u8,
    /// Word n-gram orders (inclusive) over the token sequence (Latin words and jieba words).
    pub word_ngrams: (u8, u8),
    /// Character n-gram orders (inclusive) inside runs of Chinese characters.
    pub cjk_char_ngrams: (u8, u8),
    /// Character n-gram orders (inclusive) inside Latin words padded with boundary marks.
    pub latin_char_ngrams: (u8, u8),
    /// Use jieba to cut Chinese runs into words.
    pub jieba_words: bool,
    /// Buckets seen in fewer training documents than this are dropped.
    pub min_df: u32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 22,
            word_ngrams: (1, 2),
            cjk_char_ngrams: (1, 4),
            latin_char_ngrams: (2, 5),
            jieba_words: true,
            min_df: 1,
        }
    }
}

/// One jieba instance for the whole process: loading its dictionary costs tens of ms.
fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

/// Han ideographs (CJK unified, extension A, compatibility, extension B).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// Lower-cases and folds full-width ASCII (Ａ１！) to half-width so both spellings share
/// features.
pub(crate) fn fold_char(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else if c.is_uppercase() {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Cjk,
    Word,
    Symbol,
    Space,
}

fn classify(c: char) -> Run {
    if is_cjk(c) {
        Run::Cjk
    } else if c.is_alphanumeric() {
        Run::Word
    } else if c.is_whitespace() || c.is_control() || c.is_ascii_punctuation() || is_cjk_punct(c) {
        Run::Space
    } else {
        // Emoji and other symbols carry sentiment; each becomes its own token.
        Run::Symbol
    }
}

fn is_cjk_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20 | 0x2010..=0x206F | 0xFE30..=0xFE4F)
        || c == '\u{FE0F}'
        || c == '\u{200D}'
}

// Namespaces keep e.g. the word "ab" and the character gram "ab" apart.
const NS_WORD: u64 = 0x9E37_79B9_7F4A_7C15;
const NS_CJK: u64 = 0xC2B2_AE3D_27D4_EB4F;
const NS_LATIN: u64 = 0x1656_67B1_9E37_79F9;
const BOUNDARY: char = '\u{1}';

#[inline]
fn mix(mut h: u64, c: char) -> u64 {
    h ^= c as u64;
    h = h.wrapping_mul(0x0000_0100_0000_01B3);
    h ^= h >> 29;
    h
}

#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

fn hash_str(ns: u64, s: &str) -> u64 {
    s.chars().fold(ns, mix)
}

/// Extracts raw hashed features; stateless apart from its configuration.
#[derive(Debug, Clone)]
pub struct Featurizer {
    config: FeatureConfig,
    mask: u64,
}

impl Featurizer {
    /// A featurizer for `config`.
    pub fn new(config: FeatureConfig) -> Self {
        let bits = config.hash_bits.clamp(8, 31);
        Self { config: FeatureConfig { hash_bits: bits, ..config }, mask: (1u64 << bits) - 1 }
    }

    /// The configuration in force.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Appends the hash buckets of `text` (with repetitions) to `out`.
    pub fn buckets(&self, text: &str, out: &mut Vec<u32>) {
        let cfg = &self.config;
        let folded: String = text.chars().map(fold_char).collect();
        // Word-level tokens are hashed, then n-grams combine the token hashes.
        let mut token_hashes: Vec<u64> = Vec::with_capacity(16);
        let mut run_start = 0usize;
        let mut run_kind = Run::Space;
        let mut chars = folded.char_indices().peekable();
        loop {
            let next = chars.next();
            let kind = next.map(|(_, c)| classify(c));
            let boundary = match (kind, run_kind) {
                (Some(k), r) => k != r || k == Run::Symbol,
                (None, _) => true,
            };
            if boundary {
                let end = next.map(|(i, _)| i).unwrap_or(folded.len());
                if end > run_start {
                    let run = &folded[run_start..end];
                    match run_kind {
                        Run::Cjk => self.cjk_run(run, &mut token_hashes, out),
                        Run::Word => self.latin_word(run, &mut token_hashes, out),
                        Run::Symbol => token_hashes.push(hash_str(NS_WORD, run)),
                        Run::Space => {}
                    }
                }
                if let (Some((i, _)), Some(k)) = (next, kind) {
                    run_start = i;
                    run_kind = k;
                }
            }
            if next.is_none() {
                break;
            }
        }
        let (lo, hi) = cfg.word_ngrams;
        let n_tok = token_hashes.len();
        for i in 0..n_tok {
            let mut h = NS_WORD;
            for n in 1..=hi as usize {
                if i + n > n_tok {
                    break;
                }
                h = h.rotate_left(17) ^ token_hashes[i + n - 1];
                h = h.wrapping_mul(0x0000_0100_0000_01B3);
                if n >= lo as usize {
                    out.push((finish(h ^ n as u64) & self.mask) as u32);
                }
            }
        }
        if out.is_empty() && !text.is_empty() {
            // Non-empty text with no recognisable token still gets one stable feature.
            out.push((finish(NS_WORD ^ 0xE) & self.mask) as u32);
        }
    }

    fn char_grams(&self, ns: u64, chars: &[char], (lo, hi): (u8, u8), out: &mut Vec<u32>) {
        for i in 0..chars.len() {
            let mut h = ns;
            for n in 1..=hi as usize {
                if i + n > chars.len() {
                    break;
                }
                h = mix(h, chars[i + n - 1]);
                if n >= lo as usize {
                    out.push((finish(h) & self.mask) as u32);
                }
            }
        }
    }

    fn cjk_run(&self, run: &str, tokens: &mut Vec<u64>, out: &mut Vec<u32>) {
        let chars: Vec<char> = run.chars().collect();
        if self.config.cjk_char_ngrams.1 > 0 {
            self.char_grams(NS_CJK, &chars, self.config.cjk_char_ngrams, out);
        }
        if self.config.jieba_words && chars.len() > 1 {
            for t in jieba().cut(run, true) {
                tokens.push(hash_str(NS_WORD, t.word));
            }
        } else {
            for c in &chars {
                tokens.push(mix(NS_WORD, *c));
            }
        }
    }

    fn latin_word(&self, word: &str, tokens: &mut Vec<u64>, out: &mut Vec<u32>) {
        tokens.push(hash_str(NS_WORD, word));
        let (lo, hi) = self.config.latin_char_ngrams;
        if hi > 0 {
            let mut chars: Vec<char> = Vec::with_capacity(word.len() + 2);
            chars.push(BOUNDARY);
            chars.extend(word.chars());
            chars.push(BOUNDARY);
            self.char_grams(NS_LATIN, &chars, (lo, hi), out);
        }
    }
}

/// Identity hasher: buckets are already well-mixed hashes.
#[derive(Default, Clone, Copy)]
pub(crate) struct BucketHasher(u64);

impl Hasher for BucketHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type BucketMap = HashMap<u32, u32, BuildHasherDefault<BucketHasher>>;

/// A fitted TF-IDF vectoriser: known buckets → columns with IDF weights, then an optional
/// block of dense features appended after the sparse columns.
#[derive(Debug, Clone)]
pub struct Vectorizer {
    featurizer: Featurizer,
    /// Sorted buckets; column `i` is `buckets[i]`.
    buckets: Vec<u32>,
    columns: BucketMap,
    idf: Vec<f32>,
    dense_dim: u32,
    /// Scale applied to the L2-normalised dense block relative to the sparse block.
    dense_weight: f32,
}

impl Vectorizer {
    /// Fits bucket columns and IDF on `texts` (documents with `min_df` support or more).
    pub fn fit<S: AsRef<str>>(config: FeatureConfig, texts: &[S]) -> Self {
        let featurizer = Featurizer::new(config);
        let mut df: HashMap<u32, u32, BuildHasherDefault<BucketHasher>> = HashMap::default();
        let mut buf = Vec::new();
        for t in texts {
            buf.clear();
            featurizer.buckets(t.as_ref(), &mut buf);
            buf.sort_unstable();
            buf.dedup();
            for b in &buf {
                *df.entry(*b).or_insert(0) += 1;
            }
        }
        let min_df = featurizer.config.min_df.max(1);
        let mut kept: Vec<(u32, u32)> = df.into_iter().filter(|(_, d)| *d >= min_df).collect();
        kept.sort_unstable();
        let n = texts.len() as f32;
        let buckets: Vec<u32> = kept.iter().map(|(b, _)| *b).collect();
        let idf = kept.iter().map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0).collect();
        Self::from_parts(featurizer.config, buckets, idf, 0, 1.0)
    }

    pub(crate) fn from_parts(
        config: FeatureConfig,
        buckets: Vec<u32>,
        idf: Vec<f32>,
        dense_dim: u32,
        dense_weight: f32,
    ) -> Self {
        let columns = buckets.iter().enumerate().map(|(i, b)| (*b, i as u32)).collect();
        Self { featurizer: Featurizer::new(config), buckets, columns, idf, dense_dim, dense_weight }
    }

    /// Declares a dense block of `dim` features (e.g. a sentence embedding) appended after the
    /// sparse columns, scaled by `weight` after L2 normalisation.
    pub fn with_dense(mut self, dim: u32, weight: f32) -> Self {
        self.dense_dim = dim;
        self.dense_weight = weight;
        self
    }

    /// Feature configuration.
    pub fn config(&self) -> &FeatureConfig {
        self.featurizer.config()
    }

    pub(crate) fn buckets_sorted(&self) -> &[u32] {
        &self.buckets
    }

    pub(crate) fn idf(&self) -> &[f32] {
        &self.idf
    }

    /// Number of sparse columns.
    pub fn n_sparse(&self) -> u32 {
        self.buckets.len() as u32
    }

    /// Dimension of the dense block (0 when none).
    pub fn dense_dim(&self) -> u32 {
        self.dense_dim
    }

    pub(crate) fn dense_weight(&self) -> f32 {
        self.dense_weight
    }

    /// Total number of columns (sparse + dense).
    pub fn n_columns(&self) -> u32 {
        self.n_sparse() + self.dense_dim
    }

    /// Keeps only the columns whose `keep` flag is set (used to prune an artifact).
    pub(crate) fn retain_columns(&mut self, keep: &[bool]) {
        let mut buckets = Vec::new();
        let mut idf = Vec::new();
        for (i, k) in keep.iter().enumerate().take(self.buckets.len()) {
            if *k {
                buckets.push(self.buckets[i]);
                idf.push(self.idf[i]);
            }
        }
        *self = Self::from_parts(self.featurizer.config.clone(), buckets, idf, self.dense_dim, self.dense_weight);
    }

    /// Sparse TF-IDF vector of `text`; `dense` (if the vectoriser has a dense block) is
    /// appended. A dense slice of the wrong length is ignored rather than trusted.
    pub fn transform(&self, text: &str, dense: Option<&[f32]>) -> SparseVec {
        let mut buf = Vec::with_capacity(64);
        self.featurizer.buckets(text, &mut buf);
        let mut cols: Vec<u32> = buf.iter().filter_map(|b| self.columns.get(b).copied()).collect();
        cols.sort_unstable();
        let mut v = SparseVec { indices: Vec::with_capacity(cols.len()), values: Vec::with_capacity(cols.len()) };
        let mut i = 0;
        while i < cols.len() {
            let c = cols[i];
            let mut j = i;
            while j < cols.len() && cols[j] == c {
                j += 1;
            }
            let tf = 1.0 + ((j - i) as f32).ln();
            v.indices.push(c);
            v.values.push(tf * self.idf[c as usize]);
            i = j;
        }
        let norm = v.norm_sq().sqrt();
        if norm > 0.0 {
            v.values.iter_mut().for_each(|x| *x /= norm);
        }
        if let Some(d) = dense.filter(|d| d.len() == self.dense_dim as usize && !d.is_empty()) {
            let dn = d.iter().filter(|x| x.is_finite()).map(|x| x * x).sum::<f32>().sqrt();
            if dn > 0.0 {
                let base = self.n_sparse();
                for (j, x) in d.iter().enumerate() {
                    if x.is_finite() && *x != 0.0 {
                        v.indices.push(base + j as u32);
                        v.values.push(x / dn * self.dense_weight);
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_case_share_features() {
        let f = Featurizer::new(FeatureConfig::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.buckets("ＯＲＤＥＲ status", &mut a);
        f.buckets("order Status", &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn tfidf_vectors_are_unit_length() {
        let v = Vectorizer::fit(FeatureConfig::default(), &["我要退货", "where is my order"]);
        let x = v.transform("我要退货 where", None);
        assert!((x.norm_sq() - 1.0).abs() < 1e-4);
        assert!(x.indices.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(v.transform("", None).nnz(), 0);
    }
}
