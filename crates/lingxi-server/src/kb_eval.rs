//! `lingxi kb eval`: the FAQ-retrieval framing of a labelled intent data set. Every training
//! utterance is a phrasing of its intent's entry, every test utterance a query; top-3 counts
//! distinct entries (what a bot offering three suggestions would show). Fusion weights, the
//! calibrator and the thresholds are tuned on dev (or every 10th training utterance when there
//! is no dev split), then the index over all of train answers the test set once.
//! Lexical retrieval plus the entry classifier; the encoder path is measured by the
//! `kb_eval` example of lingxi-knowledge, which reads cached vectors.

use lingxi_knowledge::eval::{answer_threshold_for_precision, labelled_kb, score, top1_correct, RetrievalReport};
use lingxi_knowledge::{Calibrator, Filter, Lang, RetrievalConfig, Thresholds};
use std::time::Instant;

/// What the command reports.
#[derive(Debug, Clone)]
pub struct KbEvalReport {
    pub lang: Lang,
    pub n_entries: usize,
    pub n_phrasings: usize,
    pub config: RetrievalConfig,
    pub thresholds: Thresholds,
    pub retrieval: RetrievalReport,
    /// Test queries labelled `oos` (out of scope), and the share of them not answered.
    pub oos: Option<(usize, f32)>,
    /// Retrieval plus decision per query, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    pub build_secs: f64,
}

fn is_chinese(texts: &[(String, String)]) -> bool {
    let han = texts.iter().filter(|(t, _)| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))).count();
    han * 2 > texts.len()
}

/// Runs the evaluation. `progress` hears what stage it is in (the CLI prints it to stderr).
pub fn evaluate(
    train: &[(String, String)],
    dev: &[(String, String)],
    test: &[(String, String)],
    progress: &mut dyn FnMut(&str),
) -> KbEvalReport {
    let lang = if is_chinese(train) { Lang::Zh } else { Lang::En };
    // Out-of-scope utterances are no entry: they only appear as queries that should not be answered.
    let train: Vec<(String, String)> = train.iter().filter(|(_, l)| l != "oos").cloned().collect();
    let (fit, hold): (Vec<_>, Vec<_>) = if dev.is_empty() {
        let (f, h): (Vec<_>, Vec<_>) = train.iter().cloned().enumerate().partition(|(i, _)| i % 10 != 9);
        (f.into_iter().map(|x| x.1).collect(), h.into_iter().map(|x| x.1).collect())
    } else {
        (train.clone(), dev.iter().filter(|(_, l)| l != "oos").cloned().collect())
    };
    progress(&format!("tuning on {} held-out utterances", hold.len()));
    let base = RetrievalConfig::default();
    let mut kb = labelled_kb(&fit, None, lang, base);
    kb.index.train_classifier(None);
    let hq: Vec<String> = hold.iter().map(|x| x.0.clone()).collect();
    let hg: Vec<String> = hold.iter().map(|x| x.1.clone()).collect();
    let mut best = (f32::MIN, base);
    for w_lex in [0.2f32, 0.35, 0.5, 1.0] {
        for w_clf in [0.0f32, 0.5, 1.0, 2.0] {
            kb.index.set_weights(w_lex, 0.0, w_clf);
            let r = kb.rank_all(&hq, None);
            let rep = score(&kb, &r, &hg, &Calibrator::default(), &Thresholds::default());
            if rep.top1 + 0.25 * rep.top3 > best.0 {
                best = (
                    rep.top1 + 0.25 * rep.top3,
                    RetrievalConfig { w_lexical: w_lex, w_semantic: 0.0, w_classifier: w_clf, ..base },
                );
            }
        }
    }
    let config = best.1;
    kb.index.set_weights(config.w_lexical, config.w_semantic, config.w_classifier);
    let hr = kb.rank_all(&hq, None);
    let correct = top1_correct(&kb, &hr, &hg);
    let calibrator = Calibrator::default().fit(&hr, &correct);
    let conf: Vec<f32> = hr.iter().map(|r| calibrator.confidence(r)).collect();
    let answer = answer_threshold_for_precision(&conf, &correct, 0.95);
    let top3: Vec<bool> =
        hr.iter().zip(&hg).map(|(r, g)| r.hits.iter().take(3).any(|h| kb.labels[h.entry] == *g)).collect();
    let suggest = answer_threshold_for_precision(&conf, &top3, 0.98).min(answer);
    let thresholds = Thresholds::new(answer, suggest);

    progress(&format!("indexing {} training utterances", train.len()));
    let started = Instant::now();
    let mut kb = labelled_kb(&train, None, lang, config);
    if config.w_classifier > 0.0 {
        kb.index.train_classifier(None);
    }
    let build_secs = started.elapsed().as_secs_f64();
    progress(&format!("answering {} test queries", test.len()));
    let filter = Filter::at(0);
    let mut latencies = Vec::with_capacity(test.len());
    let mut rankings = Vec::with_capacity(test.len());
    for (q, _) in test {
        let t = Instant::now();
        let r = kb.index.search(q, None, &filter, 3);
        std::hint::black_box(thresholds.decide(&r, &calibrator));
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        rankings.push(r);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: usize| latencies.get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1))).copied();
    let gold: Vec<String> = test.iter().map(|x| x.1.clone()).collect();
    let oos_idx: Vec<usize> = (0..gold.len()).filter(|&i| gold[i] == "oos").collect();
    let oos = (!oos_idx.is_empty()).then(|| {
        let rejected = oos_idx
            .iter()
            .filter(|&&i| {
                matches!(thresholds.decide(&rankings[i], &calibrator), lingxi_knowledge::Decision::NotUnderstood { .. })
            })
            .count();
        (oos_idx.len(), rejected as f32 / oos_idx.len() as f32)
    });
    KbEvalReport {
        lang,
        n_entries: kb.index.entries().len(),
        n_phrasings: kb.index.n_phrasings(),
        config,
        thresholds,
        retrieval: score(&kb, &rankings, &gold, &calibrator, &thresholds),
        oos,
        p50_us: at(50).unwrap_or(0.0),
        p99_us: at(99).unwrap_or(0.0),
        build_secs,
    }
}

