//! The BERT encoder of multilingual-e5-small: weights, forward pass, mean pooling, and the two-thread work split.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use crate::format::{Config, EncoderResult, ModelFile, Source, DTYPE_F32, DTYPE_Q4, Q4_BLOCK_BYTES, QK};
use crate::int8::{self, Arithmetic, Int8Kernel, Int8Matrix, Q4x8Matrix};
use crate::kernels::{self, add_bias_act, add_layer_norm, Act, QMatrix};
use crate::{EncoderError, FeatureSpec};

/// A layer's weight matrix in the form its arithmetic reads.
#[derive(Debug)]
enum Linear {
    Q4(QMatrix),
    Int8(Int8Matrix),
    Q4x8(Q4x8Matrix),
}

/// A matmul input in the form its arithmetic reads; one serves every matrix over that input.
enum Input<'x> {
    F32(&'x [f32]),
    Int8(int8::Tokens),
}

impl Linear {
    /// `keep_outliers`: whether int8 activations set their largest values apart for this
    /// matrix (all but the attention output, whose input has none worth the cost; see
    /// [`Int8Matrix::quantise_input`]); `kernel`: what int8 products run on.
    fn new(m: QMatrix, (arithmetic, kernel): (Arithmetic, Int8Kernel), keep_outliers: bool) -> Self {
        match arithmetic {
            Arithmetic::F32 => Linear::Q4(m),
            Arithmetic::Int8 => Linear::Int8(Int8Matrix::from_q4(&m, keep_outliers, kernel)),
            Arithmetic::Q4x8 => Linear::Q4x8(Q4x8Matrix::from_q4(&m, keep_outliers, kernel != Int8Kernel::Scalar)),
        }
    }

    /// `x` (`n_tok` rows over all the columns) prepared for this matrix and any other of the
    /// same arithmetic and outlier setting.
    fn prepare<'x>(&self, x: &'x [f32], n_tok: usize) -> Input<'x> {
        match self {
            Linear::Q4(_) => Input::F32(x),
            Linear::Int8(m) => Input::Int8(m.quantise_input(x, m.cols, n_tok)),
            Linear::Q4x8(m) => Input::Int8(m.quantise_input(x, m.cols, n_tok)),
        }
    }

    /// `act(x W[rows]^T + bias[rows])` over a prepared input.
    fn matmul_input(&self, bias: &[f32], x: &Input, n_tok: usize, rows: Range<usize>, act: Act) -> Vec<f32> {
        let kb = 0..self.cols() / QK;
        let mut y = match (self, x) {
            (Linear::Q4(m), Input::F32(x)) => kernels::matmul_part(m, rows.clone(), kb, x, n_tok),
            (Linear::Int8(m), Input::Int8(t)) => int8::matmul_tokens(m, rows.clone(), kb, t),
            (Linear::Q4x8(m), Input::Int8(t)) => int8::q4x8_matmul_tokens(m, rows.clone(), kb, t),
            _ => unreachable!("an input prepared for another arithmetic"),
        };
        add_bias_act(&mut y, &bias[rows], act);
        y
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Linear::Q4(m) => m.heap_bytes(),
            Linear::Int8(m) => m.heap_bytes(),
            Linear::Q4x8(m) => m.heap_bytes(),
        }
    }

    fn cols(&self) -> usize {
        match self {
            Linear::Q4(m) => m.cols,
            Linear::Int8(m) => m.cols,
            Linear::Q4x8(m) => m.cols,
        }
    }

    /// See [`kernels::matmul_part`].
    fn matmul_part(&self, rows: Range<usize>, kb: Range<usize>, x: &[f32], n_tok: usize) -> Vec<f32> {
        match self {
            Linear::Q4(m) => kernels::matmul_part(m, rows, kb, x, n_tok),
            Linear::Int8(m) => int8::matmul_part(m, rows, kb, x, n_tok),
            Linear::Q4x8(m) => int8::q4x8_matmul_part(m, rows, kb, x, n_tok),
        }
    }

    /// `act(x W[rows]^T + bias[rows])`, as `kernels::matmul` for the Q4 form.
    fn matmul(&self, bias: &[f32], x: &[f32], n_tok: usize, rows: Range<usize>, act: Act) -> Vec<f32> {
        self.matmul_input(bias, &self.prepare(x, n_tok), n_tok, rows, act)
    }
}

