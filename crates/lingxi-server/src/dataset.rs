//! Labelled data sets as JSON Lines (`{"text": …, "label": …}` per line, in `train.jsonl`,
//! `dev.jsonl`, `test.jsonl`): the one reader of the evaluation commands (`nlu eval`, `kb eval`).
//! The core crates read no files, so the reader lives here at the edge.

use anyhow::anyhow;
use std::path::Path;

/// Reads `<dir>/<split>.jsonl` as `(text, label)` pairs; a missing file is an empty split.
/// Non-string labels (numbers) are kept as their JSON text.
pub fn read_split(dir: &Path, split: &str) -> anyhow::Result<Vec<(String, String)>> {
    let path = dir.join(format!("{split}.jsonl"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    parse_jsonl(&text).map_err(|(line, m)| anyhow!("{}:{line}: {m}", path.display()))
}

/// Parses JSON Lines text; the error names the 1-based line.
pub fn parse_jsonl(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| (i + 1, format!("not JSON: {e}")))?;
        let text = v["text"].as_str().ok_or_else(|| (i + 1, "no \"text\" string".to_owned()))?;
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return Err((i + 1, "no \"label\"".into())),
            other => other.to_string(),
        };
        out.push((text.to_owned(), label));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_names_the_bad_one() {
        let ok = parse_jsonl("{\"text\":\"hi\",\"label\":\"greet\"}\n\n{\"text\":\"x\",\"label\":3}\n").unwrap();
        assert_eq!(ok, vec![("hi".into(), "greet".into()), ("x".into(), "3".into())]);
        assert_eq!(parse_jsonl("{\"text\":\"a\",\"label\":\"b\"}\n{\"label\":1}").unwrap_err().0, 2);
        assert_eq!(parse_jsonl("nope").unwrap_err().0, 1);
    }
}
