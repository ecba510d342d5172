//! Fits the calibrator and thresholds the server uses for FAQ knowledge bases
//! (`decision::faq_defaults`) and its fusion weights (`RetrievalConfig::faq`): a grid of fusion
//! weights over the demo knowledge base's held-out folds, chosen by top-1 then by the utility
//! of the answers (right − λ · wrong), the calibrator refitted and thresholds set for the
//! chosen weights; lexical and hybrid.
//!
//! Tuning queries: each demo entry's similar phrasings held out in turn (fold j holds out
//! phrasing j of every entry that has one; the index holds the others), plus out-of-scope
//! messages from dev splits only: clinc150 dev `oos` (English) and every 4th smp2017_ecdt_task1
//! dev utterance (Chinese assistant requests: apps, weather, chat…, none about a shop).
//! No test split is read.
//!
//! Usage: `cargo run -p lingxi-knowledge --example faq_calibrate [-- --probe TEXT...]`
//! (vectors cached in `$TMPDIR/lingxi-faq-vectors.json`; `--probe` prints the lexical and the
//! hybrid top 3 of the whole demo knowledge base for each text instead).

use std::collections::HashMap;
use std::io::BufRead;

use lingxi_knowledge::decision::{faq_defaults, Calibrator, Decision, Thresholds};
use lingxi_knowledge::eval::{answer_threshold_for_precision, labelled_kb, LabelledKb};
use lingxi_knowledge::{Filter, KnowledgeIndex, Lang, Ranking, RetrievalConfig};

type Vectors = HashMap<String, Vec<f32>>;

fn read_dev(path: &str, keep: impl Fn(usize, &serde_json::Value) -> bool) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .enumerate()
        .filter_map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(&l).ok()?;
            keep(i, &v).then(|| v["text"].as_str().unwrap_or("").to_owned())
        })
        .filter(|t| !t.trim().is_empty())
        .collect()
}

fn encode_missing(cache: &mut Vectors, texts: &[String], path: &std::path::Path) {
    let missing: Vec<&str> = texts.iter().map(String::as_str).filter(|t| !cache.contains_key(*t)).collect();
    if missing.is_empty() {
        return;
    }
    let enc = lingxi_encoder::Encoder::load_default().expect("model file (scripts/fetch-model.sh)");
    let t0 = std::time::Instant::now();
    for chunk in missing.chunks(16) {
        for (t, v) in chunk.iter().zip(enc.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, chunk)) {
            cache.insert((*t).to_owned(), v);
        }
    }
    eprintln!("encoded {} texts in {:.1} s", missing.len(), t0.elapsed().as_secs_f32());
    std::fs::write(path, serde_json::to_vec(cache).expect("json")).expect("write vector cache");
}