/// Weights of one transformer layer.
#[derive(Debug)]
struct Layer {
    q: Linear,
    q_b: Vec<f32>,
    k: Linear,
    k_b: Vec<f32>,
    v: Linear,
    v_b: Vec<f32>,
    ao: Linear,
    ao_b: Vec<f32>,
    aln_w: Vec<f32>,
    aln_b: Vec<f32>,
    fi: Linear,
    fi_b: Vec<f32>,
    fo: Linear,
    fo_b: Vec<f32>,
    oln_w: Vec<f32>,
    oln_b: Vec<f32>,
}

/// The loaded network.
#[derive(Debug)]
pub(crate) struct Model {
    pub config: Config,
    word: QMatrix,
    pos: Vec<f32>,
    type0: Vec<f32>,
    eln_w: Vec<f32>,
    eln_b: Vec<f32>,
    layers: Vec<Layer>,
}

/// One input sequence inside a batched forward pass: token range `[start, end)`.
pub(crate) type Segment = Range<usize>;

/// File bytes streamed per read while converting a Q4 tensor (a whole number of blocks).
const STREAM_CHUNK: usize = 4096 * Q4_BLOCK_BYTES;

struct Loader<'s> {
    file: &'s ModelFile,
    src: &'s mut dyn Source,
}

impl Loader<'_> {
    fn f32_tensor(&mut self, name: &str, n: usize) -> EncoderResult<Vec<f32>> {
        let t = self.file.tensors.get(name).ok_or_else(|| EncoderError::MissingTensor(name.to_owned()))?;
        if t.dtype != DTYPE_F32 || t.n_elems < n {
            return Err(EncoderError::TensorShape {
                name: name.to_owned(),
                expected: format!("f32 x {n}"),
                found: format!("dtype {} x {}", t.dtype, t.n_elems),
            });
        }
        let mut bytes = vec![0u8; n * 4];
        self.src.read_at(t.range.start, &mut bytes)?;
        let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EncoderError::Corrupt(format!("tensor {name:?} has non-finite values")));
        }
        Ok(v)
    }

    /// Read a Q4 tensor in chunks straight into its packed in-memory form.
    fn q4_tensor(&mut self, name: &str, rows: usize, cols: usize) -> EncoderResult<QMatrix> {
        let t = self.file.tensors.get(name).ok_or_else(|| EncoderError::MissingTensor(name.to_owned()))?;
        if t.dtype != DTYPE_Q4 || t.n_elems != rows * cols || !cols.is_multiple_of(QK) {
            return Err(EncoderError::TensorShape {
                name: name.to_owned(),
                expected: format!("q4_0 {rows}x{cols}"),
                found: format!("dtype {} x {}", t.dtype, t.n_elems),
            });
        }
        let mut m = QMatrix::with_capacity(rows, cols);
        let mut buf = vec![0u8; STREAM_CHUNK.min(t.range.len())];
        let mut off = t.range.start;
        while off < t.range.end {
            let n = STREAM_CHUNK.min(t.range.end - off);
            self.src.read_at(off, &mut buf[..n])?;
            m.push_q4_bytes(&buf[..n])?;
            off += n;
        }
        if !m.is_complete() {
            return Err(EncoderError::Corrupt(format!("q4 tensor {name:?} is short")));
        }
        Ok(m)
    }
}

