//! Loader robustness: typed errors for missing, corrupt and unsupported files, and no panic on arbitrary bytes.

mod common;

use lingxi_encoder::{Encoder, EncoderError};
use proptest::prelude::*;

/// A small but complete E5S1 image: 1 layer, hidden 32, 1 head, ffn 32, 8 pieces.
fn tiny_model() -> Vec<u8> {
    let (h, ff, vocab, maxp) = (32usize, 32usize, 8usize, 8usize);
    let mut b = Vec::new();
    b.extend_from_slice(b"E5S1");
    b.extend_from_slice(&1u32.to_le_bytes());
    for v in [h, 1, 1, ff, vocab, maxp, 2] {
        b.extend_from_slice(&(v as i32).to_le_bytes());
    }
    b.extend_from_slice(&1e-12f32.to_le_bytes());
    b.extend_from_slice(&32i32.to_le_bytes());
    let pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u{2581}", "a", "\u{2581}a", "b"];
    for v in [pieces.len(), 0, 2, 1, 3] {
        b.extend_from_slice(&(v as i32).to_le_bytes());
    }
    let blob: Vec<u8> = pieces.concat().into_bytes();
    b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    b.extend_from_slice(&off.to_le_bytes());
    for p in pieces {
        off += p.len() as u32;
        b.extend_from_slice(&off.to_le_bytes());
    }
    for s in [0.0f32, 0.0, 0.0, 0.0, -2.0, -3.0, -1.0, -4.0] {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b.extend_from_slice(&blob);
    // normaliser: U+0009 -> ' '
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&9u32.to_le_bytes());
    b.extend_from_slice(&9u32.to_le_bytes());
    b.push(1);
    b.extend_from_slice(&0x20u32.to_le_bytes());
    // tensors
    let mut tensors: Vec<(String, u8, usize)> = vec![
        ("emb.word".into(), 1, vocab * h),
        ("emb.pos".into(), 0, maxp * h),
        ("emb.type".into(), 0, 2 * h),
        ("emb.ln.w".into(), 0, h),
        ("emb.ln.b".into(), 0, h),
    ];
    for (n, d, c) in [
        ("q.w", 1, h * h),
        ("q.b", 0, h),
        ("k.w", 1, h * h),
        ("k.b", 0, h),
        ("v.w", 1, h * h),
        ("v.b", 0, h),
        ("ao.w", 1, h * h),
        ("ao.b", 0, h),
        ("aln.w", 0, h),
        ("aln.b", 0, h),
        ("fi.w", 1, ff * h),
        ("fi.b", 0, ff),
        ("fo.w", 1, h * ff),
        ("fo.b", 0, h),
        ("oln.w", 0, h),
        ("oln.b", 0, h),
    ] {
        tensors.push((format!("l0.{n}"), d, c));
    }
    let nbytes = |d: u8, c: usize| if d == 0 { c * 4 } else { c / 32 * 18 };
    let dir_len: usize = 4 + tensors.iter().map(|(n, _, _)| 2 + n.len() + 1 + 4 + 16).sum::<usize>();
    let mut data_off = b.len() + dir_len;
    b.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    for (n, d, c) in &tensors {
        b.extend_from_slice(&(n.len() as u16).to_le_bytes());
        b.extend_from_slice(n.as_bytes());
        b.push(*d);
        b.extend_from_slice(&(*c as u32).to_le_bytes());
        b.extend_from_slice(&(data_off as u64).to_le_bytes());
        b.extend_from_slice(&(nbytes(*d, *c) as u64).to_le_bytes());
        data_off += nbytes(*d, *c);
    }
    for (i, (_, d, c)) in tensors.iter().enumerate() {
        if *d == 0 {
            for j in 0..*c {
                let v = if i == 3 { 1.0f32 } else { ((i * 31 + j * 7) % 13) as f32 / 13.0 - 0.5 };
                b.extend_from_slice(&v.to_le_bytes());
            }
        } else {
            for blk in 0..c / 32 {
                b.extend_from_slice(&0x2c00u16.to_le_bytes()); // 0.0625
                b.extend((0..16).map(|j| ((blk * 5 + j * 3 + i) % 256) as u8));
            }
        }
    }
    b
}

