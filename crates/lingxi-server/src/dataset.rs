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

/// Sentence embeddings ("query: " prefix) of `texts`, in order. With a cache folder, the
/// vectors are kept in `<cache>/<sha256 of the texts>.f32` (384 little-endian f32 per text,
/// appended as they are computed, so an interrupted run resumes where it stopped).
pub fn embed_texts(
    enc: &lingxi_encoder::Encoder,
    texts: &[String],
    cache: Option<&Path>,
    label: &str,
) -> anyhow::Result<Vec<Vec<f32>>> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let dim = enc.dim();
    let mut h = Sha256::new();
    // Never resume or reuse int8 vectors as f32 ones or the reverse.
    if let Some(tag) = enc.arithmetic().vectors_tag() {
        h.update(tag.as_bytes());
        h.update([0u8]);
    }
    for t in texts {
        h.update(t.as_bytes());
        h.update([0u8]);
    }
    let file = cache.map(|d| d.join(format!("{}.f32", hex::encode(h.finalize()))));
    let mut rows: Vec<Vec<f32>> = match &file {
        Some(f) => std::fs::read(f)
            .unwrap_or_default()
            .chunks_exact(dim * 4)
            .map(|r| r.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            .take(texts.len())
            .collect(),
        None => Vec::new(),
    };
    let mut out = match &file {
        Some(f) => {
            if let Some(d) = f.parent() {
                std::fs::create_dir_all(d)?;
            }
            Some(std::fs::OpenOptions::new().create(true).append(true).open(f)?)
        }
        None => None,
    };
    let started = std::time::Instant::now();
    let done_before = rows.len();
    for chunk in texts[rows.len()..].chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for v in enc.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, &refs) {
            if let Some(w) = out.as_mut() {
                w.write_all(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())?;
            }
            rows.push(v);
        }
        if (rows.len() - done_before) % 640 < 32 {
            eprintln!(
                "  {label}: {} / {} embedded ({:.0} s)",
                rows.len(),
                texts.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(rows)
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