impl Model {
    pub fn load(
        file: &ModelFile,
        src: &mut dyn Source,
        arithmetic: Arithmetic,
        kernel: Int8Kernel,
    ) -> EncoderResult<Self> {
        let arithmetic = (arithmetic, kernel);
        let c = file.config.clone();
        let (h, ff) = (c.hidden, c.ffn);
        let mut ld = Loader { file, src };
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("l{l}.{s}");
            layers.push(Layer {
                q: Linear::new(ld.q4_tensor(&n("q.w"), h, h)?, arithmetic, true),
                q_b: ld.f32_tensor(&n("q.b"), h)?,
                k: Linear::new(ld.q4_tensor(&n("k.w"), h, h)?, arithmetic, true),
                k_b: ld.f32_tensor(&n("k.b"), h)?,
                v: Linear::new(ld.q4_tensor(&n("v.w"), h, h)?, arithmetic, true),
                v_b: ld.f32_tensor(&n("v.b"), h)?,
                ao: Linear::new(ld.q4_tensor(&n("ao.w"), h, h)?, arithmetic, false),
                ao_b: ld.f32_tensor(&n("ao.b"), h)?,
                aln_w: ld.f32_tensor(&n("aln.w"), h)?,
                aln_b: ld.f32_tensor(&n("aln.b"), h)?,
                fi: Linear::new(ld.q4_tensor(&n("fi.w"), ff, h)?, arithmetic, true),
                fi_b: ld.f32_tensor(&n("fi.b"), ff)?,
                fo: Linear::new(ld.q4_tensor(&n("fo.w"), h, ff)?, arithmetic, true),
                fo_b: ld.f32_tensor(&n("fo.b"), h)?,
                oln_w: ld.f32_tensor(&n("oln.w"), h)?,
                oln_b: ld.f32_tensor(&n("oln.b"), h)?,
            });
        }
        Ok(Model {
            word: ld.q4_tensor("emb.word", c.vocab_rows, h)?,
            pos: ld.f32_tensor("emb.pos", c.max_positions * h)?,
            type0: ld.f32_tensor("emb.type", h)?,
            eln_w: ld.f32_tensor("emb.ln.w", h)?,
            eln_b: ld.f32_tensor("emb.ln.b", h)?,
            layers,
            config: c,
        })
    }

    /// Resident bytes of all weights.
    pub fn heap_bytes(&self) -> usize {
        let f = |v: &Vec<f32>| v.len() * 4;
        self.word.heap_bytes()
            + f(&self.pos)
            + f(&self.type0)
            + self
                .layers
                .iter()
                .map(|l| {
                    [&l.q, &l.k, &l.v, &l.ao, &l.fi, &l.fo].iter().map(|m| m.heap_bytes()).sum::<usize>()
                        + [&l.q_b, &l.k_b, &l.v_b, &l.fi_b, &l.ao_b, &l.aln_w, &l.aln_b, &l.fo_b, &l.oln_w, &l.oln_b]
                            .iter()
                            .map(|v| f(v))
                            .sum::<usize>()
                })
                .sum::<usize>()
    }

    /// The two halves of the attention heads; the split point falls on a quant block
    /// boundary of the context columns (else everything goes to the second half).
    fn head_parts(&self) -> [Range<usize>; 2] {
        let c = &self.config;
        let hd = c.hidden / c.n_heads;
        let mid = c.n_heads / 2;
        let mid = if (mid * hd).is_multiple_of(QK) { mid } else { 0 };
        [0..mid, mid..c.n_heads]
    }

    /// The two halves of the FFN units, split on a quant block boundary.
    fn ffn_parts(&self) -> [Range<usize>; 2] {
        let mid = self.config.ffn / 2 / QK * QK;
        [0..mid, mid..self.config.ffn]
    }

    /// Q, K, V for `heads`, attention, and this half's share of the output
    /// projection: `ctx[:, heads] x AO[:, heads]^T` (`[n_tok][hidden]`, no bias).
    fn attention_part(&self, l: usize, heads: Range<usize>, x: &[f32], segments: &[Segment]) -> Vec<f32> {
        let c = &self.config;
        let (h, hd) = (c.hidden, c.hidden / c.n_heads);
        let n_tok = x.len() / h;
        if heads.is_empty() {
            return vec![0f32; n_tok * h];
        }
        let layer = &self.layers[l];
        let cols = heads.start * hd..heads.end * hd;
        let input = layer.q.prepare(x, n_tok);
        let q = layer.q.matmul_input(&layer.q_b, &input, n_tok, cols.clone(), Act::None);
        let k = layer.k.matmul_input(&layer.k_b, &input, n_tok, cols.clone(), Act::None);
        let v = layer.v.matmul_input(&layer.v_b, &input, n_tok, cols.clone(), Act::None);
        let ctx = attention(&q, &k, &v, segments, heads.len(), hd);
        layer.ao.matmul_part(0..h, cols.start / QK..cols.end / QK, &ctx, n_tok)
    }

    /// FFN units `units`: `gelu(x FI[units]^T + b) x FO[:, units]^T` (`[n_tok][hidden]`, no bias).
    fn ffn_part(&self, l: usize, units: Range<usize>, x: &[f32]) -> Vec<f32> {
        let h = self.config.hidden;
        let n_tok = x.len() / h;
        if units.is_empty() {
            return vec![0f32; n_tok * h];
        }
        let layer = &self.layers[l];
        let mid = layer.fi.matmul(&layer.fi_b, x, n_tok, units.clone(), Act::Gelu);
        layer.fo.matmul_part(0..h, units.start / QK..units.end / QK, &mid, n_tok)
    }

    /// Mean-pooled (not normalised) final hidden states of each segment.
    ///
    /// `ids` holds the concatenated token ids of all segments (each already
    /// wrapped in `<s> … </s>`); positions restart at 0 in every segment and
    /// attention never crosses a segment boundary. Ids must be `< vocab_rows`
    /// and segments at most `max_positions` long (the caller guarantees both).
    ///
    /// Each layer is two stages, each split in two halves (attention heads, then
    /// FFN units) whose partial products are summed in a fixed order, so the
    /// result is the same whether the worker thread computes the second half or
    /// the caller does.
    ///
    /// Besides the last layer's mean, each segment gets the views of `spec` from the same pass
    /// (the means of the listed layers and the last layer's first-token state; no extra
    /// pooling when `spec` asks for nothing).
    pub fn forward(
        self: &Arc<Self>,
        worker: Option<&Worker>,
        ids: &[u32],
        segments: &[Segment],
        spec: &FeatureSpec,
    ) -> Vec<Pooled> {
        let c = &self.config;
        let h = c.hidden;
        let n_tok = ids.len();
        let mut x = vec![0f32; n_tok * h];
        for seg in segments {
            for (p, t) in seg.clone().enumerate() {
                let row = &mut x[t * h..(t + 1) * h];
                self.word.dequant_row(ids[t] as usize, row);
                let pos = &self.pos[p * h..(p + 1) * h];
                for ((v, &pp), &ty) in row.iter_mut().zip(pos).zip(&self.type0) {
                    *v += pp + ty;
                }
            }
        }
        add_layer_norm(&mut x, None, &self.eln_w, &self.eln_b, c.ln_eps);
        let mut layer_means: Vec<Vec<Vec<f32>>> = vec![Vec::new(); spec.layer_means().len()];
        let mut tap = |layer: usize, x: &[f32]| {
            for (slot, _) in layer_means.iter_mut().zip(spec.layer_means()).filter(|(_, l)| **l == layer) {
                *slot = segment_means(x, h, segments);
            }
        };
        tap(0, &x);
        let segments: Arc<[Segment]> = segments.into();
        let worker = worker.filter(|_| n_tok > 0);
        let [heads0, heads1] = self.head_parts();
        let [units0, units1] = self.ffn_parts();

        for l in 0..self.layers.len() {
            let layer = &self.layers[l];
            let xa = Arc::new(x);
            let (a0, a1) = {
                let (m, xw, segs, heads1) = (Arc::clone(self), Arc::clone(&xa), Arc::clone(&segments), heads1.clone());
                run2(
                    worker,
                    move || m.attention_part(l, heads1.clone(), &xw, &segs),
                    || self.attention_part(l, heads0.clone(), &xa, &segments),
                )
            };
            let mut x1 = Arc::try_unwrap(xa).unwrap_or_else(|a| (*a).clone());
            add_layer_norm(&mut x1, Some(&sum_parts(a0, &a1, &layer.ao_b)), &layer.aln_w, &layer.aln_b, c.ln_eps);
            let x1a = Arc::new(x1);
            let (f0, f1) = {
                let (m, xw, units1) = (Arc::clone(self), Arc::clone(&x1a), units1.clone());
                run2(worker, move || m.ffn_part(l, units1.clone(), &xw), || self.ffn_part(l, units0.clone(), &x1a))
            };
            x = Arc::try_unwrap(x1a).unwrap_or_else(|a| (*a).clone());
            add_layer_norm(&mut x, Some(&sum_parts(f0, &f1, &layer.fo_b)), &layer.oln_w, &layer.oln_b, c.ln_eps);
            if !spec.is_empty() {
                tap(l + 1, &x);
            }
        }

        let means = segment_means(&x, h, &segments);
        let mut layer_means: Vec<std::vec::IntoIter<Vec<f32>>> = layer_means.into_iter().map(Vec::into_iter).collect();
        segments
            .iter()
            .zip(means)
            .map(|(seg, mean)| Pooled {
                mean,
                layers: layer_means.iter_mut().map(|m| m.next().unwrap_or_default()).collect(),
                first: spec.first_token().then(|| x[seg.start * h..(seg.start + 1) * h].to_vec()),
            })
            .collect()
    }
}

