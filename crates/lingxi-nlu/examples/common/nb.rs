//! The NB-SVM log-count ratio the sentiment exploration examples share (`#[path]`).

use lingxi_nlu::features::SparseVec;

/// Signed NB log-count ratio per column (class 1 over class 0), presence counts, smoothing `alpha`.
pub fn nb_ratio(xs: &[SparseVec], ys: &[u32], n: usize, alpha: f64) -> Vec<f32> {
    let (mut p, mut q) = (vec![alpha; n], vec![alpha; n]);
    for (x, y) in xs.iter().zip(ys) {
        let side = if *y == 1 { &mut p } else { &mut q };
        for j in &x.indices {
            side[*j as usize] += 1.0;
        }
    }
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    p.iter().zip(&q).map(|(a, b)| ((a / sp).ln() - (b / sq).ln()) as f32).collect()
}
