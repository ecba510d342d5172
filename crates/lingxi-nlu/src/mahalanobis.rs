//! Out-of-scope scoring by the Mahalanobis distance of a sentence embedding to the nearest
//! class mean under one shared (tied) covariance (Lee et al. 2018; Podolskiy et al. 2021).
//!
//! The top class probability only says how far a message is from the *boundaries* between
//! intents; a message far from every intent but on one side of all boundaries still gets a
//! confident answer. The distance to the nearest class mean, measured in the units of the
//! in-scope spread (small along directions where in-scope examples barely vary), catches it.
//! The covariance is shrunk towards a multiple of the identity (a fixed share, or the
//! Ledoit–Wolf share) so that its inverse stays well conditioned with few examples per class.
//!
//! The distance is mapped to a score in [0, 1] by the training distances: the share of
//! training examples at least as far from their nearest mean. A threshold on it, or on a blend
//! with the probability, is then chosen on held-out data like any confidence.

/// How the pooled covariance is shrunk: `Σ = (1 − λ)·S + λ·(tr S / d)·I`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shrinkage {
    /// A fixed λ in [0, 1].
    Fixed(f32),
    /// λ estimated from the data (Ledoit & Wolf 2004).
    LedoitWolf,
}

impl std::fmt::Display for Shrinkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shrinkage::Fixed(l) => write!(f, "{l}"),
            Shrinkage::LedoitWolf => f.write_str("lw"),
        }
    }
}

/// Class means and the pooled within-class covariance of training embeddings; fitted once,
/// then turned into detectors for several shrinkages cheaply (one Cholesky factorisation each).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassStats {
    dim: usize,
    unit: bool,
    /// `dim` per class; `None` for a class without examples.
    means: Vec<Option<Vec<f64>>>,
    /// Full symmetric `dim × dim`, row-major.
    cov: Vec<f64>,
    /// The prepared training rows and their classes (for the reference distances).
    rows: Vec<Vec<f32>>,
    classes: Vec<u32>,
    /// Σ‖x − μ_y‖⁴ over the rows (for the Ledoit–Wolf share).
    sum_sq_norm_sq: f64,
}

impl ClassStats {
    /// Fits on `rows` labelled by class index (`< n_classes`); rows of another length than the
    /// first, with a non-finite value, of zero length (when `unit`) or with an out-of-range class
    /// are skipped. With `unit` every row (and later every query) is scaled to unit length.
    /// `None` when fewer than two rows are usable.
    pub fn fit(rows: &[&[f32]], classes: &[u32], n_classes: usize, unit: bool) -> Option<Self> {
        let dim = rows.first().map_or(0, |r| r.len());
        let mut kept = Vec::new();
        let mut kept_classes = Vec::new();
        for (r, c) in rows.iter().zip(classes) {
            if r.len() != dim || (*c as usize) >= n_classes {
                continue;
            }
            if let Some(p) = prepare(r, unit) {
                kept.push(p);
                kept_classes.push(*c);
            }
        }
        if dim == 0 || kept.len() < 2 {
            return None;
        }
        let mut sums = vec![vec![0f64; dim]; n_classes];
        let mut counts = vec![0usize; n_classes];
        for (r, c) in kept.iter().zip(&kept_classes) {
            let s = &mut sums[*c as usize];
            s.iter_mut().zip(r).for_each(|(a, x)| *a += f64::from(*x));
            counts[*c as usize] += 1;
        }
        let means: Vec<Option<Vec<f64>>> = sums
            .into_iter()
            .zip(&counts)
            .map(|(s, n)| (*n > 0).then(|| s.into_iter().map(|x| x / *n as f64).collect()))
            .collect();
        // Upper triangle of the scatter, mirrored afterwards.
        let mut cov = vec![0f64; dim * dim];
        let mut centred = vec![0f64; dim];
        let mut sum_sq_norm_sq = 0.0;
        for (r, c) in kept.iter().zip(&kept_classes) {
            let mean = means[*c as usize].as_ref().expect("a class with a row has a mean");
            centred.iter_mut().zip(r.iter().zip(mean)).for_each(|(d, (x, m))| *d = f64::from(*x) - m);
            sum_sq_norm_sq += centred.iter().map(|x| x * x).sum::<f64>().powi(2);
            for i in 0..dim {
                let ci = centred[i];
                let row = &mut cov[i * dim..(i + 1) * dim];
                row[i..].iter_mut().zip(&centred[i..]).for_each(|(s, cj)| *s += ci * cj);
            }
        }
        let n = kept.len() as f64;
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / n;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        Some(Self { dim, unit, means, cov, rows: kept, classes: kept_classes, sum_sq_norm_sq })
    }