/// One segment's pooled states from [`Model::forward`] (none of them normalised).
pub(crate) struct Pooled {
    /// The last layer's mean.
    pub mean: Vec<f32>,
    /// The means of the spec's layers, in its order.
    pub layers: Vec<Vec<f32>>,
    /// The last layer's first-token state, when asked for.
    pub first: Option<Vec<f32>>,
}

/// The mean of the rows of `x` (width `h`) in each segment.
fn segment_means(x: &[f32], h: usize, segments: &[Segment]) -> Vec<Vec<f32>> {
    segments
        .iter()
        .map(|seg| {
            let mut mean = vec![0f32; h];
            for t in seg.clone() {
                for (m, v) in mean.iter_mut().zip(&x[t * h..(t + 1) * h]) {
                    *m += v;
                }
            }
            let inv = 1.0 / seg.len().max(1) as f32;
            mean.iter_mut().for_each(|m| *m *= inv);
            mean
        })
        .collect()
}

/// `(a + b) + bias` per row of width `bias.len()`, in place in `a`.
fn sum_parts(mut a: Vec<f32>, b: &[f32], bias: &[f32]) -> Vec<f32> {
    for (ra, rb) in a.chunks_exact_mut(bias.len()).zip(b.chunks_exact(bias.len())) {
        for ((va, vb), bb) in ra.iter_mut().zip(rb).zip(bias) {
            *va = (*va + vb) + bb;
        }
    }
    a
}

