//! Evaluates the lexical NLU models on one dataset folder of JSON Lines splits and prints the
//! report: `cargo run -p lingxi-nlu --release --example nlu_eval -- /work/shared/data/banking77 [intent|oos|sentiment]`.
//!
//! Reading files is kept trivial here; all logic lives in `lingxi_nlu::eval`.

use std::path::Path;

use lingxi_nlu::eval::{evaluate, EvalConfig, Example, MahaConfig, Splits, TaskKind};
use lingxi_nlu::fused::{DenseNormKind, DenseView};
use lingxi_nlu::mahalanobis::Shrinkage;
use lingxi_nlu::mlp::MlpConfig;

#[path = "common/jsonl.rs"]
mod jsonl;

fn read_split(dir: &Path, name: &str) -> Vec<Example> {
    jsonl::read_split(dir, name).into_iter().map(|(text, label)| Example::new(text, label)).collect()
}

/// 384 little-endian f32 per line, as `embed_cache` writes them.
fn read_rows(path: &Path) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        bytes
            .chunks_exact(384 * 4)
            .map(|r| r.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            .collect(),
    )
}

/// `LX_DENSE_VIEWS=e/e+L11/avg:e+L9+L10+L11`: candidate dense blocks over the embedding (`e`)
/// and the extra views named in `LX_VIEWS` (`L9,L10,L11,cls`).
fn parse_views(spec: &str, extra: &[String]) -> Vec<DenseView> {
    spec.split('/')
        .map(|v| {
            let (average, list) = match v.strip_prefix("avg:") {
                Some(rest) => (true, rest),
                None => (false, v),
            };
            let blocks = list
                .split('+')
                .map(|b| match b {
                    "e" => 0,
                    _ => 1 + extra.iter().position(|x| x == b).unwrap_or_else(|| panic!("view {b} not in LX_VIEWS")),
                })
                .collect();
            DenseView { name: v.to_owned(), blocks, average }
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: nlu_eval DATASET_DIR [intent|oos|sentiment]");
    let dir = Path::new(&dir);
    let mut splits = Splits {
        train: read_split(dir, "train"),
        dev: read_split(dir, "dev"),
        test: read_split(dir, "test"),
        background: Vec::new(),
    };
    // LX_BACKGROUND=<dir>,<dir>: other datasets' train splits as the background (text-only
    // models, and a fused model's text-only member; copies of this dataset's texts are left out).
    if let Ok(dirs) = std::env::var("LX_BACKGROUND") {
        // LX_BACKGROUND_EMB=1 (with LX_EMB): a background set's cached embeddings
        // (`<name>.train.text.f32`) come along, so that the fused linear model may train with
        // it too (its dense block shared between the domains). Off, only the fused model's
        // text-only member sees the background.
        let extra: Vec<Example> = dirs
            .split(',')
            .filter(|d| !d.is_empty())
            .flat_map(|d| {
                let mut rows = read_split(Path::new(d), "train");
                let name = Path::new(d).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let cached = std::env::var("LX_EMB")
                    .ok()
                    .filter(|_| std::env::var("LX_BACKGROUND_EMB").is_ok_and(|v| v == "1"))
                    .and_then(|emb| read_rows(&Path::new(&emb).join(format!("{name}.train.text.f32"))))
                    .filter(|v| v.len() == rows.len());
                if let Some(vectors) = cached {
                    rows.iter_mut().zip(vectors).for_each(|(e, v)| e.dense = Some(v));
                }
                rows
            })
            .collect();
        let (s, dropped) = splits.with_background(extra);
        splits = s;
        println!(
            "background: {} examples, {dropped} left out as copies of this dataset's texts",
            splits.background.len()
        );
    }
    // LX_EMB=<dir>: sentence embeddings cached by the knowledge crate's `embed_cache` example
    // (`<dataset>.<split>.text.f32`, 384 little-endian f32 per line) turn on the fused model.
    let extra_views: Vec<String> = std::env::var("LX_VIEWS")
        .map(|v| v.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Ok(emb) = std::env::var("LX_EMB") {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (split, examples) in [("train", &mut splits.train), ("dev", &mut splits.dev), ("test", &mut splits.test)] {
            let Some(rows) = read_rows(&Path::new(&emb).join(format!("{name}.{split}.text.f32"))) else { continue };
            if rows.len() == examples.len() {
                for (e, r) in examples.iter_mut().zip(rows) {
                    e.dense = Some(r);
                }
            } else {
                eprintln!("{split}: {} embeddings for {} examples, ignored", rows.len(), examples.len());
            }
            // LX_VIEWS=L9,L10,L11,cls: extra views cached by `embed_cache --views=…`.
            for view in extra_views.iter() {
                let path = Path::new(&emb).join(format!("{name}.{split}.text.{view}.f32"));
                let rows = read_rows(&path).unwrap_or_else(|| panic!("{} missing", path.display()));
                assert_eq!(rows.len(), examples.len(), "{}", path.display());
                for (e, r) in examples.iter_mut().zip(rows) {
                    e.extra.push(r);
                }
            }
        }
    }

    let has_oos = splits.train.iter().any(|e| e.label == "oos");
    let task = match args.next().as_deref() {
        Some("sentiment") => TaskKind::Sentiment,
        Some("oos") => TaskKind::IntentWithOos { oos_label: "oos".into() },
        Some("intent") => TaskKind::Intent,
        _ if has_oos => TaskKind::IntentWithOos { oos_label: "oos".into() },
        _ => TaskKind::Intent,
    };
    let mut config = EvalConfig::for_task(&task);
    if let Some(v) = std::env::var("LX_FOLDS").ok().and_then(|v| v.parse().ok()) {
        // 0 = choose on dev alone (as before the sentiment round).
        config.tune_folds = v;
    }
    // Optional overrides for experiments, e.g. LX_C_GRID=0.5,1,2 LX_LATIN=2,5 LX_CJK=1,4.
    let floats = |v: &str| -> Vec<f32> { v.split(',').filter_map(|x| x.parse().ok()).collect() };
    let pair = |v: String| -> Option<(u8, u8)> {
        let (a, b) = v.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    if let Ok(v) = std::env::var("LX_C_GRID") {
        config.c_grid = floats(&v);
    }
    if let Some(p) = std::env::var("LX_LATIN").ok().and_then(pair) {
        config.classifier.features.latin_char_ngrams = p;
    }
    if let Some(p) = std::env::var("LX_CJK").ok().and_then(pair) {
        config.classifier.features.cjk_char_ngrams = p;
    }
    if let Some(p) = std::env::var("LX_WORD").ok().and_then(pair) {
        config.classifier.features.word_ngrams = p;
    }
    if let Ok(v) = std::env::var("LX_EPOCHS") {
        config.classifier.train.max_epochs = v.parse().unwrap_or(60);
    }
    if let Ok(v) = std::env::var("LX_OOS_RECALL") {
        config.target_oos_recall = v.parse().unwrap_or(0.7);
    }
    if let Ok(v) = std::env::var("LX_MIN_DF") {
        config.classifier.features.min_df = v.parse().unwrap_or(1);
    }
    if let Ok(v) = std::env::var("LX_DENSE_W") {
        config.dense_weights = floats(&v);
    }
    let kinds = |v: String| -> Vec<DenseNormKind> {
        v.split(',')
            .filter_map(|x| match x {
                "unit" => Some(DenseNormKind::Unit),
                "center" => Some(DenseNormKind::Centered),
                "std" => Some(DenseNormKind::Standardized),
                _ => None,
            })
            .collect()
    };
    if let Ok(v) = std::env::var("LX_DENSE_NORM") {
        config.dense_norms = kinds(v);
    }
    if let Ok(v) = std::env::var("LX_KNN_NORM") {
        config.neighbour_norms = kinds(v);
    }
    if let Ok(v) = std::env::var("LX_NB") {
        config.nb_powers = floats(&v);
    }
    if let Ok(v) = std::env::var("LX_LEXICAL") {
        config.lexical_weights = floats(&v);
    }
    // LX_ALPHAS / LX_TAUS: the neighbour vote's weights and temperatures (tau 0 = cosines added).
    if let Ok(v) = std::env::var("LX_ALPHAS") {
        config.vote_alphas = floats(&v);
    }
    if let Ok(v) = std::env::var("LX_TAUS") {
        config.vote_taus = floats(&v);
    }
    if let Ok(v) = std::env::var("LX_OOS_BETA") {
        config.oos_betas = floats(&v);
    }
    if let Ok(v) = std::env::var("LX_DENSE_VIEWS") {
        config.dense_views = parse_views(&v, &extra_views);
    }
    // LX_HEAD=512: also train the non-linear head with that many hidden units (fused tasks),
    // mixed in with a weight from LX_HEAD_W (default 0, 0.25, 0.5, 0.75, 1) chosen on dev;
    // LX_HEAD_DROPOUT, LX_HEAD_LR, LX_HEAD_EPOCHS, LX_HEAD_SEED override its defaults;
    // LX_HEAD_BAG=5 averages five heads of consecutive seeds.
    if let Some(hidden) = std::env::var("LX_HEAD").ok().and_then(|v| v.parse().ok()) {
        let mut head = MlpConfig { hidden, ..MlpConfig::default() };
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f32>().ok());
        if let Some(v) = var("LX_HEAD_DROPOUT") {
            head.dropout = v;
        }
        if let Some(v) = var("LX_HEAD_LR") {
            head.learning_rate = v;
        }
        if let Some(v) = var("LX_HEAD_EPOCHS") {
            head.max_epochs = v as usize;
        }
        if let Some(v) = std::env::var("LX_HEAD_SEED").ok().and_then(|v| v.parse().ok()) {
            head.seed = v;
        }
        if let Some(v) = var("LX_HEAD_BAG") {
            head.members = v as usize;
        }
        config.head = Some(head);
    }
    if let Some(v) = std::env::var("LX_HEAD_STOP").ok().and_then(|v| v.parse().ok()) {
        // 0 stops the head on the tuning set itself (the first runs of round 4).
        config.head_stop_fraction = v;
    }
    if let Ok(v) = std::env::var("LX_HEAD_W") {
        config.head_weights = floats(&v);
    }
    // LX_MAHA=1: also search the Mahalanobis out-of-scope detector on dev (OOS tasks with
    // embeddings): LX_MAHA_VIEWS (as LX_DENSE_VIEWS, default `e`), LX_MAHA_SHRINK (`lw` and
    // fixed shares, default lw,0.01,0.1,0.3), LX_MAHA_W (η, default 0.25,0.5,0.75,1),
    // LX_MAHA_RAW=1 (no unit-length scaling).
    if std::env::var("LX_MAHA").is_ok_and(|v| v != "0") {
        let mut maha = MahaConfig::default();
        if let Ok(v) = std::env::var("LX_MAHA_VIEWS") {
            maha.views = parse_views(&v, &extra_views);
        }
        if let Ok(v) = std::env::var("LX_MAHA_SHRINK") {
            maha.shrinkages = v
                .split(',')
                .filter_map(
                    |x| if x == "lw" { Some(Shrinkage::LedoitWolf) } else { x.parse().ok().map(Shrinkage::Fixed) },
                )
                .collect();
        }
        if let Ok(v) = std::env::var("LX_MAHA_W") {
            maha.weights = floats(&v);
        }
        maha.unit = std::env::var("LX_MAHA_RAW").is_err();
        config.mahalanobis = Some(maha);
    }
    // LX_VIEW_ENSEMBLE=1: also try the mean of one model per view in LX_DENSE_VIEWS, each at
    // its own best point (intent tasks), chosen when it beats the best single point on dev.
    config.view_ensemble = std::env::var("LX_VIEW_ENSEMBLE").is_ok_and(|v| v != "0");
    let report = evaluate(&splits, &task, &config).expect("evaluation runs");
    if std::env::var("LX_DEV_ONLY").is_ok() {
        // Exploration mode: the tuning grid and the choice, never a test number.
        for (point, score) in &report.grid {
            println!("{point}: {score:.4}");
        }
        for (view, accuracy, epochs, secs) in &report.head_probes {
            println!("head alone, view {view}: tune accuracy {accuracy:.4}, epoch {epochs}, {secs:.1} s");
        }
        // `evaluate` keeps the first of equal scores; `max_by` returns the last, hence `rev`.
        let chosen = report.grid.iter().rev().max_by(|a, b| a.1.total_cmp(&b.1));
        println!("chosen: {chosen:?} tune {:.4}", report.tune_score);
        println!("mahalanobis (view, λ, η) chosen: {:?}, beta {}", report.mahalanobis, report.oos_beta);
        println!("view ensemble chosen: {:?}", report.view_ensemble);
        println!("text-only member: {:?}", report.lexical_member);
        return;
    }
    println!("dataset: {}", dir.display());
    println!("{report:#?}");
}
