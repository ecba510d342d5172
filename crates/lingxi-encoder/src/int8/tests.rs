use super::activations::largest;
use super::*;

/// A Q4 matrix with varied block scales (the row scale must cover its largest block).
pub(super) fn q4(rows: usize, cols: usize) -> QMatrix {
    let mut bytes = Vec::new();
    for r in 0..rows {
        for b in 0..cols / QK {
            let scale = 0x3000u16 + ((r * 131 + b * 977) % 2048) as u16; // 0.125 .. 1.0
            bytes.extend_from_slice(&scale.to_le_bytes());
            bytes.extend((0..16).map(|j| (((r + 3 * j + b) % 16) as u8) | ((((5 * r + j + 2 * b) % 16) as u8) << 4)));
        }
    }
    QMatrix::from_q4_bytes(&bytes, rows, cols).expect("matrix")
}

pub(super) fn dense(m: &QMatrix) -> Vec<f32> {
    let mut d = vec![0f32; m.rows * m.cols];
    for (r, row) in d.chunks_exact_mut(m.cols).enumerate() {
        m.dequant_row(r, row);
    }
    d
}

#[test]
fn int8_products_are_within_quantisation_error_of_the_exact_ones() {
    let (rows, cols) = (13, 128);
    let m = q4(rows, cols);
    let d = dense(&m);
    for (keep, n_tokens) in [false, true].into_iter().flat_map(|k| [1, 2, 3, 7, 8, 9, 17].map(|n| (k, n))) {
        let w = Int8Matrix::from_q4(&m, keep, Int8Kernel::best());
        let x: Vec<f32> = (0..n_tokens * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0).collect();
        let y = matmul_part(&w, 2..11, 0..cols / QK, &x, n_tokens);
        for t in 0..n_tokens {
            for (j, r) in (2..11).enumerate() {
                let (xs, ws) = (&x[t * cols..(t + 1) * cols], &d[r * cols..(r + 1) * cols]);
                let exact: f32 = xs.iter().zip(ws).map(|(a, b)| a * b).sum();
                // Each factor is off by at most half a step: bound the sum of the errors.
                let (xm, wm) =
                    (xs.iter().fold(0f32, |a, v| a.max(v.abs())), ws.iter().fold(0f32, |a, v| a.max(v.abs())));
                let bound: f32 =
                    xs.iter().zip(ws).map(|(a, b)| a.abs() * wm / 254.0 + b.abs() * xm / 254.0).sum::<f32>()
                        + cols as f32 * (xm / 254.0) * (wm / 254.0);
                let got = y[t * 9 + j];
                assert!(
                    (got - exact).abs() <= bound * 1.001 + 1e-4,
                    "t={t} r={r} outliers {keep}: {got} vs {exact} (bound {bound})"
                );
            }
        }
    }
}

/// The kernels this CPU runs besides the scalar reference.
fn simd_kernels() -> Vec<Int8Kernel> {
    Int8Kernel::ALL.into_iter().filter(|k| *k != Int8Kernel::Scalar && k.available()).collect()
}

/// `kernel`'s product and the scalar kernel's (outliers added to both), as bits.
fn both_bits(
    m: &QMatrix,
    keep: bool,
    kernel: Int8Kernel,
    rows: Range<usize>,
    kb: Range<usize>,
    x: &[f32],
    n_tokens: usize,
) -> [Vec<u32>; 2] {
    let got = matmul_part(&Int8Matrix::from_q4(m, keep, kernel), rows.clone(), kb.clone(), x, n_tokens);
    let want = matmul_part(&Int8Matrix::from_q4(m, keep, Int8Kernel::Scalar), rows, kb, x, n_tokens);
    assert!(got.iter().any(|v| *v != 0.0));
    [got, want].map(|v| v.iter().map(|f| f.to_bits()).collect())
}