struct Tuning {
    rankings: Vec<Ranking>,
    correct: Vec<bool>,
    top3: Vec<bool>,
    oos: Vec<bool>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cache_path = std::env::temp_dir().join("lingxi-faq-vectors.json");
    let mut cache: Vectors =
        std::fs::read(&cache_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let entries = lingxi_knowledge::demo::demo_entries().entries;
    let all_phrasings: Vec<String> =
        entries.iter().flat_map(|e| e.phrasings().map(|q| q.as_str().to_owned())).collect();

    if args.first().map(String::as_str) == Some("--probe") {
        let probes = args[1..].to_vec();
        encode_missing(&mut cache, &[all_phrasings.clone(), probes.clone()].concat(), &cache_path);
        let vecs: Vec<Vec<f32>> = all_phrasings.iter().map(|t| cache[t].clone()).collect();
        let index = KnowledgeIndex::build(
            entries.clone(),
            lingxi_knowledge::text::Analyzer::default(),
            Some(&vecs),
            RetrievalConfig::default(),
        );
        for p in &probes {
            for (mode, qv) in [("lexical", None), ("hybrid", Some(cache[p].as_slice()))] {
                let r = index.search(p, qv, &Filter::at(0), 3);
                let (cal, th) = faq_defaults(r.semantic_used);
                let tops: Vec<String> = r
                    .hits
                    .iter()
                    .map(|h| format!("{} ({:.2} lex {:.2})", index.entries()[h.entry].id(), h.score, h.lexical))
                    .collect();
                println!("{p} [{mode}] conf {:.3} {:?}: {}", cal.confidence(&r), th.decide(&r, &cal), tops.join(", "));
            }
        }
        return;
    }

    let oos_en = read_dev("/work/shared/data/clinc150/dev.jsonl", |_, v| v["label"] == "oos");
    let oos_zh = read_dev("/work/shared/data/smp2017_ecdt_task1/dev.jsonl", |i, _| i % 4 == 0);
    encode_missing(&mut cache, &[all_phrasings, oos_en.clone(), oos_zh.clone()].concat(), &cache_path);

    // The folds' knowledge bases, built once; the grid below only changes fusion weights.
    let mut folds: Vec<Fold> = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        let oos = if lang == Lang::Zh { &oos_zh } else { &oos_en };
        for fold in 1..=3usize {
            let (mut fit, mut hold) = (Vec::new(), Vec::new());
            for e in entries.iter().filter(|e| e.lang() == lang) {
                for (i, q) in e.phrasings().enumerate() {
                    let row = (q.as_str().to_owned(), e.id().to_string());
                    if i == fold {
                        hold.push(row);
                    } else {
                        fit.push(row);
                    }
                }
            }
            // Out-of-scope messages are spread over the folds, each asked once.
            let mut queries: Vec<(String, String)> = hold;
            queries.extend(oos.iter().skip(fold - 1).step_by(3).map(|t| (t.clone(), "oos".to_owned())));
            let fit_v: Vec<Vec<f32>> = fit.iter().map(|(t, _)| cache[t].clone()).collect();
            let q_text: Vec<String> = queries.iter().map(|q| q.0.clone()).collect();
            let q_v: Vec<Vec<f32>> = q_text.iter().map(|t| cache[t].clone()).collect();
            let lexical = labelled_kb(&fit, None, lang, RetrievalConfig::default());
            let mut hybrid = labelled_kb(&fit, Some(&fit_v), lang, RetrievalConfig::default());
            let ordered = hybrid.vectors_in_order(&fit_v);
            hybrid.index.train_classifier(Some(&ordered));
            folds.push(Fold { lexical, hybrid, q_text, q_v, gold: queries.into_iter().map(|q| q.1).collect() });
        }
    }
    // The server's fusion before this grid (w_lex 0.35, w_sem 1, no classifier).
    let base = RetrievalConfig { w_classifier: 0.0, ..RetrievalConfig::default() };
    let lexical = tune(&mut folds, false, base);
    let hybrid = tune(&mut folds, true, base);
    let mut fitted = Calibrator::default();
    for (name, t) in [("lexical", &lexical), ("hybrid", &hybrid)] {
        fitted = fitted.fit(&t.rankings, &t.correct);
        let conf: Vec<f32> = t.rankings.iter().map(|r| fitted.confidence(r)).collect();
        let answer = answer_threshold_for_precision(&conf, &t.correct, 0.95);
        let suggest = answer_threshold_for_precision(&conf, &t.top3, 0.9).min(answer);
        let n_in = t.oos.iter().filter(|o| !**o).count();
        println!(
            "{name} (w_lex {}, w_sem {}, no classifier): {} queries ({} in scope, {} out of scope); top-1 {:.1} %, top-3 {:.1} % (in scope)",
            base.w_lexical,
            base.w_semantic,
            t.rankings.len(),
            n_in,
            t.rankings.len() - n_in,
            t.top1(),
            t.top3(),
        );
        let w = if name == "lexical" { fitted.lexical } else { fitted.hybrid };
        println!("  fitted weights {w:?}; answer {answer:.3} (95 % precise), suggest {suggest:.3} (right one in top 3 ≥ 90 %)");
        report("  old defaults", t, &Calibrator::default(), &Thresholds::default());
        report("  fitted      ", t, &fitted, &Thresholds::new(answer, suggest));
        if name == "lexical" {
            report("  in use      ", t, &faq_defaults(false).0, &faq_defaults(false).1);
        }
        let th = operating_point(t, &fitted);
        report(&format!("  utility λ={PENALTY}"), t, &fitted, &th);
    }

