//! An ensemble over dense views: the mean of the class distributions of one fused model per
//! candidate view, each at its own best grid point. The views pool different layers of the
//! same forward pass, so their models might err on different examples, and choosing one view
//! would drop what the others know. The ensemble is one more candidate on the tuning set
//! (intent tasks), kept only when its score beats the best single point. On banking77, hwu64
//! and cais it did not (docs/benchmarks.md, "Ensemble over views"): views that share `e`
//! mostly make the same errors.

use super::mix::score_on;
use super::{Example, Setting};
use crate::classifier::TextClassifier;
use crate::fused::{top_of, FusedClassifier};

/// A view's best grid point and its distributions over the tuning set.
pub(super) struct ViewBest {
    /// Its tuning score.
    pub(super) score: f64,
    pub(super) setting: Setting,
    /// Its description, as in the report's grid.
    pub(super) point: String,
    /// Each tuning example's class distribution at that point.
    pub(super) rows: Vec<Vec<f32>>,
}

/// The ensemble chosen on the tuning set.
pub(super) struct Chosen {
    /// Its tuning score.
    pub(super) score: f64,
    /// The member views (indices into the candidates) and their settings.
    pub(super) members: Vec<(usize, Setting)>,
}

/// The ensemble of every view with a best point, when its mean distribution scores above
/// `best_single` on the tuning set (and there are at least two). The candidate and its score
/// are added to `tried` whether chosen or not.
pub(super) fn choose(
    bests: &[Option<ViewBest>],
    labels: &[String],
    tune: &[Example],
    best_single: f64,
    tried: &mut Vec<(String, f64)>,
) -> Option<Chosen> {
    let members: Vec<(usize, &ViewBest)> =
        bests.iter().enumerate().filter_map(|(i, b)| Some((i, b.as_ref()?))).collect();
    if members.len() < 2 {
        return None;
    }
    let preds: Vec<(u32, f32)> =
        (0..tune.len()).map(|i| top_of(&mean(members.iter().map(|(_, b)| b.rows[i].as_slice())))).collect();
    let score = score_on(labels, &preds, tune, None, 0.0);
    let points: Vec<&str> = members.iter().map(|(_, b)| b.point.as_str()).collect();
    tried.push((format!("view ensemble, mean of [{}]", points.join(" | ")), score));
    let members = members.iter().map(|(i, b)| (*i, b.setting)).collect();
    (score > best_single).then_some(Chosen { score, members })
}

/// The element-wise mean of distributions over the same classes.
fn mean<'a>(rows: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut n = 0usize;
    for row in rows {
        if sum.is_empty() {
            sum = vec![0.0; row.len()];
        }
        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
        n += 1;
    }
    let n = n.max(1) as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// The final models of an ensemble: one fused model per member view, each with the test
/// examples carrying that view's dense block (same examples, same order, same labels).
pub(super) struct ViewEnsemble {
    pub(super) members: Vec<(FusedClassifier, Vec<Example>)>,
}

impl ViewEnsemble {
    /// Test example `i`'s best class and its probability under the members' mean distribution.
    pub(super) fn top(&self, i: usize) -> (u32, f32) {
        let rows: Vec<Vec<f32>> =
            self.members.iter().map(|(m, test)| m.probabilities(&test[i].text, test[i].dense.as_deref())).collect();
        top_of(&mean(rows.iter().map(Vec::as_slice)))
    }

    /// The ensemble with every member's linear model re-loaded from its (quantised) bytes.
    pub(super) fn reloaded(&self) -> Option<Self> {
        let members = self
            .members
            .iter()
            .map(|(m, test)| {
                let linear = TextClassifier::from_bytes(&m.linear.to_bytes()).ok()?;
                Some((FusedClassifier { linear, ..m.clone() }, test.clone()))
            })
            .collect::<Option<_>>()?;
        Some(Self { members })
    }

    /// Size of the members' serialised linear models, bytes.
    pub(super) fn bytes(&self) -> usize {
        self.members.iter().map(|(m, _)| m.linear.to_bytes().len()).sum()
    }
}