/// Scaled dot-product attention over `n_heads` heads of width `hd`; `q`, `k`, `v`
/// and the result are `[token][n_heads * hd]`.
///
/// Written so that the sums stay in registers: a head's keys are transposed (`[dim][key]`,
/// padded to whole groups of 8 keys) and a query's scores against 8 keys accumulate in one
/// 8-lane array over the dimensions; the output accumulates 8 dimensions at a time over the
/// keys. One 32-wide dot product per key, each ending in a horizontal sum, took a sixth of a
/// 32-token int8 pass, and sums kept in slices were reloaded and stored at every step.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn attention(q: &[f32], k: &[f32], v: &[f32], segments: &[Segment], n_heads: usize, hd: usize) -> Vec<f32> {
    const L: usize = 8;
    let width = n_heads * hd;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0f32; q.len()];
    let mut probs: Vec<f32> = Vec::new();
    let mut keys_t: Vec<f32> = Vec::new();
    for seg in segments {
        let n = seg.len();
        let stride = n.div_ceil(L) * L;
        for head in 0..n_heads {
            let o = head * hd;
            keys_t.clear();
            keys_t.resize(hd * stride, 0.0);
            for (j, s) in seg.clone().enumerate() {
                for (d, &kv) in k[s * width + o..s * width + o + hd].iter().enumerate() {
                    keys_t[d * stride + j] = kv;
                }
            }
            for t in seg.clone() {
                let qt = &q[t * width + o..t * width + o + hd];
                probs.clear();
                for c in 0..stride / L {
                    let mut acc = [0f32; L];
                    for (&qd, kd) in qt.iter().zip(keys_t.chunks_exact(stride)) {
                        let kd: &[f32; L] = kd[c * L..(c + 1) * L].try_into().expect("8 keys");
                        for l in 0..L {
                            acc[l] += qd * kd[l];
                        }
                    }
                    probs.extend_from_slice(&acc);
                }
                probs.truncate(n);
                let mut max = f32::NEG_INFINITY;
                for p in probs.iter_mut() {
                    *p *= scale;
                    max = max.max(*p);
                }
                let mut sum = 0.0;
                for p in probs.iter_mut() {
                    *p = (*p - max).exp();
                    sum += *p;
                }
                let inv = 1.0 / sum;
                let out_t = &mut out[t * width + o..t * width + o + hd];
                let mut chunks = out_t.chunks_exact_mut(L);
                for (c, oc) in (&mut chunks).enumerate() {
                    let mut acc = [0f32; L];
                    for (s, &p) in seg.clone().zip(probs.iter()) {
                        let vs: &[f32; L] =
                            v[s * width + o + c * L..s * width + o + (c + 1) * L].try_into().expect("8");
                        let p = p * inv;
                        for l in 0..L {
                            acc[l] += p * vs[l];
                        }
                    }
                    oc.copy_from_slice(&acc);
                }
                let done = hd - chunks.into_remainder().len();
                for (s, &p) in seg.clone().zip(probs.iter()) {
                    let p = p * inv;
                    for (oe, &ve) in out_t[done..].iter_mut().zip(&v[s * width + o + done..s * width + o + hd]) {
                        *oe += p * ve;
                    }
                }
            }
        }
    }
    out
}

