//! Fits the calibrator and thresholds the server uses for FAQ knowledge bases
//! (`decision::faq_defaults`): the server's index (`RetrievalConfig::default`, no entry
//! classifier) over the demo knowledge base, lexical and hybrid.
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
use lingxi_knowledge::eval::{answer_threshold_for_precision, labelled_kb};
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

    let mut lexical = Tuning { rankings: vec![], correct: vec![], top3: vec![], oos: vec![] };
    let mut hybrid = Tuning { rankings: vec![], correct: vec![], top3: vec![], oos: vec![] };
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
            for (t, vecs) in [(&mut lexical, None), (&mut hybrid, Some(fit_v.as_slice()))] {
                let kb = labelled_kb(&fit, vecs, lang, RetrievalConfig::default());
                let rankings = kb.rank_all(&q_text, vecs.map(|_| q_v.as_slice()));
                for (r, (_, gold)) in rankings.into_iter().zip(&queries) {
                    let ok = |e: usize| kb.labels[e] == *gold;
                    t.correct.push(r.hits.first().is_some_and(|h| ok(h.entry)));
                    t.top3.push(r.hits.iter().take(3).any(|h| ok(h.entry)));
                    t.oos.push(gold == "oos");
                    t.rankings.push(r);
                }
            }
        }
    }
    let mut fitted = Calibrator::default();
    for (name, t) in [("lexical", &lexical), ("hybrid", &hybrid)] {
        fitted = fitted.fit(&t.rankings, &t.correct);
        let conf: Vec<f32> = t.rankings.iter().map(|r| fitted.confidence(r)).collect();
        let answer = answer_threshold_for_precision(&conf, &t.correct, 0.95);
        let suggest = answer_threshold_for_precision(&conf, &t.top3, 0.9).min(answer);
        let n_in = t.oos.iter().filter(|o| !**o).count();
        println!(
            "{name}: {} queries ({} in scope, {} out of scope); top-1 {:.1} %, top-3 {:.1} % (in scope)",
            t.rankings.len(),
            n_in,
            t.rankings.len() - n_in,
            pct(t.correct.iter().zip(&t.oos).filter(|(c, o)| **c && !**o).count(), n_in),
            pct(t.top3.iter().zip(&t.oos).filter(|(c, o)| **c && !**o).count(), n_in),
        );
        let w = if name == "lexical" { fitted.lexical } else { fitted.hybrid };
        println!("  fitted weights {w:?}; answer {answer:.3} (95 % precise), suggest {suggest:.3} (right one in top 3 ≥ 90 %)");
        for p in [0.9f32, 0.85, 0.8] {
            let a = answer_threshold_for_precision(&conf, &t.correct, p);
            let s = answer_threshold_for_precision(&conf, &t.top3, p - 0.1).min(a);
            report(
                &format!("  answers {:.0} % precise, top 3 {:.0} %", p * 100.0, (p - 0.1) * 100.0),
                t,
                &fitted,
                &Thresholds::new(a, s),
            );
        }
        report("  old defaults", t, &Calibrator::default(), &Thresholds::default());
        report("  fitted      ", t, &fitted, &Thresholds::new(answer, suggest));
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