    /// The Ledoit–Wolf shrinkage share towards `(tr S / d)·I`, in [0, 1].
    pub fn ledoit_wolf(&self) -> f32 {
        let d = self.dim;
        let n = self.rows.len() as f64;
        let mu = (0..d).map(|i| self.cov[i * d + i]).sum::<f64>() / d as f64;
        let frob_sq: f64 = self.cov.iter().map(|x| x * x).sum();
        // ‖S − μI‖²_F, and the variance of the scatter's estimate: since Σᵢ rᵢᵀ S rᵢ = n‖S‖²_F,
        // (1/n²) Σᵢ ‖rᵢrᵢᵀ − S‖²_F = (Σᵢ ‖rᵢ‖⁴ − n‖S‖²_F) / n².
        let delta = frob_sq - 2.0 * mu * mu * d as f64 + mu * mu * d as f64;
        let beta = ((self.sum_sq_norm_sq - n * frob_sq) / (n * n)).max(0.0);
        if delta <= 0.0 {
            return 1.0;
        }
        (beta.min(delta) / delta) as f32
    }

    /// The detector for one shrinkage; `None` when the shrunk covariance is not positive
    /// definite (λ 0 with fewer examples than dimensions, say).
    pub fn detector(&self, shrinkage: Shrinkage) -> Option<Mahalanobis> {
        let lambda = match shrinkage {
            Shrinkage::Fixed(l) => f64::from(l.clamp(0.0, 1.0)),
            Shrinkage::LedoitWolf => f64::from(self.ledoit_wolf()),
        };
        let d = self.dim;
        let mu = (0..d).map(|i| self.cov[i * d + i]).sum::<f64>() / d as f64;
        let mut sigma: Vec<f64> = self.cov.iter().map(|x| (1.0 - lambda) * x).collect();
        for i in 0..d {
            // A floor keeps a degenerate (all-equal) set from failing outright.
            sigma[i * d + i] += lambda * mu + 1e-9;
        }
        let l = cholesky(&sigma, d)?;
        let w = lower_inverse(&l, d);
        let whiten_f64 = |v: &[f64]| -> Vec<f32> {
            (0..d).map(|i| w[i * d..i * d + i + 1].iter().zip(v).map(|(a, b)| a * b).sum::<f64>() as f32).collect()
        };
        let means = self.means.iter().map(|m| m.as_deref().map(whiten_f64)).collect();
        let mut detector = Mahalanobis {
            dim: d,
            unit: self.unit,
            whiten: w.iter().map(|x| *x as f32).collect(),
            means,
            reference: Vec::new(),
            shrinkage: lambda as f32,
        };
        let mut reference: Vec<f32> = self.rows.iter().filter_map(|r| detector.min_distance_prepared(r)).collect();
        reference.sort_by(f32::total_cmp);
        detector.reference = reference;
        Some(detector)
    }
}

/// A fitted Mahalanobis out-of-scope detector (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Mahalanobis {
    dim: usize,
    unit: bool,
    /// `L⁻¹`, lower triangular, row-major, where `L·Lᵀ` is the shrunk covariance: the squared
    /// distance of `x` to `μ` is `‖L⁻¹x − L⁻¹μ‖²`.
    whiten: Vec<f32>,
    /// Whitened class means (`None`: a class without training examples, never nearest).
    means: Vec<Option<Vec<f32>>>,
    /// Training examples' squared distances to their nearest mean, ascending.
    reference: Vec<f32>,
    shrinkage: f32,
}

impl Mahalanobis {
    /// Fits class statistics and the detector in one go.
    pub fn fit(rows: &[&[f32]], classes: &[u32], n_classes: usize, unit: bool, shrinkage: Shrinkage) -> Option<Self> {
        ClassStats::fit(rows, classes, n_classes, unit)?.detector(shrinkage)
    }

    /// The shrinkage share λ in force (the estimated one for Ledoit–Wolf).
    pub fn shrinkage(&self) -> f32 {
        self.shrinkage
    }

    /// Squared distance to each class mean (`f32::INFINITY` for a class without examples);
    /// `None` for a query of the wrong length, zero or non-finite.
    pub fn class_distances(&self, query: &[f32]) -> Option<Vec<f32>> {
        let z = self.whitened(query)?;
        Some(
            self.means
                .iter()
                .map(|m| m.as_ref().map_or(f32::INFINITY, |m| m.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum()))
                .collect(),
        )
    }

    /// Squared distance to the nearest class mean.
    pub fn min_distance(&self, query: &[f32]) -> Option<f32> {
        self.min_distance_prepared(&prepare(query, self.unit)?)
    }

    /// In-scope score in [0, 1]: the share of training examples at least as far from their
    /// nearest mean as `query` is from its own (1 inside the training cloud's core, 0 beyond
    /// its farthest example). `None` as for [`Self::class_distances`].
    pub fn score(&self, query: &[f32]) -> Option<f32> {
        let d = self.min_distance(query)?;
        let closer = self.reference.partition_point(|r| *r < d);
        Some(1.0 - closer as f32 / self.reference.len().max(1) as f32)
    }

