//! The AMX kernel (Intel Sapphire Rapids and later): `tdpbsud` multiplies a tile of signed
//! bytes (16 tokens x 64 activations) by a tile of unsigned ones (64 reduction values x 16
//! weight rows, four bytes per row per tile row) into a 16 x 16 tile of `i32` sums, 16,384
//! products per instruction against 64 for `vpdpbusd`.
//!
//! Its weight tile is exactly the VNNI kernel's interleaving (see [`super::interleave`]): one
//! 16-row block's sixteen consecutive groups of four columns are 1,024 contiguous bytes, which
//! load as a tile with a 64-byte stride. The activation tile is sixteen tokens' rows of
//! [`Tokens`], which an AMX matrix pads with zero tokens to a multiple of sixteen
//! ([`Int8Matrix::quantise_input`]). A tile row of the result is one token's sixteen sums,
//! finished by the VNNI kernel's expression
//! (the same operations, so the same bits). A reduction range that is not a whole number of
//! 64-byte tile rows goes to the VNNI kernel, which every AMX CPU has.
//!
//! Linux grants the tile registers' state only on request (`arch_prctl`), once per process;
//! [`available`] asks. Rust has no stable AMX intrinsics, so the tile instructions are inline
//! assembly, each block naming the tile registers it uses (the compiler never allocates them).
use std::arch::asm;
use std::arch::x86_64::*;
use std::ops::Range;
use std::sync::OnceLock;

use super::activations::TOKEN_PADDING;
use super::{block_pairs, vnni, BlockPair, Int8Matrix, Out, Tokens};

/// Weight rows per tile (16 tile rows of 64 bytes hold four columns of each).
const BLOCK_ROWS: usize = 16;
/// Tokens per activation tile.
const TILE_TOKENS: usize = TOKEN_PADDING;
/// Reduction bytes per tile step: one tile row of activations.
const STEP: usize = 64;
/// Bytes of one weight tile: a block's rows over one step, contiguous in the interleaving.
const WEIGHT_TILE: usize = BLOCK_ROWS * STEP;

/// Whether this CPU and OS run this kernel: the VNNI kernel (for its fallback and its
/// interleaving), AMX-TILE and AMX-INT8 in CPUID, and the kernel's permission for the tile data.
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 25 & 1 == 1);
        vnni::available() && tile && int8 && request_tile_data()
    })
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: Linux's once-per-process request for
/// the tile registers' state; false where the kernel refuses or lacks the call (it then
/// faults on the first tile instruction).
fn request_tile_data() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    #[allow(unsafe_code)]
    // SAFETY: a system call that changes only the process's permitted extended state; it
    // reads no memory of ours and clobbers only rcx and r11, declared.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

/// Run the kernel; panics where the CPU lacks it (callers choose it by [`available`]).
pub(super) fn matmul(w: &Int8Matrix, rows: Range<usize>, kb: Range<usize>, tokens: &Tokens, y: &mut [f32]) {
    assert!(available(), "the AMX kernel needs AMX-INT8 and the OS's permission");
    if !tokens.k.is_multiple_of(STEP) {
        return vnni::matmul(w, rows, kb, tokens, y);
    }
    assert!(!w.interleaved.is_empty(), "a matrix built for the AMX kernel");
    let n_tokens = tokens.steps.len();
    let padded = tokens.padded_from(0);
    assert!(padded.len() >= n_tokens.next_multiple_of(TILE_TOKENS) * tokens.k, "tokens padded for whole tiles");
    let mut out = Out { y, rows: rows.clone() };
    #[allow(unsafe_code)]
    // SAFETY: the CPU has AMX-INT8 and the OS granted its state (asserted above), and with
    // it the AVX-512 features `tile_pass` is compiled for (`available` checks VNNI's). Every
    // tile load reads 16 rows of 64 bytes inside a slice the kernel checks first.
    unsafe {
        configure();
        for pair in block_pairs::<BLOCK_ROWS>(w, &rows, &kb) {
            for t0 in (0..n_tokens).step_by(2 * TILE_TOKENS) {
                tile_pass(&pair, tokens, t0, &mut out);
            }
        }
        asm!("tilerelease", options(nostack, nomem));
    }
}

/// Every tile 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

/// Load the tile configuration (palette 1, eight tiles of 16 x 64 bytes).
///
/// # Safety
/// The CPU must have AMX-TILE with the OS's permission.
#[allow(unsafe_code)]
unsafe fn configure() {
    let mut config = TileConfig([0; 64]);
    config.0[0] = 1;
    for t in 0..8 {
        config.0[16 + 2 * t] = STEP as u8;
        config.0[48 + t] = TILE_TOKENS as u8;
    }
    // SAFETY: the caller's; the configuration is 64 readable bytes.
    unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly)) };
}