    // Fusion grid (hybrid). w_lex stays at the default so that lexical scores, and with them
    // the lexical calibrator and the lexical demo behaviour, do not move; only the ratio of
    // the weights matters to the ranking, so varying w_sem covers it.
    println!("\nfusion grid (hybrid; calibrator refitted per cell, answer threshold by utility, λ = {PENALTY}):");
    println!("  w_lex  w_sem  w_clf   top-1   top-3   answered  right  wrong(in+oos)  utility");
    let mut cells: Vec<(f32, f32, RetrievalConfig)> = Vec::new();
    for w_clf in [0.0f32, 0.5, 1.0] {
        for w_sem in [0.5f32, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0] {
            let cfg = RetrievalConfig { w_semantic: w_sem, w_classifier: w_clf, ..base };
            let t = tune(&mut folds, true, cfg);
            let cal = Calibrator::default().fit(&t.rankings, &t.correct);
            let th = operating_point(&t, &cal);
            let o = outcome(&t, &cal, &th);
            println!(
                "  {:.2}   {w_sem:<5}  {w_clf:<5}  {:5.1} %  {:5.1} %  {:5}     {:5}  {:5}          {:6.1}",
                cfg.w_lexical,
                t.top1(),
                t.top3(),
                o.answered,
                o.right,
                o.wrong,
                o.utility()
            );
            cells.push((t.top1(), o.utility(), cfg));
        }
    }
    // Chosen by held-out top-1, then by utility among the cells within 0.5 point (two queries)
    // of the best; on equal utility the earlier cell wins, so the classifier (an extra model
    // to train per build in the server) is taken only when it earns its place.
    let best_top1 = cells.iter().map(|c| c.0).fold(0f32, f32::max);
    let mut best: Option<(f32, f32, RetrievalConfig)> = None;
    for c in cells.into_iter().filter(|c| c.0 >= best_top1 - 0.5) {
        if best.as_ref().is_none_or(|b| c.1 > b.1) {
            best = Some(c);
        }
    }
    let Some((_, _, chosen)) = best else { return };
    let t = tune(&mut folds, true, chosen);
    let cal = Calibrator::default().fit(&t.rankings, &t.correct);
    let th = operating_point(&t, &cal);
    println!(
        "\nchosen: w_lex {} w_sem {} w_clf {}; hybrid weights {:?}; answer {:.3}, suggest {:.3}",
        chosen.w_lexical, chosen.w_semantic, chosen.w_classifier, cal.hybrid, th.answer, th.suggest
    );
    report("  chosen      ", &t, &cal, &th);
    let t = tune(&mut folds, true, RetrievalConfig::faq());
    let (cal, th) = faq_defaults(true);
    report("  in use (RetrievalConfig::faq, faq_defaults)", &t, &cal, &th);
}

/// Penalty of a wrong answer (in scope but the wrong entry, or any answer out of scope) in
/// units of a right one: a wrong answer misleads the customer and costs a second question, a
/// suggestion or "not understood" costs only the second question. Answering pays when the
/// calibrated confidence exceeds λ / (1 + λ) = 2/3.
const PENALTY: f32 = 2.0;

struct Fold {
    lexical: LabelledKb,
    hybrid: LabelledKb,
    q_text: Vec<String>,
    q_v: Vec<Vec<f32>>,
    gold: Vec<String>,
}

fn tune(folds: &mut [Fold], semantic: bool, cfg: RetrievalConfig) -> Tuning {
    let mut t = Tuning { rankings: vec![], correct: vec![], top3: vec![], oos: vec![] };
    for f in folds {
        let kb = if semantic { &mut f.hybrid } else { &mut f.lexical };
        kb.index.set_weights(cfg.w_lexical, cfg.w_semantic, cfg.w_classifier);
        let rankings = kb.rank_all(&f.q_text, semantic.then_some(f.q_v.as_slice()));
        for (r, gold) in rankings.into_iter().zip(&f.gold) {
            let ok = |e: usize| kb.labels[e] == *gold;
            t.correct.push(r.hits.first().is_some_and(|h| ok(h.entry)));
            t.top3.push(r.hits.iter().take(3).any(|h| ok(h.entry)));
            t.oos.push(gold == "oos");
            t.rankings.push(r);
        }
    }
    t
}