impl std::fmt::Display for KbEvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |x: f32| format!("{:.2} %", 100.0 * x);
        let r = &self.retrieval;
        writeln!(
            f,
            "index: {} entries, {} phrasings ({}), built in {:.2} s",
            self.n_entries,
            self.n_phrasings,
            self.lang.as_str(),
            self.build_secs
        )?;
        writeln!(
            f,
            "tuned: w_lexical {} w_classifier {}; thresholds answer {:.3} suggest {:.3}",
            self.config.w_lexical, self.config.w_classifier, self.thresholds.answer, self.thresholds.suggest
        )?;
        writeln!(f, "queries: {}", r.n)?;
        writeln!(f, "top-1: {}   top-3 (distinct intents): {}", pct(r.top1), pct(r.top3))?;
        writeln!(
            f,
            "answer: {} (precision {})   suggest: {} (right one offered {})   hand-off (not understood): {}",
            pct(r.answer_rate),
            pct(r.answer_precision),
            pct(r.suggest_rate),
            pct(r.suggest_hit),
            pct(r.not_understood_rate)
        )?;
        if let Some((n, share)) = self.oos {
            writeln!(f, "out-of-scope queries: {n}, not answered {}", pct(share))?;
        }
        write!(f, "latency (retrieval + decision): p50 {:.0} µs   p99 {:.0} µs", self.p50_us, self.p99_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rows: &[(&str, &str)]) -> Vec<(String, String)> {
        rows.iter().map(|(t, l)| (t.to_string(), l.to_string())).collect()
    }

    #[test]
    fn a_small_set_is_retrieved_and_reported() {
        let mut train = Vec::new();
        for i in 0..12 {
            train.push((format!("how do I reset my password please {i}"), "password".to_owned()));
            train.push((format!("where is my parcel delivery {i}"), "delivery".to_owned()));
            train.push((format!("cancel my card now {i}"), "card".to_owned()));
        }
        let test = set(&[
            ("reset the password", "password"),
            ("my parcel delivery is late", "delivery"),
            ("cancel card", "card"),
            ("what is the weather on mars", "oos"),
        ]);
        let r = evaluate(&train, &[], &test, &mut |_| {});
        assert_eq!(r.n_entries, 3);
        assert_eq!(r.retrieval.n, 4);
        assert!(r.retrieval.top1 >= 0.75, "{r}");
        assert_eq!(r.oos.map(|o| o.0), Some(1));
        assert!(r.to_string().contains("top-1: "));
    }
}