/// Tokens `t0..t0 + 32` (fewer at the end) against a pair of row blocks: tiles 0 and 1 sum
/// the first sixteen tokens against each block, tiles 2 and 3 the next sixteen.
///
/// Compiled for AVX-512, which every AMX CPU has, so the results are finished sixteen lanes
/// at a time.
///
/// # Safety
/// The CPU must have AMX-INT8 with the OS's permission, and [`configure`] must have run on
/// this thread.
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile_pass(pair: &BlockPair<BLOCK_ROWS>, tokens: &Tokens, t0: usize, out: &mut Out) {
    let k = tokens.k;
    let n_tokens = tokens.steps.len();
    let two = n_tokens - t0 > TILE_TOKENS;
    let x = tokens.padded_from(t0);
    let w = pair.bytes;
    // What the loads below read: 16 (or 32) token rows of k bytes, and per block k/4 groups
    // of 64 bytes.
    assert!(x.len() >= if two { 2 } else { 1 } * TILE_TOKENS * k, "activation tiles inside the tokens");
    assert!(w[0].len() == k * BLOCK_ROWS && w[1].len() == k * BLOCK_ROWS, "weight tiles inside the blocks");
    let (xp, w0, w1) = (x.as_ptr(), w[0].as_ptr(), w[1].as_ptr());
    let x1 = xp.wrapping_add(TILE_TOKENS * k);
    // SAFETY (every block): the caller's, and the bounds asserted above: step `s` reads
    // activation bytes `s*64 + row*k` (+ 64) for rows < 16 (32) and weight bytes
    // `s * WEIGHT_TILE .. (s + 1) * WEIGHT_TILE`.
    unsafe {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
        for s in 0..k / STEP {
            let (a, b0, b1) =
                (xp.wrapping_add(s * STEP), w0.wrapping_add(s * WEIGHT_TILE), w1.wrapping_add(s * WEIGHT_TILE));
            asm!(
                "tileloadd tmm4, [{a} + {k}*1]",
                "tileloadd tmm6, [{b0} + {row}*1]",
                "tileloadd tmm7, [{b1} + {row}*1]",
                "tdpbsud tmm0, tmm4, tmm6",
                "tdpbsud tmm1, tmm4, tmm7",
                a = in(reg) a, b0 = in(reg) b0, b1 = in(reg) b1, k = in(reg) k, row = in(reg) STEP,
                options(nostack, readonly),
            );
            if two {
                asm!(
                    "tileloadd tmm5, [{a} + {k}*1]",
                    "tdpbsud tmm2, tmm5, tmm6",
                    "tdpbsud tmm3, tmm5, tmm7",
                    a = in(reg) x1.wrapping_add(s * STEP), k = in(reg) k,
                    options(nostack, readonly),
                );
            }
        }
    }
    let mut sums = [[0i32; BLOCK_ROWS * TILE_TOKENS]; 4];
    {
        let [s0, s1, s2, s3] = &mut sums;
        let stride = BLOCK_ROWS * 4;
        // SAFETY: each tile store writes 16 rows of 64 bytes into its own 1,024-byte array.
        unsafe {
            asm!(
                "tilestored [{s0} + {stride}*1], tmm0",
                "tilestored [{s1} + {stride}*1], tmm1",
                s0 = in(reg) s0.as_mut_ptr(), s1 = in(reg) s1.as_mut_ptr(), stride = in(reg) stride,
                options(nostack),
            );
            if two {
                asm!(
                    "tilestored [{s2} + {stride}*1], tmm2",
                    "tilestored [{s3} + {stride}*1], tmm3",
                    s2 = in(reg) s2.as_mut_ptr(), s3 = in(reg) s3.as_mut_ptr(), stride = in(reg) stride,
                    options(nostack),
                );
            }
        }
    }
    for t in t0..n_tokens.min(t0 + 2 * TILE_TOKENS) {
        let (half, row) = ((t - t0) / TILE_TOKENS, (t - t0) % TILE_TOKENS);
        for (i, scales) in pair.scales.iter().enumerate() {
            let s = &sums[2 * half + i][row * BLOCK_ROWS..(row + 1) * BLOCK_ROWS];
            let v = finish(s.try_into().expect("16 sums"), tokens.offsets[t], scales, tokens.steps[t]);
            out.store(t, pair.row0 + i * BLOCK_ROWS, &v);
        }
    }
}

/// One token's sixteen results, `(sum - offset) as f32 * w_step * x_step` lane by lane: the
/// VNNI kernel's operations in its order (see [`super::finish_plain`]).
#[inline(always)]
fn finish(sums: &[i32; 16], offset: i32, w_steps: &[f32; 16], x_step: f32) -> [f32; 16] {
    std::array::from_fn(|r| super::finish_plain(sums[r] - offset, w_steps[r], x_step))
}