type Job = Box<dyn FnOnce() + Send>;

/// A persistent helper thread that computes the second half of every stage.
/// It lives as long as the [`Worker`] (the thread ends when the sender drops).
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    pub fn spawn() -> Option<Worker> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lingxi-encoder".into())
            .spawn(move || {
                // Blocking, not polling: a worker polling between jobs used up its share of a
                // CPU that another process also wanted, and then waited behind it for the next
                // job (two threads beside a busy core: 3.4 ms against 2.5 ms, docs/encoder.md).
                for job in rx {
                    job();
                }
            })
            .ok()?;
        Some(Worker { jobs })
    }
}

/// How long a caller polls for the worker's half before it blocks: about as long as the two
/// halves of a stage differ, so that the caller is not put to sleep for a result that is
/// microseconds away. Waking a sleeping thread on another CPU took longer than that on a KVM
/// machine (two threads were slower than one, docs/encoder.md).
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// [`SPIN`] where the process may run on two CPUs or more, else zero: on one CPU the poller
/// would take the time the worker needs (two threads pinned to one core, both polling: 4.2 ms
/// against 3.0 ms without).
fn spin() -> std::time::Duration {
    static SPIN_HERE: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *SPIN_HERE.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        if cpus >= 2 {
            SPIN
        } else {
            std::time::Duration::ZERO
        }
    })
}

/// The next message, polling for [`spin`] before blocking; an error once every sender is gone.
fn recv_spinning<T>(rx: &mpsc::Receiver<T>) -> Result<T, mpsc::RecvError> {
    let (start, limit) = (std::time::Instant::now(), spin());
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < limit => {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
            Err(mpsc::TryRecvError::Empty) => return rx.recv(),
        }
    }
}