#[test]
fn every_simd_kernel_equals_the_scalar_one_bit_for_bit() {
    // Every tile width 1..=8, more than one token group (64), even and odd row counts, row
    // ranges inside one 16-row block and across several from odd blocks (70 rows: five
    // blocks, padded to six for VNNI's pairs), and a partial reduction range, for each kernel
    // this CPU has (on x86-64 at least AVX2). Two reduction ranges: 128 columns (two of
    // AMX's 64-byte tile rows) and 96 (which AMX hands to the VNNI kernel); AMX's token tiles
    // are 16 and 32 wide, so 17, 33 (via 64, 65 and 70) and 130 cross them.
    let (rows, cols) = (70, 192);
    let kernels = simd_kernels();
    #[cfg(target_arch = "x86_64")]
    assert!(kernels.contains(&Int8Kernel::Avx2), "x86-64 CPUs of this project's machines have AVX2");
    let m = q4(rows, cols);
    for (kernel, keep) in kernels.iter().flat_map(|k| [(*k, false), (*k, true)]) {
        for kb in [1..5, 1..4] {
            let k = kb.len() * QK;
            for n_tokens in (1..=17).chain([31, 32, 33, 64, 65, 70, 130]) {
                let x: Vec<f32> = (0..n_tokens * k).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.37).collect();
                for range in [1..9, 1..10, 0..1, 3..6, 17..50, 0..70, 31..33, 48..70] {
                    let [got, want] = both_bits(&m, keep, kernel, range.clone(), kb.clone(), &x, n_tokens);
                    assert_eq!(got, want, "{kernel:?}: {n_tokens} tokens, rows {range:?}, {kb:?}, outliers {keep}");
                }
            }
        }
    }
    eprintln!("kernels exercised: {kernels:?}");
}

/// A matrix of scale 1 whose weights are all -8 or all 7 by block (-8 where `(row + block) %
/// 3 == 0`), and activations ±5 by block (-5 where `block % 3 == 0`), so that row 0's products
/// are all positive and the others' mixed, for the largest sums in both directions.
pub(super) fn extremes(rows: usize, cols: usize, n_tokens: usize) -> (QMatrix, Vec<f32>) {
    let mut bytes = Vec::new();
    for r in 0..rows {
        for b in 0..cols / QK {
            bytes.extend_from_slice(&0x3c00u16.to_le_bytes()); // scale 1.0
            let nibble = if (r + b) % 3 == 0 { 0x00 } else { 0xff }; // -8 or 7
            bytes.extend(std::iter::repeat_n(nibble, QK / 2));
        }
    }
    let x = (0..n_tokens * cols).map(|i| if (i % cols / QK).is_multiple_of(3) { -5.0 } else { 5.0 }).collect();
    (QMatrix::from_q4_bytes(&bytes, rows, cols).expect("matrix"), x)
}

#[test]
fn extreme_bytes_over_the_longest_reduction_sum_exactly_in_every_kernel() {
    // The FFN output's reduction (1,536) with every weight and activation at the ends of the
    // byte range, where a 16-bit pair sum would saturate; signs alternate in blocks so the
    // sums are large in both directions.
    let (rows, cols, n_tokens) = (4, 1536, 9);
    let (m, x) = extremes(rows, cols, n_tokens);
    // Row 0's signs match x's, so all its products are positive: (-127)(-127) and 111 x 127
    // (7 of -8..7 re-quantises to 111), an integer sum of 22.7 million.
    for kernel in simd_kernels() {
        let [got, want] = both_bits(&m, false, kernel, 0..rows, 0..cols / QK, &x, n_tokens);
        assert_eq!(got, want, "{kernel:?}");
        // The exact product: 16 blocks of 32 x (-8)(-5) and 32 of 32 x 7 x 5.
        let (exact, y) = (56_320.0, f32::from_bits(got[0]));
        assert!((y - exact).abs() < exact * 1e-3, "{kernel:?}: {y}");
    }
}

#[test]
fn kernel_names_parse_and_unknown_ones_are_errors() {
    for k in Int8Kernel::ALL {
        assert_eq!(k.as_str().parse::<Int8Kernel>().unwrap(), k);
    }
    let e = "neon".parse::<Int8Kernel>().unwrap_err().to_string();
    assert!(e.contains(INT8_KERNEL_ENV) && e.contains("neon"), "{e}");
    assert!(Int8Kernel::Scalar.available() && Int8Kernel::best().available());
}

#[test]
fn quantisation_rounds_ties_to_even_and_rejects_non_finite_input() {
    let mut q = [0i8; 6];
    let step = quantise(&[127.0, 0.5, 1.5, -2.5, -127.0, -126.6], &mut q);
    assert_eq!((step, q), (1.0, [127, 0, 2, -2, -127, -127]));
    let step = quantise(&[0.02, -0.01, 0.0, 0.0, 0.0, 0.0], &mut q);
    assert_eq!(q, [127, -64, 0, 0, 0, 0]);
    assert!((step - 0.02 / 127.0).abs() < 1e-12);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        q = [1; 6];
        assert_eq!(quantise(&[1.0, bad, 2.0, 0.0, 0.0, 0.0], &mut q), 0.0);
        assert_eq!(q, [0; 6], "{bad}");
    }
}

