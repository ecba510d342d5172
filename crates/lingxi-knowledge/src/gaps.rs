//! Knowledge gaps: customer messages the knowledge base could not answer well, grouped by lexical
//! similarity so that an admin sees "37 people asked about X" instead of 37 rows.

use std::collections::HashMap;

use crate::text::Analyzer;

/// A weighted, L2-normalised bag of lexical terms.
type Bag = HashMap<String, f32>;

fn bag(analyzer: &Analyzer, text: &str) -> Bag {
    let mut b: Bag = HashMap::new();
    for (t, kind) in analyzer.terms(text) {
        *b.entry(t).or_default() += kind.weight();
    }
    let norm = b.values().map(|w| w * w).sum::<f32>().sqrt().max(1e-9);
    b.values_mut().for_each(|w| *w /= norm);
    b
}

fn cosine(a: &Bag, b: &Bag) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().filter_map(|(t, w)| large.get(t).map(|v| w * v)).sum()
}

/// Lexical similarity of two texts (cosine of their weighted term bags, 0 to 1): the measure
/// [`cluster`] groups by, for callers that match one text against a few.
pub fn similarity(analyzer: &Analyzer, a: &str, b: &str) -> f32 {
    cosine(&bag(analyzer, a), &bag(analyzer, b))
}

/// Default similarity at or above which two messages are one question: chosen by hand on the demo
/// FAQ's phrasings (same-entry phrasings mostly above, different entries mostly below).
pub const DEFAULT_SIMILARITY: f32 = 0.45;

/// Groups texts greedily: each text joins the most similar existing cluster (similarity to the
/// cluster's first text, its representative) when at least `threshold`, else starts a new one.
/// Deterministic for a given order; returns clusters as indices into `texts`, largest first
/// (ties: the cluster whose representative comes first).
pub fn cluster(analyzer: &Analyzer, texts: &[&str], threshold: f32) -> Vec<Vec<usize>> {
    let bags: Vec<Bag> = texts.iter().map(|t| bag(analyzer, t)).collect();
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for i in 0..texts.len() {
        let best = clusters
            .iter()
            .enumerate()
            .map(|(c, members)| (c, cosine(&bags[members[0]], &bags[i])))
            .filter(|(_, s)| *s >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((c, _)) => clusters[c].push(i),
            None => clusters.push(vec![i]),
        }
    }
    clusters.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_questions_cluster_and_different_ones_do_not() {
        let a = Analyzer::default();
        let texts = [
            "扫地机器人不能充电怎么办",
            "how do I pair the camera with my phone",
            "扫地机器人充不进电",
            "机器人不充电了怎么办",
            "camera won't pair with phone",
            "发票抬头写错了",
        ];
        let c = cluster(&a, &texts, DEFAULT_SIMILARITY);
        assert_eq!(c[0], vec![0, 2, 3], "{c:?}");
        assert!(c.contains(&vec![1, 4]), "{c:?}");
        assert!(c.contains(&vec![5]), "{c:?}");
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn rephrasings_of_one_question_cluster() {
        let a = Analyzer::default();
        let texts = [
            "扫地机器人能拖地吗",
            "扫地机器人可以拖地吗",
            "你们的扫地机器人能不能拖地",
            "保修期多久？",
            "内部草稿问题",
        ];
        let c = cluster(&a, &texts, DEFAULT_SIMILARITY);
        assert_eq!(c[0], vec![0, 1, 2], "{c:?}");
    }

    #[test]
    fn empty_input_gives_no_clusters() {
        assert!(cluster(&Analyzer::default(), &[], DEFAULT_SIMILARITY).is_empty());
    }
}