/// Run `hi` on the worker (if any) while the caller runs `lo`; returns `(lo, hi)`.
///
/// The worker is shared by every caller of the encoder (a customer's query and a knowledge
/// base build at once, say) and runs jobs in order. A caller that finishes `lo` before the
/// worker has started its `hi` takes `hi` back and runs it itself: nobody waits behind
/// another caller's queued work, and under contention a pass degrades to one thread instead
/// of queueing at each of its 24 joins. Either way `hi` runs exactly once, so the result is
/// the same.
fn run2<T, H, L>(worker: Option<&Worker>, hi: H, lo: L) -> (T, T)
where
    T: Send + 'static,
    H: Fn() -> T + Send + Sync + 'static,
    L: FnOnce() -> T,
{
    let Some(worker) = worker else {
        let a = lo();
        return (a, hi());
    };
    let hi = Arc::new(hi);
    let taken = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(1);
    let (remote, remote_taken) = (Arc::clone(&hi), Arc::clone(&taken));
    let job: Job = Box::new(move || {
        if !remote_taken.swap(true, Ordering::AcqRel) {
            let _ = tx.send(remote());
        }
    });
    if worker.jobs.send(job).is_err() {
        let a = lo();
        return (a, hi());
    }
    let a = lo();
    if !taken.swap(true, Ordering::AcqRel) {
        // The worker has not started it (busy with someone else's job): run it here.
        return (a, hi());
    }
    // The worker only fails to answer if the job panicked: recompute here.
    let b = recv_spinning(&rx).unwrap_or_else(|_| hi());
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_caller_takes_its_half_back_while_the_worker_runs_another_callers_job() {
        let worker = Worker::spawn().expect("a thread");
        // Another caller's job holds the worker until released.
        let (release, held) = mpsc::channel::<()>();
        let (started, worker_busy) = mpsc::channel::<()>();
        let busy: Job = Box::new(move || {
            let _ = started.send(());
            let _ = held.recv();
        });
        worker.jobs.send(busy).expect("worker alive");
        worker_busy.recv().expect("the other job started");
        let (done, result) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = done.send(run2(Some(&worker), || 2, || 1));
            });
            let got = result.recv_timeout(Duration::from_secs(10));
            release.send(()).expect("worker alive");
            assert_eq!(got, Ok((1, 2)), "both halves computed by the caller, without waiting");
        });
    }

    #[test]
    fn polling_receives_late_messages_and_ends_when_the_sender_is_gone() {
        // A message that arrives after the polling window is still received (by the blocking
        // receive); one within it too; a dropped sender is an error, not a hang.
        for delay in [Duration::ZERO, Duration::from_micros(20), SPIN * 4] {
            let (tx, rx) = mpsc::channel::<u32>();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(delay);
                tx.send(7).expect("receiver alive");
            });
            assert_eq!(recv_spinning(&rx), Ok(7), "after {delay:?}");
            sender.join().expect("sender");
            assert_eq!(recv_spinning(&rx), Err(mpsc::RecvError), "sender gone");
        }
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(spin(), if cpus >= 2 { SPIN } else { Duration::ZERO });
    }

    #[test]
    fn an_idle_worker_computes_the_second_half() {
        let worker = Worker::spawn().expect("a thread");
        let (started, hi_started) = mpsc::sync_channel::<()>(1);
        let caller = std::thread::current().id();
        let (a, b) = run2(
            Some(&worker),
            move || {
                let _ = started.send(());
                std::thread::current().id()
            },
            || {
                // Busy until the worker has picked up the other half (bounded, so a failure
                // shows as an assertion rather than a hang).
                let _ = hi_started.recv_timeout(Duration::from_secs(10));
                std::thread::current().id()
            },
        );
        assert_eq!(a, caller);
        assert_ne!(b, caller, "the worker computed it");
    }
}
