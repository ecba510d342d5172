//! Dev-only exploration grid for the two-class sentiment models (never reads a test split):
//! feature sets × term weighting × NB-SVM scaling (power, re-normalisation, interpolation β)
//! × C, then probability-averaging ensembles of the best point of each feature set.
//!
//! `cargo run -p lingxi-nlu --release --example senti_grid -- /work/shared/data/chnsenticorp`
//! with `LX_FEATS=name:key=value,...;...` (keys: cjk=1-4 word=1-2 latin=2-5 bits=22 df=1
//! jieba=1), `LX_C=0.25,0.5,1`, `LX_NB=0,0.5,1`, `LX_BETA=1,0.5`, `LX_RENORM=0,1`,
//! `LX_ALPHA=1` (NB smoothing), `LX_EPOCHS`, `LX_TOL`, `LX_CV=4` (adds four folds of train).

use std::path::Path;
use std::time::Instant;

use lingxi_nlu::classifier::{fit_temperature, softmax, LinearModel, TrainConfig};
use lingxi_nlu::features::{FeatureConfig, SparseVec, Vectorizer};

/// (text, 1 for positive).
type Labelled = Vec<(String, u32)>;

#[path = "common/jsonl.rs"]
mod jsonl;
#[path = "common/nb.rs"]
mod nb;
use nb::nb_ratio;

fn read(dir: &Path, split: &str) -> Labelled {
    assert_ne!(split, "test", "this grid never reads test");
    let rows = jsonl::read_split(dir, split);
    assert!(!rows.is_empty(), "split {split} present");
    rows.into_iter().map(|(text, label)| (text, u32::from(label == "1"))).collect()
}

fn list(var: &str, default: &str) -> Vec<f32> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').filter_map(|x| x.parse().ok()).collect()
}

fn pair(v: &str) -> (u8, u8) {
    let (a, b) = v.split_once('-').expect("a-b");
    (a.parse().expect("number"), b.parse().expect("number"))
}

fn feature_sets() -> Vec<(String, FeatureConfig)> {
    let spec = std::env::var("LX_FEATS").unwrap_or_else(|_| "base:".into());
    spec.split(';')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (name, kvs) = s.split_once(':').unwrap_or((s, ""));
            let mut f = FeatureConfig::default();
            for kv in kvs.split(',').filter(|x| !x.is_empty()) {
                let (k, v) = kv.split_once('=').expect("key=value");
                match k {
                    "cjk" => f.cjk_char_ngrams = pair(v),
                    "word" => f.word_ngrams = pair(v),
                    "latin" => f.latin_char_ngrams = pair(v),
                    "bits" => f.hash_bits = v.parse().expect("bits"),
                    "df" => f.min_df = v.parse().expect("df"),
                    "jieba" => f.jieba_words = v == "1",
                    _ => panic!("unknown key {k}"),
                }
            }
            (name.to_string(), f)
        })
        .collect()
}

fn scaled(xs: &[SparseVec], s: &[f32], renorm: bool, k: f32) -> Vec<SparseVec> {
    xs.iter()
        .map(|x| {
            let mut v = x.clone();
            v.values.iter_mut().zip(&v.indices).for_each(|(a, j)| *a *= s[*j as usize]);
            let norm = if renorm { v.norm_sq().sqrt().max(1e-12) } else { 1.0 / k };
            v.values.iter_mut().for_each(|a| *a /= norm);
            v
        })
        .collect()
}

fn dot(w: &[f32], x: &SparseVec) -> f32 {
    x.indices.iter().zip(&x.values).map(|(j, v)| w[*j as usize] * v).sum()
}

/// Every grid point of one feature set on one (train, eval) task: (point name, eval margins).
fn grid(f: &FeatureConfig, name: &str, train: &[(String, u32)], eval: &[(String, u32)]) -> Vec<(String, Vec<f32>)> {
    let ys: Vec<u32> = train.iter().map(|e| e.1).collect();
    let (cs, powers, betas) = (list("LX_C", "0.25,0.5,1,2"), list("LX_NB", "0,0.5,1"), list("LX_BETA", "1,0.75,0.5"));
    let renorms: Vec<bool> = list("LX_RENORM", "0,1").iter().map(|v| *v != 0.0).collect();
    let texts: Vec<&str> = train.iter().map(|e| e.0.as_str()).collect();
    let vec = Vectorizer::fit(f.clone(), &texts);
    let xs: Vec<SparseVec> = texts.iter().map(|t| vec.transform(t, None)).collect();
    let dx: Vec<SparseVec> = eval.iter().map(|e| vec.transform(&e.0, None)).collect();
    let n = vec.n_sparse() as usize;
    let r = nb_ratio(&xs, &ys, n, list("LX_ALPHA", "1")[0] as f64);
    let mut out = Vec::new();
    for p in &powers {
        let s: Vec<f32> = r.iter().map(|v| v.signum() * v.abs().powf(*p)).collect();
        // Without NB scaling the rows are already unit length: one variant only.
        let variants: &[bool] = if *p == 0.0 { &[false] } else { &renorms };
        for renorm in variants {
            // Without re-normalising, keep the mean squared row norm at 1 so C means the same.
            let k = {
                let (a, b): (f64, f64) = xs.iter().fold((0.0, 0.0), |(a, b), x| {
                    let sc: f64 =
                        x.indices.iter().zip(&x.values).map(|(j, v)| f64::from(v * s[*j as usize]).powi(2)).sum();
                    (a + sc, b + f64::from(x.norm_sq()))
                });
                (b / a.max(1e-12)).sqrt() as f32
            };
            let (sx, sdx) = (scaled(&xs, &s, *renorm, k), scaled(&dx, &s, *renorm, k));
            for c in &cs {
                let mut cfg = TrainConfig { c: *c, ..TrainConfig::default() };
                if let Some(e) = list("LX_EPOCHS", "").first() {
                    cfg.max_epochs = *e as u32;
                }
                if let Some(t) = list("LX_TOL", "").first() {
                    cfg.tolerance = *t;
                }
                let m = LinearModel::train(&sx, &ys, n as u32, 2, &cfg);
                let (w, b) = (m.weights(), m.bias()[0]);
                let wbar = w.iter().map(|v| v.abs()).sum::<f32>() / n.max(1) as f32;
                for beta in betas.iter().filter(|bt| **bt == 1.0 || *p > 0.0) {
                    let margins: Vec<f32> = sdx
                        .iter()
                        .map(|x| {
                            let sum: f32 = x.values.iter().sum();
                            beta * dot(w, x) + (1.0 - beta) * wbar * sum + b
                        })
                        .collect();
                    out.push((format!("{name} nb {p} renorm {} C {c} beta {beta}", u8::from(*renorm)), margins));
                }
            }
        }
    }
    out
}

