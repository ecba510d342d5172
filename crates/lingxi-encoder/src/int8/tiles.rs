//! The loops the SIMD kernels share: tokens in groups that stay in L2, each group's
//! activations repacked tile by tile, two weight rows at a time against every tile.
//!
//! They are a macro, expanded inside each kernel's `#[target_feature]` function, because the
//! kernels' sums must inline into them: a generic function would reach those sums only
//! through `unsafe` trait methods (a `#[target_feature]` function is safe to call only from
//! code compiled with the same features).

/// Tokens per tile: one 256-bit accumulator each (per row) across the reduction.
pub(super) const TILE: usize = 8;
/// Tokens per group (a multiple of TILE): the group's repacked activations, at most
/// 64 x 1536 values, stay in L2 while every weight row passes over them.
pub(super) const GROUP: usize = 64;

/// 32 bytes as a vector. Written as four 8-byte lanes because `_mm256_loadu_si256` takes a
/// raw pointer; LLVM turns this into one unaligned load (checked in the disassembly).
macro_rules! load32 {
    ($b:expr) => {{
        let b: &[u8; 32] = $b.try_into().expect("32 bytes");
        let lane = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3))
    }};
}

/// `Y = W[rows] · tokens` over the reduction blocks `kb`, for a kernel given as
/// - `bytes`: panel bytes per activation value, and `pack(q: &[i8], out: &mut [u8])` writing
///   one 32-value chunk of a token into them;
/// - `full(w0, w1, tile)` and `part(left, w0, w1, tile)`: two weight rows' integer sums
///   against a full tile or against its first `left` tokens, biased as the scalar kernel's
///   (the weights read as `w + 128`), so that subtracting each token's offset gives the same
///   integer, and [`super::finish_plain`] the same bits, on every kernel.
macro_rules! tile_loop {
    ($w:expr, $rows:expr, $kb:expr, $tokens:expr, $y:expr,
     bytes: $bytes:expr, pack: $pack:expr, full: $full:expr, part: $part:expr) => {{
        use $crate::int8::tiles::{GROUP, TILE};
        let (w, rows, kb, tokens, y): (&Int8Matrix, Range<usize>, Range<usize>, &Tokens, &mut [f32]) =
            ($w, $rows, $kb, $tokens, $y);
        let n_tokens = tokens.steps.len();
        let chunks = kb.len();
        let width = rows.len();
        let chunk_bytes = QK * $bytes;
        let tile_bytes = TILE * chunks * chunk_bytes;
        let mut panel = vec![0u8; GROUP / TILE * tile_bytes];
        let mut g0 = 0;
        while g0 < n_tokens {
            let ng = GROUP.min(n_tokens - g0);
            // The group's tokens interleaved `[tile][chunk][slot][32 values]` (slot stride
            // TILE in every tile), so each tile's kernel reads its part front to back.
            for t in 0..ng {
                let q = tokens.token(g0 + t);
                let (tile, slot) = (t / TILE, t % TILE);
                for c in 0..chunks {
                    let at = ((tile * chunks + c) * TILE + slot) * chunk_bytes;
                    $pack(&q[c * QK..(c + 1) * QK], &mut panel[at..at + chunk_bytes]);
                }
            }
            let mut steps = [0f32; GROUP];
            let mut offsets = [0i32; GROUP];
            steps[..ng].copy_from_slice(&tokens.steps[g0..g0 + ng]);
            offsets[..ng].copy_from_slice(&tokens.offsets[g0..g0 + ng]);
            let scale = |sums: &[i32; TILE], t0: usize, w_step: f32| -> [f32; TILE] {
                std::array::from_fn(|t| $crate::int8::finish_plain(sums[t] - offsets[t0 + t], w_step, steps[t0 + t]))
            };
            // Rows outside, tiles inside: a weight row is read from memory once per group and
            // then from L1 for every tile (the weights, 21 MB, do not stay in cache). Two rows
            // at a time share each load of the activations.
            for p in 0..width / 2 {
                let (j, r) = (2 * p, rows.start + 2 * p);
                let (w0, w1) = (w.row(r, &kb), w.row(r + 1, &kb));
                for t0 in (0..ng).step_by(TILE) {
                    let tile = &panel[t0 / TILE * tile_bytes..(t0 / TILE + 1) * tile_bytes];
                    // Full tiles call the full-width instance directly, so LLVM inlines it
                    // here; through the width `match` it stayed a call per row pair and tile.
                    let [s0, s1] = if ng - t0 >= TILE { $full(w0, w1, tile) } else { $part(ng - t0, w0, w1, tile) };
                    let (v0, v1) = (scale(&s0, t0, w.scales[r]), scale(&s1, t0, w.scales[r + 1]));
                    for t in 0..TILE.min(ng - t0) {
                        let at = (g0 + t0 + t) * width + j;
                        y[at] = v0[t];
                        y[at + 1] = v1[t];
                    }
                }
            }
            // An odd last row is paired with itself (half the work thrown away); e5-small's
            // row ranges (192, 384, 768, 1536) are all even, so only the tests take this path.
            if width % 2 == 1 {
                let (j, r) = (width - 1, rows.end - 1);
                let w0 = w.row(r, &kb);
                for t0 in (0..ng).step_by(TILE) {
                    let tile = &panel[t0 / TILE * tile_bytes..(t0 / TILE + 1) * tile_bytes];
                    let [s0, _] = $part(ng - t0, w0, w0, tile);
                    let v0 = scale(&s0, t0, w.scales[r]);
                    for (t, v) in v0.iter().enumerate().take(ng - t0) {
                        y[(g0 + t0 + t) * width + j] = *v;
                    }
                }
            }
            g0 += ng;
        }
    }};
}