    /// `Σ⁻¹` of the shrunk covariance (`(L⁻¹)ᵀ L⁻¹`), row-major; for checks and reports.
    pub fn inverse_covariance(&self) -> Vec<f64> {
        let d = self.dim;
        let mut inv = vec![0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                // (WᵀW)ᵢⱼ = Σₖ Wₖᵢ Wₖⱼ over k ≥ max(i, j) (W lower triangular).
                inv[i * d + j] =
                    (i.max(j)..d).map(|k| f64::from(self.whiten[k * d + i]) * f64::from(self.whiten[k * d + j])).sum();
            }
        }
        inv
    }

    fn whitened(&self, query: &[f32]) -> Option<Vec<f32>> {
        let x = prepare(query, self.unit)?;
        (x.len() == self.dim).then(|| self.whiten_prepared(&x))
    }

    fn whiten_prepared(&self, x: &[f32]) -> Vec<f32> {
        let d = self.dim;
        (0..d).map(|i| self.whiten[i * d..i * d + i + 1].iter().zip(x).map(|(a, b)| a * b).sum()).collect()
    }

    fn min_distance_prepared(&self, x: &[f32]) -> Option<f32> {
        if x.len() != self.dim {
            return None;
        }
        let z = self.whiten_prepared(x);
        self.means
            .iter()
            .flatten()
            .map(|m| m.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
            .min_by(f32::total_cmp)
    }
}