#[test]
fn tiny_synthetic_model_loads_and_encodes() {
    let enc = Encoder::from_bytes(&tiny_model()).expect("tiny model loads");
    assert_eq!(enc.dim(), 32);
    assert_eq!(enc.tokenizer().encode("a b"), vec![6, 4, 7]);
    assert_eq!(enc.tokenizer().encode("a\tz"), vec![6, 4, 3]);
    assert_eq!(enc.tokenizer().encode_with_specials("a a a a a a a", 5), vec![0, 6, 6, 6, 2]);
    for text in ["", "a", "a b a b a b a b a b a b", "zzz"] {
        let v = enc.encode(text);
        assert_eq!(v.len(), 32);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}: norm {norm}");
    }
    let batch = enc.encode_batch(&["a", "a b a b a b a b a b a b"]);
    assert_eq!(batch[0], enc.encode("a"));
}

#[test]
fn missing_file_is_not_found() {
    let err = Encoder::load("/nonexistent/e5-small-q4.bin").unwrap_err();
    assert!(matches!(err, EncoderError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("fetch-model.sh"));
}

#[test]
fn streamed_file_load_equals_in_memory_load() {
    let bytes = tiny_model();
    let dir = std::env::temp_dir().join(format!("lingxi-encoder-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.bin");
    std::fs::write(&path, &bytes).unwrap();
    let from_file = Encoder::load(&path).expect("tiny model loads from a file");
    let in_memory = Encoder::from_bytes(&bytes).unwrap();
    assert_eq!(from_file.encode("a b a"), in_memory.encode("a b a"));
    for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(Encoder::load(&path).is_err(), "cut at {cut}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_is_an_io_error() {
    let err = Encoder::load(env!("CARGO_MANIFEST_DIR")).unwrap_err();
    assert!(matches!(err, EncoderError::Io { .. }), "{err}");
}

#[test]
fn wrong_magic_version_and_truncation_are_typed() {
    let good = tiny_model();
    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"GGUF");
    assert!(matches!(Encoder::from_bytes(&bad), Err(EncoderError::BadMagic { .. })));
    let mut v2 = good.clone();
    v2[4] = 2;
    assert!(matches!(Encoder::from_bytes(&v2), Err(EncoderError::UnsupportedVersion(2))));
    assert!(matches!(Encoder::from_bytes(&good[..100]), Err(EncoderError::Truncated { .. })));
    assert!(matches!(Encoder::from_bytes(&good[..good.len() - 1]), Err(EncoderError::Corrupt(_))));
    assert!(matches!(Encoder::from_bytes(&[]), Err(EncoderError::BadMagic { .. })));
    let mut block = good.clone();
    block[40..44].copy_from_slice(&64i32.to_le_bytes()); // quant block size
    assert!(matches!(Encoder::from_bytes(&block), Err(EncoderError::Unsupported(_))));
}

#[test]
fn renamed_tensor_is_reported_missing() {
    let mut b = tiny_model();
    let pos = b.windows(7).position(|w| w == b"l0.fo.w").unwrap();
    b[pos + 3] = b'x';
    match Encoder::from_bytes(&b) {
        Err(EncoderError::MissingTensor(name)) => assert_eq!(name, "l0.fo.w"),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn real_model_rejects_every_truncation_point() {
    let Some(path) = common::model_path() else {
        eprintln!("SKIPPED: real model absent");
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    for cut in [0, 3, 8, 50, 1000, 4_000_000, 4_638_000, 60_000_000, bytes.len() - 1] {
        assert!(Encoder::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Encoder::from_bytes(&bytes);
    }

    #[test]
    fn valid_prefix_then_garbage_never_panics(cut in 0usize..4000, garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut b = tiny_model();
        let cut = cut.min(b.len());
        b.truncate(cut);
        b.extend(garbage);
        let _ = Encoder::from_bytes(&b);
    }

    #[test]
    fn single_byte_corruption_never_panics(idx in 0usize..100_000, byte in any::<u8>()) {
        let mut b = tiny_model();
        let i = idx % b.len();
        b[i] = byte;
        if let Ok(enc) = Encoder::from_bytes(&b) {
            let v = enc.encode("a b zz");
            prop_assert_eq!(v.len(), enc.dim());
        }
    }

    #[test]
    fn tokenizer_never_panics_and_roundtrips_pieces(text in "\\PC{0,40}") {
        let enc = Encoder::from_bytes(&tiny_model()).unwrap();
        let ids = enc.tokenizer().encode(&text);
        prop_assert!(ids.iter().all(|&id| (id as usize) < enc.tokenizer().vocab_size()));
    }
}
