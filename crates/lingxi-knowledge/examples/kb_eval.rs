//! Evaluation of retrieval and matching on `/work/shared/data/<name>/*.jsonl`.
//!
//! `kb_eval intent <data_dir>/<name> [emb_dir]`: FAQ-retrieval framing (entry = intent, train utterances are
//! phrasings, test utterances are queries); fusion weights, calibration and thresholds tuned on a 10 %
//! slice of train; reports top-1/top-3, decision rates and latency of retrieval + decision.
//! `kb_eval pair <data_dir>/<name> [emb_dir]`: question matching; lcqmc fits on dev and scores test,
//! afqmc fits on train and scores dev. Embeddings come from `embed_cache` files when present; with them, the
//! pair network (`pair::PairNet`, logistic or one hidden layer) is trained on the fit split minus whole
//! topics held out, its setting, epoch and threshold chosen on those, and scored once.
//! `KB_EVAL_NET="hidden,epochs,l2,lr"` replaces the candidate settings with one.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use lingxi_knowledge::eval::{answer_threshold_for_precision, labelled_kb, score, top1_correct};
use lingxi_knowledge::pair::{
    held_out_by_topic, pair_features, IdfTable, NetConfig, NetFit, PairInput, PairModel, PairNet, N_PAIR_FEATURES,
};
use lingxi_knowledge::text::Analyzer;
use lingxi_knowledge::{Calibrator, Filter, Lang, RetrievalConfig, Thresholds};

type Rows = Vec<serde_json::Value>;

fn read(dir: &Path, split: &str) -> Rows {
    let Ok(f) = std::fs::File::open(dir.join(format!("{split}.jsonl"))) else { return Vec::new() };
    std::io::BufReader::new(f).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect()
}

/// Cached vectors for `n` lines (None unless the cache covers at least `n` lines).
fn vectors(emb: Option<&Path>, name: &str, split: &str, field: &str, n: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(emb?.join(format!("{name}.{split}.{field}.f32"))).ok()?;
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (v.len() / 384 >= n).then(|| v.chunks_exact(384).take(n).map(<[f32]>::to_vec).collect())
}

fn cached_len(emb: Option<&Path>, name: &str, split: &str, field: &str) -> usize {
    emb.and_then(|e| std::fs::metadata(e.join(format!("{name}.{split}.{field}.f32"))).ok())
        .map_or(0, |m| m.len() as usize / (384 * 4))
}

