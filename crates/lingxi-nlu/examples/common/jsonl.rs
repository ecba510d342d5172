//! The dataset layout the examples read: `<dir>/<split>.jsonl`, one `{"text", "label"}` object a
//! line (a numeric label is read as its digits). Shared by the examples through `#[path]`,
//! since the library itself does no I/O.

use std::path::Path;

/// (text, label) of every line of `<dir>/<split>.jsonl`; empty when the file is absent.
pub fn read_split(dir: &Path, split: &str) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join(format!("{split}.jsonl"))) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("valid JSON line");
            let label = match &v["label"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (v["text"].as_str().unwrap_or_default().to_string(), label)
        })
        .collect()
}