#[test]
fn degenerate_activations_give_zeros_not_nan() {
    for keep in [false, true] {
        let w = Int8Matrix::from_q4(&q4(3, 64), keep, Int8Kernel::best());
        for bad in [0.0, f32::NAN, f32::INFINITY] {
            let x = vec![bad; 2 * 64];
            let y = matmul_part(&w, 0..3, 0..2, &x, 2);
            assert!(y.iter().all(|v| *v == 0.0), "{bad}, outliers {keep}: {y:?}");
        }
    }
}

#[test]
fn arithmetic_names_parse_and_unknown_ones_are_errors() {
    assert_eq!("f32".parse::<Arithmetic>().unwrap(), Arithmetic::F32);
    assert_eq!("int8".parse::<Arithmetic>().unwrap(), Arithmetic::Int8);
    let e = "fp16".parse::<Arithmetic>().unwrap_err().to_string();
    assert!(e.contains(ARITHMETIC_ENV) && e.contains("fp16"), "{e}");
    assert_eq!(Arithmetic::Int8.as_str().parse::<Arithmetic>().unwrap(), Arithmetic::Int8);
    assert_eq!("q4x8".parse::<Arithmetic>().unwrap(), Arithmetic::Q4x8);
    assert_eq!(Arithmetic::Q4x8.as_str().parse::<Arithmetic>().unwrap(), Arithmetic::Q4x8);
    let tags = [Arithmetic::F32, Arithmetic::Int8, Arithmetic::Q4x8].map(Arithmetic::vectors_tag);
    assert_eq!(tags, [None, Some("int8o2"), Some("q4x8o2")]);
}

#[test]
fn avx2_alone_computes_in_q4x8_and_the_byte_product_cpus_in_int8() {
    let pick = |k| Arithmetic::for_kernel(k, false);
    assert_eq!([Int8Kernel::Amx, Int8Kernel::Vnni, Int8Kernel::AvxVnni].map(pick), [Arithmetic::Int8; 3]);
    assert_eq!((pick(Int8Kernel::Avx2), pick(Int8Kernel::Scalar)), (Arithmetic::Q4x8, Arithmetic::F32));
    assert_eq!(Arithmetic::for_kernel(Int8Kernel::Avx2, true), Arithmetic::Int8, "the int8 kernel asked for by name");
}

#[test]
fn the_largest_magnitudes_are_found_in_every_chunk_and_the_tail() {
    // 37 values: two chunks of 16 and a tail of 5; the largest in the tail, the
    // second negative in the second chunk, the third in the first.
    let mut v = vec![0.5f32; 37];
    v[3] = 4.0;
    v[20] = -6.0;
    v[35] = 9.0;
    v[36] = -3.9;
    assert_eq!(largest::<3>(&v), Some([(35, 9.0), (20, -6.0), (3, 4.0)]));
    assert_eq!(largest::<2>(&[0.0, 0.0, 1.0]), Some([(2, 1.0), (0, 0.0)]));
    v[7] = f32::NAN;
    assert_eq!(largest::<3>(&v), None);
}

#[test]
fn outliers_set_apart_shrink_the_error_of_tokens_with_a_few_large_channels() {
    // Layer-normalised activations look like this: most channels near ±1, two of them
    // 30 times larger, which one step per token spends the 8 bits on.
    let (rows, cols, n_tokens) = (16, 128, 5);
    let m = q4(rows, cols);
    let d = dense(&m);
    let x: Vec<f32> = (0..n_tokens * cols)
        .map(|i| {
            let base = ((i * 37 % 101) as f32 - 50.0) / 50.0;
            match i % cols {
                9 => 30.0,
                77 => -25.0 - (i / cols) as f32,
                _ => base,
            }
        })
        .collect();
    let error = |keep: bool| {
        let y = matmul_part(&Int8Matrix::from_q4(&m, keep, Int8Kernel::best()), 0..rows, 0..cols / QK, &x, n_tokens);
        let mut sum = 0f32;
        for t in 0..n_tokens {
            for r in 0..rows {
                let exact: f32 =
                    x[t * cols..(t + 1) * cols].iter().zip(&d[r * cols..(r + 1) * cols]).map(|(a, b)| a * b).sum();
                sum += (y[t * rows + r] - exact).abs();
            }
        }
        sum
    };
    let (without, with) = (error(false), error(true));
    assert!(with < without / 4.0, "error with the outliers apart {with}, without {without}");
}
