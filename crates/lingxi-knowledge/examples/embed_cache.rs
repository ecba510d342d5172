//! Development helper: embeds the texts of `/work/shared/data/<name>/<split>.jsonl` with e5 ("query: " prefix)
//! into `<out_dir>/<name>.<split>.<field>.f32` (little-endian f32, 384 per line, in line order), so evaluations
//! do not re-encode. Usage: `embed_cache [--views=L8,L11,cls] [--budget=N] <out_dir> <limit_lines> <name>/<split>:<field>[:limit]...`.
//!
//! `--views` also stores, from the same forward pass, the mean hidden state after each named layer
//! (`L<k>`, 0..=12) and the last layer's first-token state (`cls`), not normalised, in
//! `<name>.<split>.<field>.<view>.f32` (same layout).
//!
//! The vectors are in the arithmetic the encoder picks (int8 on AVX-512 VNNI CPUs, else f32;
//! `LINGXI_ENCODER_ARITHMETIC` overrides): keep one directory per arithmetic, since a resumed
//! file would otherwise mix the two.
//!
//! A field `a+b` encodes the named fields joined by a space as one text (a question pair read
//! together, for a cross representation of the pair).
//!
//! `--budget=N` encodes each text as the bot encodes a customer message: at most
//! `N` tokens (`Encoder::encode_query_features_within`, the `[knowledge] query_max_tokens` budget),
//! one text per forward pass.
//!
//! `--prefix=passage` encodes with e5's "passage: " prefix instead of "query: " and appends
//! `.passage` to every file name before `.f32` (a second forward pass over the same text, as a
//! view: `LX_VIEWS=passage` in `nlu_eval`).

use std::io::{BufRead, Write};

/// A stored view: its file suffix (`""` for the embedding) and what it is.
enum View {
    Embedding,
    Layer(usize),
    Cls,
}

impl View {
    fn suffix(&self) -> String {
        match self {
            View::Embedding => String::new(),
            View::Layer(k) => format!(".L{k}"),
            View::Cls => ".cls".into(),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut views = vec![View::Embedding];
    let mut budget = None;
    let mut passage = false;
    // Leading `--name=value` options, in any order.
    while let Some((name, value)) = args.first().and_then(|a| a.strip_prefix("--")?.split_once('=')) {
        match name {
            "views" => {
                for v in value.split(',') {
                    match v.strip_prefix('L') {
                        Some(k) => views.push(View::Layer(k.parse()?)),
                        None if v == "cls" => views.push(View::Cls),
                        None => return Err(format!("unknown view {v:?} (L<k> or cls)").into()),
                    }
                }
            }
            "budget" => {
                let n = value.parse()?;
                budget = Some(lingxi_encoder::QueryTokens::new(n).map_err(|e| format!("budget {}", e.0))?);
            }
            "prefix" if value == "passage" => passage = true,
            _ => return Err(format!("unknown option --{name}={value} (--views, --budget, --prefix=passage)").into()),
        }
        args.remove(0);
    }
    let out_dir = std::path::PathBuf::from(&args[0]);
    let limit: usize = args[1].parse()?;
    std::fs::create_dir_all(&out_dir)?;
    let enc = lingxi_encoder::Encoder::load_default()?.with_threads(1);
    let layers: Vec<usize> =
        views.iter().filter_map(|v| if let View::Layer(k) = v { Some(*k) } else { None }).collect();
    let spec = lingxi_encoder::FeatureSpec::new(&layers, views.iter().any(|v| matches!(v, View::Cls)), enc.n_layers())?;
    let row_bytes = 384 * 4;
    let (prefix, tag) =
        if passage { (lingxi_encoder::PASSAGE_PREFIX, ".passage") } else { (lingxi_encoder::QUERY_PREFIX, "") };
    if passage && budget.is_some() {
        return Err("--prefix=passage encodes whole texts; drop --budget".into());
    }
    for spec_arg in &args[2..] {
        let mut parts = spec_arg.split(':');
        let path = parts.next().unwrap_or_default();
        let field = parts.next().ok_or("spec is name/split:field[:limit]")?;
        let limit = parts.next().map(str::parse).transpose()?.unwrap_or(limit);
        let (name, split) = path.split_once('/').ok_or("spec is name/split:field")?;
        let outs: Vec<std::path::PathBuf> =
            views.iter().map(|v| out_dir.join(format!("{name}.{split}.{field}{}{tag}.f32", v.suffix()))).collect();
        let file = std::fs::File::open(format!("/work/shared/data/{name}/{split}.jsonl"))?;
        let mut texts = Vec::new();
        for line in std::io::BufReader::new(file).lines().take(limit) {
            let v: serde_json::Value = serde_json::from_str(&line?)?;
            let parts: Vec<&str> = field.split('+').map(|f| v[f].as_str().unwrap_or("")).collect();
            texts.push(parts.join(" "));
        }
        // Resume from the shortest file, cutting the others back to it (whole rows only).
        let done = outs
            .iter()
            .map(|o| std::fs::metadata(o).map(|m| m.len() as usize / row_bytes).unwrap_or(0))
            .min()
            .unwrap_or(0);
        if done >= texts.len() {
            eprintln!("{spec_arg}: cached");
            continue;
        }
        let mut writers = Vec::new();
        for o in &outs {
            let w = std::fs::OpenOptions::new().create(true).append(true).open(o)?;
            w.set_len((done * row_bytes) as u64)?;
            writers.push(std::io::BufWriter::new(w));
        }
        let t0 = std::time::Instant::now();
        for (i, chunk) in texts[done..].chunks(32).enumerate() {
            let features = match budget {
                Some(b) => chunk.iter().map(|t| enc.encode_query_features_within(t, b, &spec).features).collect(),
                None => {
                    let prefixed: Vec<String> = chunk.iter().map(|t| format!("{prefix}{t}")).collect();
                    let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
                    enc.encode_batch_features(&refs, &spec)
                }
            };
            for f in features {
                let mut layer_means = f.layer_means.iter();
                for (view, w) in views.iter().zip(&mut writers) {
                    let v = match view {
                        View::Embedding => &f.embedding,
                        View::Layer(_) => layer_means.next().ok_or("missing layer mean")?,
                        View::Cls => f.first_token.as_ref().ok_or("missing first token")?,
                    };
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    w.write_all(&bytes)?;
                }
            }
            if i % 20 == 0 {
                eprintln!("{spec_arg}: {} / {} in {:?}", done + (i + 1) * 32, texts.len(), t0.elapsed());
            }
        }
        for w in &mut writers {
            w.flush()?;
        }
        let n = texts.len() - done;
        eprintln!(
            "{spec_arg}: {n} texts in {:?} ({:.2} ms per text)",
            t0.elapsed(),
            t0.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    }
    Ok(())
}
