//! Dev-only experiment (never reads a test split except to drop copies of its texts from training):
//! does a sentiment model for one review domain gain from the other domains' labelled reviews?
//! Three ways of training for target domain T, each scored on T's dev split:
//! `own` (T's train only), `pooled` (every domain's train) and `augmented` (every domain's
//! train with each feature duplicated into a shared copy and a copy private to its domain,
//! Daumé's "frustratingly easy" domain adaptation; T's messages are scored through the shared
//! and T's copies).
//!
//! `cargo run -p lingxi-nlu --release --example senti_domains -- DIR1 DIR2 DIR3`
//! with `LX_C=0.25,0.5,1,2`, `LX_NB=0,0.5`.

use std::collections::HashSet;
use std::path::Path;

use lingxi_nlu::classifier::{LinearModel, TrainConfig};
use lingxi_nlu::features::{FeatureConfig, SparseVec, Vectorizer};

#[path = "common/jsonl.rs"]
mod jsonl;
#[path = "common/nb.rs"]
mod nb;
use nb::nb_ratio;

type Labelled = Vec<(String, u32)>;

fn read(dir: &Path, split: &str) -> Labelled {
    jsonl::read_split(dir, split).into_iter().map(|(t, l)| (t, u32::from(l == "1"))).collect()
}

fn list(var: &str, default: &str) -> Vec<f32> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').filter_map(|x| x.parse().ok()).collect()
}

/// `x` with its columns copied to the shared block (0) and to domain `d`'s block (`d + 1`).
fn augment(x: &SparseVec, d: usize, n: u32, private_weight: f32) -> SparseVec {
    let mut v = x.clone();
    if private_weight > 0.0 {
        v.indices.extend(x.indices.iter().map(|j| j + (d as u32 + 1) * n));
        v.values.extend(x.values.iter().map(|a| a * private_weight));
    }
    v
}

fn accuracy(m: &LinearModel, xs: &[SparseVec], ys: &[u32]) -> f64 {
    let ok = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| {
            let s = m.scores(x);
            (s[1] > s[0]) == (**y == 1)
        })
        .count();
    ok as f64 / ys.len().max(1) as f64 * 100.0
}

/// Scale columns by |r|^p·sign(r), keeping the mean squared row norm.
fn nb_scale(xs: &[SparseVec], s: &[f32]) -> Vec<SparseVec> {
    let (a, b): (f64, f64) = xs.iter().fold((0.0, 0.0), |(a, b), x| {
        let sc: f64 = x.indices.iter().zip(&x.values).map(|(j, v)| f64::from(v * s[*j as usize]).powi(2)).sum();
        (a + sc, b + f64::from(x.norm_sq()))
    });
    let k = (b / a.max(1e-12)).sqrt() as f32;
    xs.iter()
        .map(|x| {
            let mut v = x.clone();
            v.values.iter_mut().zip(&v.indices).for_each(|(a, j)| *a *= s[*j as usize] * k);
            v
        })
        .collect()
}

fn run(name: &str, train: &[(usize, &str, u32)], dev: &[(&str, u32)], target: usize, private_weight: Option<f32>) {
    let texts: Vec<&str> = train.iter().map(|e| e.1).collect();
    let ys: Vec<u32> = train.iter().map(|e| e.2).collect();
    let vec = Vectorizer::fit(FeatureConfig::default(), &texts);
    let n = vec.n_sparse();
    // LX_MODE: each (every domain its own block), background (the other domains share one
    // block), none (the other domains only in the shared block).
    let mode = std::env::var("LX_MODE").unwrap_or_else(|_| "each".into());
    let block = |d: usize| -> Option<usize> {
        match mode.as_str() {
            "each" => Some(d),
            "background" => Some(usize::from(d != target)),
            _ => (d == target).then_some(0),
        }
    };
    let blocks = if private_weight.is_some() { 4 } else { 1 };
    let pw = private_weight.unwrap_or(0.0);
    let aug = |x: &SparseVec, d: usize| match block(d) {
        Some(b) => augment(x, b, n, pw),
        None => x.clone(),
    };
    let xs: Vec<SparseVec> = train.iter().map(|e| aug(&vec.transform(e.1, None), e.0)).collect();
    let dx: Vec<SparseVec> = dev.iter().map(|e| aug(&vec.transform(e.0, None), target)).collect();
    let dy: Vec<u32> = dev.iter().map(|e| e.1).collect();
    let r = nb_ratio(&xs, &ys, (n * blocks) as usize, 1.0);
    for p in list("LX_NB", "0,0.5") {
        let s: Vec<f32> = r.iter().map(|v| v.signum() * v.abs().powf(p)).collect();
        let (sx, sdx) = if p == 0.0 { (xs.clone(), dx.clone()) } else { (nb_scale(&xs, &s), nb_scale(&dx, &s)) };
        for c in list("LX_C", "0.25,0.5,1,2") {
            let cfg = TrainConfig { c, ..TrainConfig::default() };
            let m = LinearModel::train(&sx, &ys, n * blocks, 2, &cfg);
            println!("{name} nb {p} C {c}: dev {:.2}", accuracy(&m, &sdx, &dy));
        }
    }
}

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    assert!(!dirs.is_empty(), "usage: senti_domains DIR...");
    let sets: Vec<(Labelled, Labelled, Labelled)> = dirs
        .iter()
        .map(|d| (read(Path::new(d), "train"), read(Path::new(d), "dev"), read(Path::new(d), "test")))
        .collect();
    let all: Vec<(usize, &str, u32)> =
        sets.iter().enumerate().flat_map(|(d, (tr, _, _))| tr.iter().map(move |e| (d, e.0.as_str(), e.1))).collect();
    let only: Vec<usize> = std::env::var("LX_TARGET")
        .ok()
        .map(|v| v.split(',').map(|x| x.parse().unwrap()).collect())
        .unwrap_or((0..sets.len()).collect());
    for t in only {
        // No other domain's training review may be a copy of one of T's evaluation reviews (dev
        // or test); T's own official train split is kept as it is.
        let held: HashSet<&str> = sets[t].1.iter().chain(&sets[t].2).map(|e| e.0.as_str()).collect();
        let pooled: Vec<(usize, &str, u32)> = all.iter().filter(|e| e.0 == t || !held.contains(e.1)).cloned().collect();
        let dev: Vec<(&str, u32)> = sets[t].1.iter().map(|e| (e.0.as_str(), e.1)).collect();
        let own: Vec<(usize, &str, u32)> = pooled.iter().filter(|e| e.0 == t).cloned().collect();
        let label = Path::new(&dirs[t]).file_name().unwrap().to_string_lossy().to_string();
        println!("# {label}: own {} pooled {} dev {}", own.len(), pooled.len(), dev.len());
        run(&format!("{label} own"), &own, &dev, t, None);
        run(&format!("{label} pooled"), &pooled, &dev, t, None);
        for pw in list("LX_PW", "1") {
            run(&format!("{label} augmented pw {pw}"), &pooled, &dev, t, Some(pw));
        }
    }
}