fn label(v: &serde_json::Value) -> String {
    match &v["label"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pct(x: f32) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn intent(dir: &Path, emb: Option<&Path>) {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let train = read(dir, "train");
    let test = read(dir, "test");
    let lang = if name == "cais" || name.starts_with("smp") { Lang::Zh } else { Lang::En };
    // out-of-scope examples are not an FAQ entry: they only appear as queries that should not be answered
    let train: Rows = train.into_iter().filter(|v| label(v) != "oos").collect();
    let tr: Vec<(String, String)> =
        train.iter().map(|v| (v["text"].as_str().unwrap_or("").to_owned(), label(v))).collect();
    let te_q: Vec<String> = test.iter().map(|v| v["text"].as_str().unwrap_or("").to_owned()).collect();
    let te_g: Vec<String> = test.iter().map(label).collect();
    let tr_v = vectors(emb, &name, "train", "text", tr.len());
    let te_v = vectors(emb, &name, "test", "text", te_q.len());
    let (tr_v, te_v) = match (tr_v, te_v) {
        (Some(a), Some(b)) => (Some(a), Some(b)),
        _ => (None, None),
    };
    let semantic = tr_v.is_some();
    println!("dataset {name}: {} train, {} test, semantic vectors: {semantic}", tr.len(), te_q.len());
    // tuning split: the dev split when it exists and has vectors like train, else every 10th training example
    let dev = read(dir, "dev");
    let dev_v = vectors(emb, &name, "dev", "text", dev.len());
    let use_dev = !dev.is_empty() && (!semantic || dev_v.is_some());
    let (mut fit, mut hold, mut fit_v, mut hold_v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if use_dev {
        hold = dev.iter().map(|v| (v["text"].as_str().unwrap_or("").to_owned(), label(v))).collect();
        hold_v = dev_v.clone().unwrap_or_default();
        println!("tuning on dev ({})", hold.len());
    }
    for (i, ex) in tr.iter().enumerate() {
        let v = tr_v.as_ref().map(|v| v[i].clone());
        if i % 10 == 9 && !use_dev {
            hold.push(ex.clone());
            hold_v.extend(v);
        } else {
            fit.push(ex.clone());
            fit_v.extend(v);
        }
    }
    let base = RetrievalConfig::default();
    let mut kb = labelled_kb(&fit, semantic.then_some(&fit_v[..]), lang, base);
    let t = Instant::now();
    let ordered = semantic.then(|| kb.vectors_in_order(&fit_v));
    kb.index.train_classifier(ordered.as_deref());
    println!("tuning classifier trained in {:.1} s", t.elapsed().as_secs_f32());
    let hq: Vec<String> = hold.iter().map(|x| x.0.clone()).collect();
    let hg: Vec<String> = hold.iter().map(|x| x.1.clone()).collect();
    let w_sem = if semantic { 1.0 } else { 0.0 };
    let mut best = (f32::MIN, base);
    // KB_EVAL_WEIGHTS="w_lex,w_clf" replays a grid point chosen earlier instead of the whole grid.
    let fixed: Option<(f32, f32)> = std::env::var("KB_EVAL_WEIGHTS").ok().and_then(|v| {
        let (a, b) = v.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    let lex_grid: Vec<f32> = fixed.map_or(vec![0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5], |f| vec![f.0]);
    let clf_grid: Vec<f32> = fixed.map_or(vec![0.0, 0.25, 0.5, 1.0, 2.0], |f| vec![f.1]);
    for &w_lex in &lex_grid {
        for &w_clf in &clf_grid {
            if !semantic && w_lex == 0.0 {
                continue;
            }
            kb.index.set_weights(w_lex, w_sem, w_clf);
            let r = kb.rank_all(&hq, semantic.then_some(&hold_v[..]));
            let rep = score(&kb, &r, &hg, &Calibrator::default(), &Thresholds::default());
            println!(
                "  tune w_lex {w_lex:.2} w_sem {w_sem:.1} w_clf {w_clf:.2}: top1 {} top3 {}",
                pct(rep.top1),
                pct(rep.top3)
            );
            if rep.top1 + 0.25 * rep.top3 > best.0 {
                best = (
                    rep.top1 + 0.25 * rep.top3,
                    RetrievalConfig { w_lexical: w_lex, w_semantic: w_sem, w_classifier: w_clf, ..base },
                );
            }
        }
    }
    let cfg = best.1;
    kb.index.set_weights(cfg.w_lexical, cfg.w_semantic, cfg.w_classifier);
    let hr = kb.rank_all(&hq, semantic.then_some(&hold_v[..]));
    let correct = top1_correct(&kb, &hr, &hg);
    let cal = Calibrator::default().fit(&hr, &correct);
    let conf: Vec<f32> = hr.iter().map(|r| cal.confidence(r)).collect();
    let answer = answer_threshold_for_precision(&conf, &correct, 0.95);
    let top3: Vec<bool> =
        hr.iter().zip(&hg).map(|(r, g)| r.hits.iter().take(3).any(|h| kb.labels[h.entry] == *g)).collect();
    let suggest = answer_threshold_for_precision(&conf, &top3, 0.98).min(answer);
    let th = Thresholds::new(answer, suggest);
    println!(
        "chosen: w_lex {} w_sem {} w_clf {}; calibrator {:?}; thresholds answer {:.3} suggest {:.3}",
        cfg.w_lexical,
        cfg.w_semantic,
        cfg.w_classifier,
        if semantic { cal.hybrid } else { cal.lexical },
        th.answer,
        th.suggest
    );
    // final: index all train, score test once
    let t = Instant::now();
    let mut kb = labelled_kb(&tr, tr_v.as_deref(), lang, cfg);
    let build_lex = t.elapsed();
    let ordered = tr_v.as_ref().map(|v| kb.vectors_in_order(v));
    if cfg.w_classifier > 0.0 {
        kb.index.train_classifier(ordered.as_deref());
    }
    println!(
        "index: {} entries, {} phrasings; build {:.2} s (+ classifier {:.1} s)",
        kb.index.entries().len(),
        kb.index.n_phrasings(),
        build_lex.as_secs_f32(),
        (t.elapsed() - build_lex).as_secs_f32()
    );
    let f = Filter::at(0);
    let mut lat = Vec::with_capacity(te_q.len());
    let mut rankings = Vec::with_capacity(te_q.len());
    for (i, q) in te_q.iter().enumerate() {
        let v = te_v.as_ref().map(|v| v[i].as_slice());
        let t = Instant::now();
        let r = kb.index.search(q, v, &f, 3);
        std::hint::black_box(th.decide(&r, &cal));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        rankings.push(r);
    }
    lat.sort_by(f64::total_cmp);
    let oos: Vec<usize> = (0..te_g.len()).filter(|&i| te_g[i] == "oos").collect();
    if !oos.is_empty() {
        let rejected = oos
            .iter()
            .filter(|&&i| matches!(th.decide(&rankings[i], &cal), lingxi_knowledge::Decision::NotUnderstood { .. }))
            .count();
        println!(
            "out-of-scope test queries: {} — not understood {}",
            oos.len(),
            pct(rejected as f32 / oos.len() as f32)
        );
    }
    let rep = score(&kb, &rankings, &te_g, &cal, &th);
    println!(
        "TEST {name}: top1 {} top3 {} | answer {} (precision {}) suggest {} (hit {}) not-understood {} | retrieval+decision p50 {:.0} us p99 {:.0} us",
        pct(rep.top1),
        pct(rep.top3),
        pct(rep.answer_rate),
        pct(rep.answer_precision),
        pct(rep.suggest_rate),
        pct(rep.suggest_hit),
        pct(rep.not_understood_rate),
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
}

fn pairs(rows: &Rows, n: usize) -> Vec<(String, String, bool)> {
    rows.iter()
        .take(n)
        .map(|v| {
            (
                v["text_a"].as_str().unwrap_or("").to_owned(),
                v["text_b"].as_str().unwrap_or("").to_owned(),
                v["label"].as_i64() == Some(1),
            )
        })
        .collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

type Feats = Vec<[f32; N_PAIR_FEATURES]>;

fn featurize(
    an: &Analyzer,
    idf: &IdfTable,
    ps: &[(String, String, bool)],
    va: Option<&[Vec<f32>]>,
    vb: Option<&[Vec<f32>]>,
) -> (Feats, Vec<bool>) {
    let xs = ps
        .iter()
        .enumerate()
        .map(|(i, (a, b, _))| {
            let c = va.zip(vb).map(|(va, vb)| cos(&va[i], &vb[i]));
            pair_features(an, idf, a, b, c)
        })
        .collect();
    (xs, ps.iter().map(|p| p.2).collect())
}

fn pair(dir: &Path, emb: Option<&Path>) {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let (fit_split, eval_split) = if name == "afqmc" { ("train", "dev") } else { ("dev", "test") };
    let fit_rows = read(dir, fit_split);
    let eval_rows = read(dir, eval_split);
    let an = Analyzer::default();
    // how many fit / eval pairs have vectors (caches may cover a prefix only)
    let cached = |split: &str| cached_len(emb, &name, split, "text_a").min(cached_len(emb, &name, split, "text_b"));
    let fit_n_v = Some(cached(fit_split).min(fit_rows.len())).filter(|&n| n >= 500);
    let eval_n_v = cached(eval_split).min(eval_rows.len());
    println!(
        "dataset {name}: fit on {fit_split} ({}), score {eval_split} ({}); pairs with vectors: fit {fit_n_v:?}, eval {eval_n_v}",
        fit_rows.len(),
        eval_rows.len()
    );
    for semantic in [false, true] {
        if semantic && (fit_n_v.is_none() || eval_n_v < 500) {
            println!("  (semantic run skipped: embeddings not cached)");
            continue;
        }
        let n_fit = if semantic { fit_n_v.unwrap_or(0) } else { fit_rows.len() };
        let fp = pairs(&fit_rows, n_fit);
        let ep = pairs(&eval_rows, if semantic { eval_n_v } else { eval_rows.len() });
        let texts: Vec<&str> = fp.iter().flat_map(|p| [p.0.as_str(), p.1.as_str()]).collect();
        let idf = IdfTable::fit(&an, &texts);
        let (fva, fvb) = if semantic {
            (vectors(emb, &name, fit_split, "text_a", n_fit), vectors(emb, &name, fit_split, "text_b", n_fit))
        } else {
            (None, None)
        };
        let (eva, evb) = if semantic {
            (vectors(emb, &name, eval_split, "text_a", ep.len()), vectors(emb, &name, eval_split, "text_b", ep.len()))
        } else {
            (None, None)
        };
        let (xs, ys) = featurize(&an, &idf, &fp, fva.as_deref(), fvb.as_deref());
        // fit on 80 % of the fit split, choose the threshold on the other 20 %, then refit on all with that threshold
        let cut = xs.len() * 4 / 5;
        let mut m = PairModel::fit(&xs[..cut], &ys[..cut]);
        let tune_acc = m.tune_threshold(&xs[cut..], &ys[cut..]);
        let threshold = m.threshold;
        let mut m = PairModel::fit(&xs, &ys);
        m.threshold = threshold;
        let (ex, ey) = featurize(&an, &idf, &ep, eva.as_deref(), evb.as_deref());
        let acc = ex.iter().zip(&ey).filter(|(x, &y)| m.matches(x) == y).count() as f32 / ey.len().max(1) as f32;
        let cos_only = eva.as_ref().zip(evb.as_ref()).map(|(a, b)| {
            // cosine alone with the threshold chosen on the fit split
            let fc: Vec<f32> = xs.iter().map(|x| x[0]).collect();
            let best = (50..100)
                .map(|i| i as f32 / 100.0)
                .max_by_key(|t| fc.iter().zip(&ys).filter(|(c, &y)| (**c >= *t) == y).count())
                .unwrap_or(0.8);
            a.iter().zip(b).zip(&ey).filter(|((a, b), &y)| (cos(a, b) >= best) == y).count() as f32 / ey.len() as f32
        });
        println!(
            "TEST {name} {} ({} fit pairs, {} {eval_split} pairs): accuracy {} (threshold {threshold:.2}, tuning-slice acc {}){}",
            if semantic { "hybrid" } else { "lexical" },
            n_fit,
            ep.len(),
            pct(acc),
            pct(tune_acc),
            cos_only.map_or(String::new(), |c| format!("; e5 cosine alone {}", pct(c)))
        );
        if let (Some(fa), Some(fb), Some(ea), Some(eb)) = (&fva, &fvb, &eva, &evb) {
            // The pair read together (`embed_cache … <split>:text_a+text_b`), when cached.
            const CROSS: &str = "text_a+text_b";
            let cross =
                vectors(emb, &name, fit_split, CROSS, n_fit).zip(vectors(emb, &name, eval_split, CROSS, ep.len()));
            let cross = cross.as_ref().map(|(f, e)| (f.as_slice(), e.as_slice()));
            network(&name, eval_split, (&xs, &ys, fa, fb), (&ex, &ey, ea, eb), cross);
        }
    }
}

type Split<'a> = (&'a Feats, &'a [bool], &'a [Vec<f32>], &'a [Vec<f32>]);
/// The cross embeddings of the fit and the scored split.
type Cross<'a> = Option<(&'a [Vec<f32>], &'a [Vec<f32>])>;

fn inputs(xs: &Feats, va: &[Vec<f32>], vb: &[Vec<f32>], cross: Option<&[Vec<f32>]>) -> Vec<PairInput> {
    let plain =
        xs.iter().zip(va).zip(vb).map(|((x, a), b)| PairInput::new(x, a, b).expect("cached vectors are finite"));
    match cross {
        None => plain.collect(),
        Some(c) => plain.zip(c).map(|(x, c)| x.with_cross(c).expect("cached vectors are finite")).collect(),
    }
}

/// Candidate settings: logistic models with strong to weak L2 at two learning rates, and one hidden
/// layer of 64 units;
/// `KB_EVAL_NET="hidden,epochs,l2,lr"` replaces the list with one setting.
fn net_configs() -> Vec<NetConfig> {
    let d = NetConfig::default();
    let logistic = |l2, learning_rate| NetConfig { hidden: 0, l2, learning_rate, ..d };
    let Ok(v) = std::env::var("KB_EVAL_NET") else {
        let mut grid: Vec<NetConfig> =
            [0.1, 0.01, 0.001].into_iter().flat_map(|l2| [logistic(l2, 3e-3), logistic(l2, 3e-4)]).collect();
        grid.push(d);
        return grid;
    };
    let p: Vec<&str> = v.split(',').collect();
    let get = |i: usize| p.get(i).and_then(|x| x.parse::<f32>().ok());
    vec![NetConfig {
        hidden: get(0).map_or(d.hidden, |x| x as usize),
        epochs: get(1).map_or(d.epochs, |x| x as usize),
        l2: get(2).unwrap_or(d.l2),
        learning_rate: get(3).unwrap_or(d.learning_rate),
        ..d
    }]
}

/// The pair network: the inputs (with or without the cross embedding, when cached), the setting and
/// its epoch and threshold are chosen on whole topics held out of the fit split
/// (`pair::held_out_by_topic` over the first questions' vectors, 50 clusters, about 10 %), the model
/// is fitted on the rest, and the scored split is scored once.
fn network(name: &str, eval_split: &str, fit: Split, eval: Split, cross: Cross) {
    let held = held_out_by_topic(fit.2, 50, 0.1);
    let t = Instant::now();
    let mut best: Option<(bool, NetConfig, NetFit)> = None;
    let variants: &[bool] = if cross.is_some() { &[false, true] } else { &[false] };
    for &with_cross in variants {
        let all = inputs(fit.0, fit.2, fit.3, cross.filter(|_| with_cross).map(|c| c.0));
        let pick = |h: bool| -> (Vec<PairInput>, Vec<bool>) {
            all.iter().zip(fit.1).zip(&held).filter(|(_, &x)| x == h).map(|((x, &y), _)| (x.clone(), y)).unzip()
        };
        let ((fx, fy), (hx, hy)) = (pick(false), pick(true));
        for cfg in net_configs() {
            match PairNet::train(&fx, &fy, &hx, &hy, &cfg) {
                Ok(f) => {
                    println!(
                        "  network cross {with_cross} hidden {} l2 {} lr {}: topic-held-out acc {} (epoch {}, threshold {:.2})",
                        cfg.hidden,
                        cfg.l2,
                        cfg.learning_rate,
                        pct(f.held_out_accuracy),
                        f.epoch,
                        f.net.threshold
                    );
                    if best.as_ref().is_none_or(|b| f.held_out_accuracy > b.2.held_out_accuracy) {
                        best = Some((with_cross, cfg, f));
                    }
                }
                Err(e) => println!("  network hidden {} l2 {}: not trained: {e}", cfg.hidden, cfg.l2),
            }
        }
    }
    let Some((with_cross, cfg, fitted)) = best else { return };
    let train_secs = t.elapsed().as_secs_f32();
    let n_held = held.iter().filter(|h| **h).count();
    let ex = inputs(eval.0, eval.2, eval.3, cross.filter(|_| with_cross).map(|c| c.1));
    let t = Instant::now();
    let hits = ex.iter().zip(eval.1).filter(|(x, &y)| fitted.net.matches(x) == Ok(y)).count();
    let per_pair_us = t.elapsed().as_secs_f64() * 1e6 / ex.len().max(1) as f64;
    println!(
        "TEST {name} network ({} fit pairs, {n_held} held out by topic; {eval_split} {}): accuracy {} | chosen cross \
         {with_cross} {cfg:?}; epoch {}, threshold {:.2}, held-out acc {}; all settings trained in {train_secs:.0} s, \
         {per_pair_us:.1} us per pair",
        held.len() - n_held,
        ex.len(),
        pct(hits as f32 / ex.len().max(1) as f32),
        fitted.epoch,
        fitted.net.threshold,
        pct(fitted.held_out_accuracy)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(&args[1]);
    let emb = args.get(2).map(Path::new);
    match args[0].as_str() {
        "intent" => intent(dir, emb),
        "pair" => pair(dir, emb),
        other => eprintln!("unknown mode {other}: use intent or pair"),
    }
}