/// The row as the detector sees it: unit length when `unit`; `None` when zero or non-finite.
fn prepare(v: &[f32], unit: bool) -> Option<Vec<f32>> {
    if !v.iter().all(|x| x.is_finite()) {
        return None;
    }
    if !unit {
        return Some(v.to_vec());
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// Lower-triangular `L` with `L·Lᵀ = a` (row-major `n × n`); `None` unless `a` is positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = l[i * n..i * n + j].iter().zip(&l[j * n..j * n + j]).map(|(x, y)| x * y).sum();
            let v = a[i * n + j] - dot;
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `L⁻¹` of a lower-triangular `L` with a positive diagonal (forward substitution per column).
fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut w = vec![0f64; n * n];
    for col in 0..n {
        w[col * n + col] = 1.0 / l[col * n + col];
        for i in col + 1..n {
            let s: f64 = (col..i).map(|k| l[i * n + k] * w[k * n + col]).sum();
            w[i * n + col] = -s / l[i * n + i];
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::TextClassifier;
    use crate::classifier::{ClassifierConfig, Rng};

    #[test]
    fn cholesky_and_its_inverse_are_right_on_a_known_matrix() {
        // A = [[4, 2, 0], [2, 3, 1], [0, 1, 2]]: L = [[2, 0, 0], [1, √2, 0], [0, 1/√2, √1.5]],
        // det A = 12, and A⁻¹ = (1/12)·[[5, −4, 2], [−4, 8, −4], [2, −4, 8]].
        let a = [4.0, 2.0, 0.0, 2.0, 3.0, 1.0, 0.0, 1.0, 2.0];
        let l = cholesky(&a, 3).unwrap();
        let expect_l = [2.0, 0.0, 0.0, 1.0, 2f64.sqrt(), 0.0, 0.0, 0.5f64.sqrt(), 1.5f64.sqrt()];
        assert!(l.iter().zip(&expect_l).all(|(x, y)| (x - y).abs() < 1e-12), "{l:?}");
        let w = lower_inverse(&l, 3);
        let mut inv = [0f64; 9];
        for i in 0..3 {
            for j in 0..3 {
                inv[i * 3 + j] = (0..3).map(|k| w[k * 3 + i] * w[k * 3 + j]).sum();
            }
        }
        let expect = [5.0, -4.0, 2.0, -4.0, 8.0, -4.0, 2.0, -4.0, 8.0].map(|x: f64| x / 12.0);
        assert!(inv.iter().zip(&expect).all(|(x, y)| (x - y).abs() < 1e-12), "{inv:?}");
        assert_eq!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2), None, "indefinite");
    }

    #[test]
    fn the_detector_inverts_the_pooled_shrunk_covariance() {
        // Two classes in 2-d, unnormalised; within-class deviations (±1, ±2) and (±1, ∓2):
        // pooled S = [[1, 0], [0, 4]] (the class means are removed first).
        let rows: Vec<[f32; 2]> = vec![
            [11.0, 2.0],
            [9.0, -2.0],
            [11.0, -2.0],
            [9.0, 2.0],
            [-9.0, 2.0],
            [-11.0, -2.0],
            [-9.0, -2.0],
            [-11.0, 2.0],
        ];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let classes = [0, 0, 0, 0, 1, 1, 1, 1];
        let stats = ClassStats::fit(&refs, &classes, 3, false).unwrap();
        let det = stats.detector(Shrinkage::Fixed(0.0)).unwrap();
        let inv = det.inverse_covariance();
        assert!((inv[0] - 1.0).abs() < 1e-6 && (inv[3] - 0.25).abs() < 1e-6 && inv[1].abs() < 1e-6, "{inv:?}");
        // λ 0.5 towards tr S / d = 2.5: Σ = diag(1.75, 3.25).
        let inv = stats.detector(Shrinkage::Fixed(0.5)).unwrap().inverse_covariance();
        assert!((inv[0] - 1.0 / 1.75).abs() < 1e-6 && (inv[3] - 1.0 / 3.25).abs() < 1e-6, "{inv:?}");
        // Distances in units of the spread: 2 along y counts as 1 along x.
        let d = det.class_distances(&[10.0, 2.0]).unwrap();
        assert!((d[0] - 1.0).abs() < 1e-5 && d[2].is_infinite(), "{d:?}");
        assert!((det.min_distance(&[11.0, 0.0]).unwrap() - det.min_distance(&[10.0, 2.0]).unwrap()).abs() < 1e-5);
        assert_eq!(det.class_distances(&[1.0]), None, "wrong length");
        // Every training row is at squared distance 2 from its mean: the reference is flat.
        assert_eq!(det.score(&[10.0, 0.0]), Some(1.0));
        assert_eq!(det.score(&[10.0, 9.0]), Some(0.0));
        let lw = stats.ledoit_wolf();
        assert!((0.0..=1.0).contains(&lw), "{lw}");
    }

    /// A unit-length 8-d embedding: class `k ∈ {0, 1}` leans on axis k, examples vary along
    /// axes 2–3 (freely) and 4–7 (barely); `off` pushes along axis 6, where in-scope examples
    /// never go.
    fn point(rng: &mut Rng, k: usize, off: f32) -> Vec<f32> {
        let mut u = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        let mut v = [0f32; 8];
        v[k] = 1.0;
        v[2] = 0.6 * u();
        v[3] = 0.6 * u();
        for x in &mut v[4..] {
            *x = 0.01 * u();
        }
        v[6] += off;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn it_separates_a_held_out_cluster_that_the_top_probability_cannot() {
        let mut rng = Rng::new(3);
        let train: Vec<(Vec<f32>, u32)> = (0..200).map(|i| (point(&mut rng, i % 2, 0.0), (i % 2) as u32)).collect();
        let inscope: Vec<Vec<f32>> = (0..60).map(|i| point(&mut rng, i % 2, 0.0)).collect();
        // Out of scope: a cluster off the in-scope subspace, still on one side of the boundary.
        let outside: Vec<Vec<f32>> = (0..60).map(|i| point(&mut rng, i % 2, 0.35)).collect();
        let rows: Vec<&[f32]> = train.iter().map(|(v, _)| v.as_slice()).collect();
        let classes: Vec<u32> = train.iter().map(|(_, c)| *c).collect();
        let det = Mahalanobis::fit(&rows, &classes, 2, true, Shrinkage::LedoitWolf).unwrap();
        // The fused model's linear half over the same embeddings (the texts say nothing).
        let texts = vec!["item"; rows.len()];
        let labels: Vec<&str> = classes.iter().map(|c| if *c == 0 { "a" } else { "b" }).collect();
        let dense: Vec<Vec<f32>> = rows.iter().map(|r| r.to_vec()).collect();
        let clf = TextClassifier::train_with_dense(&texts, &dense, &labels, &ClassifierConfig::default(), 3.0).unwrap();
        let top = |v: &[f32]| clf.predict_with_dense("item", Some(v)).ranked[0].1;
        // Separation as the share of (in-scope, outside) pairs ordered right (AUROC).
        let auroc = |f: &dyn Fn(&[f32]) -> f32| {
            let ins: Vec<f32> = inscope.iter().map(|v| f(v)).collect();
            let outs: Vec<f32> = outside.iter().map(|v| f(v)).collect();
            let ok = ins.iter().flat_map(|a| outs.iter().map(move |b| f64::from(u8::from(a > b)))).sum::<f64>();
            ok / (ins.len() * outs.len()) as f64
        };
        let by_probability = auroc(&top);
        let by_distance = auroc(&|v| det.score(v).unwrap());
        assert!(by_distance > 0.99, "Mahalanobis AUROC {by_distance}");
        assert!(by_probability < 0.8, "top-probability AUROC {by_probability}");
        // In-scope held-out examples mostly score inside the training cloud, outside ones at 0.
        assert!(inscope.iter().filter(|v| det.score(v).unwrap() > 0.01).count() >= 55);
        assert!(outside.iter().all(|v| det.score(v).unwrap() == 0.0));
    }
}