fn accuracy(margins: &[f32], ys: &[u32]) -> f64 {
    let ok = margins.iter().zip(ys).filter(|(m, y)| (**m > 0.0) == (**y == 1)).count();
    ok as f64 / ys.len().max(1) as f64 * 100.0
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: senti_grid DATASET_DIR");
    let dir = Path::new(&dir);
    let (train, dev) = (read(dir, "train"), read(dir, "dev"));
    // Tasks: (train on, evaluate on). Dev first; LX_CV=k adds k folds of train (a fold's model
    // never sees the fold), so choices rest on more than one small dev split.
    let mut tasks: Vec<(Labelled, Labelled)> = vec![(train.clone(), dev.clone())];
    let k: usize = std::env::var("LX_CV").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for fold in 0..k {
        let (mut fit, mut held) = (Vec::new(), Vec::new());
        for (i, e) in train.iter().enumerate() {
            // A fixed interleaving: the files are not sorted by label or source.
            if (i * 7919) % k == fold {
                held.push(e.clone());
            } else {
                fit.push(e.clone());
            }
        }
        tasks.push((fit, held));
    }
    let gold: Vec<u32> = tasks.iter().flat_map(|(_, e)| e.iter().map(|x| x.1)).collect();
    let n_dev = dev.len();
    // Point → margins over every task's eval examples, concatenated in task order.
    let mut all: Vec<(String, Vec<f32>)> = Vec::new();
    let mut best_per_set: Vec<usize> = Vec::new();
    for (name, f) in feature_sets() {
        let t0 = Instant::now();
        let first = all.len();
        for (ti, (fit, eval)) in tasks.iter().enumerate() {
            for (pi, (point, m)) in grid(&f, &name, fit, eval).into_iter().enumerate() {
                if ti == 0 {
                    all.push((point, m));
                } else {
                    all[first + pi].1.extend(m);
                }
            }
        }
        println!("# {name} {f:?}: {:.1} s", t0.elapsed().as_secs_f64());
        let mut best = first;
        for i in first..all.len() {
            let (point, m) = &all[i];
            let (d, cv) = (accuracy(&m[..n_dev], &gold[..n_dev]), accuracy(&m[n_dev..], &gold[n_dev..]));
            println!("{point}: dev {d:.2} cv {cv:.2} all {:.2}", accuracy(m, &gold));
            if accuracy(m, &gold) > accuracy(&all[best].1, &gold) {
                best = i;
            }
        }
        println!("## best {}: all {:.2}", all[best].0, accuracy(&all[best].1, &gold));
        best_per_set.push(best);
    }
    // Ensembles: average of temperature-calibrated probabilities, every pair and all.
    let probs: Vec<Vec<f32>> = best_per_set
        .iter()
        .map(|i| {
            let scores: Vec<Vec<f32>> = all[*i].1.iter().map(|v| vec![-v, *v]).collect();
            let t = fit_temperature(&scores, &gold);
            scores.iter().map(|s| softmax(s, t)[1]).collect()
        })
        .collect();
    let score = |members: &[usize], range: std::ops::Range<usize>| {
        let ok = range
            .clone()
            .filter(|i| {
                let p = members.iter().map(|m| probs[*m][*i]).sum::<f32>() / members.len() as f32;
                (p > 0.5) == (gold[*i] == 1)
            })
            .count();
        ok as f64 / range.len().max(1) as f64 * 100.0
    };
    let report = |members: &[usize], label: String| {
        let (d, cv, a) = (score(members, 0..n_dev), score(members, n_dev..gold.len()), score(members, 0..gold.len()));
        println!("ensemble {label}: dev {d:.2} cv {cv:.2} all {a:.2}");
    };
    for a in 0..probs.len() {
        for b in a + 1..probs.len() {
            report(&[a, b], format!("[{}] + [{}]", all[best_per_set[a]].0, all[best_per_set[b]].0));
        }
    }
    if probs.len() > 2 {
        report(&(0..probs.len()).collect::<Vec<_>>(), format!("of all {}", probs.len()));
    }
}
