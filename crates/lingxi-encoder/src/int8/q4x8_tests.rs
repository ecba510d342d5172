use super::q4x8::{matmul_tokens, Q4x8Matrix};
use super::tests::{dense, extremes, q4};
use super::*;

fn product(m: &QMatrix, keep: bool, simd: bool, rows: Range<usize>, kb: Range<usize>, x: &[f32], n: usize) -> Vec<f32> {
    let w = Q4x8Matrix::from_q4(m, keep, simd);
    let tokens = w.quantise_input(x, kb.len() * QK, n);
    matmul_tokens(&w, rows, kb, &tokens)
}

#[test]
fn q4x8_products_are_within_the_activations_quantisation_error_of_the_exact_ones() {
    // The weights are the file's exactly, so only the activations' rounding (half a step per
    // value) separates the result from the f32 product.
    let (rows, cols) = (13, 128);
    let m = q4(rows, cols);
    let d = dense(&m);
    for (keep, n_tokens) in [false, true].into_iter().flat_map(|k| [1, 2, 6, 7, 13].map(|n| (k, n))) {
        let x: Vec<f32> = (0..n_tokens * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0).collect();
        let y = product(&m, keep, false, 2..11, 0..cols / QK, &x, n_tokens);
        for t in 0..n_tokens {
            for (j, r) in (2..11).enumerate() {
                let (xs, ws) = (&x[t * cols..(t + 1) * cols], &d[r * cols..(r + 1) * cols]);
                let exact: f32 = xs.iter().zip(ws).map(|(a, b)| a * b).sum();
                let xm = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
                let bound: f32 = ws.iter().map(|w| w.abs() * xm / 254.0).sum();
                let got = y[t * 9 + j];
                assert!((got - exact).abs() <= bound * 1.001 + 1e-4, "t={t} r={r} outliers {keep}: {got} vs {exact}");
            }
        }
    }
}

#[test]
fn the_q4x8_avx2_kernel_equals_the_scalar_one_bit_for_bit() {
    if !Int8Kernel::Avx2.available() {
        eprintln!("SKIPPED: this CPU lacks AVX2");
        return;
    }
    // Every tile width 1..=6 and several tiles, row ranges inside one 8-row block and across
    // several, a partial reduction range, with and without outliers.
    let (rows, cols) = (70, 192);
    let m = q4(rows, cols);
    for keep in [false, true] {
        for kb in [0..6, 1..4] {
            let k = kb.len() * QK;
            for n_tokens in (1..=14).chain([17, 33]) {
                let x: Vec<f32> = (0..n_tokens * k).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.37).collect();
                for range in [1..9, 0..1, 3..6, 17..50, 0..70, 64..70] {
                    let got = product(&m, keep, true, range.clone(), kb.clone(), &x, n_tokens);
                    let want = product(&m, keep, false, range.clone(), kb.clone(), &x, n_tokens);
                    assert!(got.iter().any(|v| *v != 0.0));
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{n_tokens} tokens, rows {range:?}, {kb:?}, outliers {keep}");
                }
            }
        }
    }
}

#[test]
fn extreme_nibbles_and_bytes_over_the_longest_reduction_do_not_overflow_16_bits() {
    // Nibbles 0 and 15 (weights -8 and 7) against activations ±127 over 1,536 columns: each
    // 16-bit lane sums eight pairs of products, at most 30,480, within range.
    let (rows, cols, n_tokens) = (8, 1536, 7);
    let (m, x) = extremes(rows, cols, n_tokens);
    for simd in [false, true] {
        let y = product(&m, false, simd, 0..rows, 0..cols / QK, &x, n_tokens);
        // Row 0: 16 blocks of 32 x (-8)(-5) and 32 of 32 x 7 x 5, exactly (5 is one step x 127).
        assert_eq!(y[0], 56_320.0, "simd {simd}");
        assert_eq!(y[rows], 56_320.0, "simd {simd}, second token");
    }
}

#[test]
fn degenerate_activations_give_zeros_in_q4x8_too() {
    for (keep, simd) in [(false, false), (true, false), (false, true), (true, true)] {
        for bad in [0.0, f32::NAN, f32::INFINITY] {
            let x = vec![bad; 2 * 64];
            let y = product(&q4(3, 64), keep, simd, 0..3, 0..2, &x, 2);
            assert!(y.iter().all(|v| *v == 0.0), "{bad}, outliers {keep}, simd {simd}: {y:?}");
        }
    }
}