struct Outcome {
    answered: usize,
    right: usize,
    wrong: usize,
}

impl Outcome {
    fn utility(&self) -> f32 {
        self.right as f32 - PENALTY * self.wrong as f32
    }
}

fn outcome(t: &Tuning, cal: &Calibrator, th: &Thresholds) -> Outcome {
    let mut o = Outcome { answered: 0, right: 0, wrong: 0 };
    for (i, r) in t.rankings.iter().enumerate() {
        if let Decision::Answer { .. } = th.decide(r, cal) {
            o.answered += 1;
            if t.correct[i] && !t.oos[i] {
                o.right += 1;
            } else {
                o.wrong += 1;
            }
        }
    }
    o
}

/// The answer threshold that maximises right answers − λ · wrong answers over the tuning
/// queries (in scope and out of scope); the suggest threshold is the lowest confidence at which
/// the right entry is among the three offered for ≥ 75 % of the queries at or above it, out of
/// scope ones included (capped at answer).
fn operating_point(t: &Tuning, cal: &Calibrator) -> Thresholds {
    let mut scored: Vec<(f32, f32)> = t
        .rankings
        .iter()
        .enumerate()
        .map(|(i, r)| (cal.confidence(r), if t.correct[i] && !t.oos[i] { 1.0 } else { -PENALTY }))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut sum, mut best, mut answer) = (0f32, 0f32, 1.0f32);
    for (c, u) in &scored {
        sum += u;
        if sum > best {
            best = sum;
            answer = *c;
        }
    }
    // Out-of-scope queries count as offers without the right entry (t.top3 is false for them).
    let conf: Vec<f32> = t.rankings.iter().map(|r| cal.confidence(r)).collect();
    let suggest = answer_threshold_for_precision(&conf, &t.top3, 0.75);
    Thresholds::new(answer, suggest)
}

impl Tuning {
    fn in_scope(&self, v: &[bool]) -> f32 {
        let n = self.oos.iter().filter(|o| !**o).count();
        pct(v.iter().zip(&self.oos).filter(|(c, o)| **c && !**o).count(), n)
    }
    fn top1(&self) -> f32 {
        self.in_scope(&self.correct)
    }
    fn top3(&self) -> f32 {
        self.in_scope(&self.top3)
    }
}

fn pct(a: usize, n: usize) -> f32 {
    100.0 * a as f32 / n.max(1) as f32
}

fn report(name: &str, t: &Tuning, cal: &Calibrator, th: &Thresholds) {
    let (mut ans, mut ans_ok, mut sug, mut sug_ok, mut nu, mut oos_nu, mut oos_ans) = (0, 0, 0, 0, 0, 0, 0);
    for i in 0..t.rankings.len() {
        let d = th.decide(&t.rankings[i], cal);
        if t.oos[i] {
            oos_nu += usize::from(matches!(d, Decision::NotUnderstood { .. }));
            oos_ans += usize::from(matches!(d, Decision::Answer { .. }));
            continue;
        }
        match d {
            Decision::Answer { .. } => {
                ans += 1;
                ans_ok += usize::from(t.correct[i]);
            }
            Decision::Suggest { .. } => {
                sug += 1;
                sug_ok += usize::from(t.top3[i]);
            }
            Decision::NotUnderstood { .. } => nu += 1,
        }
    }
    let n_in = t.oos.iter().filter(|o| !**o).count();
    let n_oos = t.oos.len() - n_in;
    println!(
        "{name} (answer {:.3} / suggest {:.3}): in scope answered {:.1} % ({:.1} % right), suggested {:.1} % (right one offered {:.1} %), not understood {:.1} %; out of scope not understood {:.1} %, answered {:.1} %",
        th.answer,
        th.suggest,
        pct(ans, n_in),
        pct(ans_ok, ans),
        pct(sug, n_in),
        pct(sug_ok, sug),
        pct(nu, n_in),
        pct(oos_nu, n_oos),
        pct(oos_ans, n_oos),
    );
}
