//! The BERT encoder of multilingual-e5-small: weights, forward pass, mean pooling, and the two-thread work split.

use std::ops::Range;
use std::sync::{mpsc, Arc};

use crate::format::{Config, EncoderResult, ModelFile, DTYPE_F32, DTYPE_Q4};
use crate::kernels::{add_layer_norm, dot, matmul, Act, QMatrix, ROW_TILE};
use crate::EncoderError;

/// Weights of one transformer layer; Q, K and V are stacked into one matrix.
#[derive(Debug)]
struct Layer {
    qkv: QMatrix,
    qkv_b: Vec<f32>,
    ao: QMatrix,
    ao_b: Vec<f32>,
    aln_w: Vec<f32>,
    aln_b: Vec<f32>,
    fi: QMatrix,
    fi_b: Vec<f32>,
    fo: QMatrix,
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

fn f32_tensor(file: &ModelFile<'_>, name: &str, n: usize) -> EncoderResult<Vec<f32>> {
    let t = file.tensors.get(name).ok_or_else(|| EncoderError::MissingTensor(name.to_owned()))?;
    if t.dtype != DTYPE_F32 || t.n_elems < n {
        return Err(EncoderError::TensorShape {
            name: name.to_owned(),
            expected: format!("f32 x {n}"),
            found: format!("dtype {} x {}", t.dtype, t.n_elems),
        });
    }
    let v: Vec<f32> = t.bytes[..n * 4].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(EncoderError::Corrupt(format!("tensor {name:?} has non-finite values")));
    }
    Ok(v)
}

fn q4_tensor(file: &ModelFile<'_>, name: &str, rows: usize, cols: usize) -> EncoderResult<QMatrix> {
    let t = file.tensors.get(name).ok_or_else(|| EncoderError::MissingTensor(name.to_owned()))?;
    if t.dtype != DTYPE_Q4 || t.n_elems != rows * cols {
        return Err(EncoderError::TensorShape {
            name: name.to_owned(),
            expected: format!("q4_0 {rows}x{cols}"),
            found: format!("dtype {} x {}", t.dtype, t.n_elems),
        });
    }
    QMatrix::from_q4_bytes(t.bytes, rows, cols)
}

impl Model {
    pub fn from_file(file: &ModelFile<'_>) -> EncoderResult<Self> {
        let c = file.config.clone();
        let (h, ff) = (c.hidden, c.ffn);
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("l{l}.{s}");
            let qkv = QMatrix::concat_rows(vec![
                q4_tensor(file, &n("q.w"), h, h)?,
                q4_tensor(file, &n("k.w"), h, h)?,
                q4_tensor(file, &n("v.w"), h, h)?,
            ]);
            let mut qkv_b = f32_tensor(file, &n("q.b"), h)?;
            qkv_b.extend(f32_tensor(file, &n("k.b"), h)?);
            qkv_b.extend(f32_tensor(file, &n("v.b"), h)?);
            layers.push(Layer {
                qkv,
                qkv_b,
                ao: q4_tensor(file, &n("ao.w"), h, h)?.expanded(),
                ao_b: f32_tensor(file, &n("ao.b"), h)?,
                aln_w: f32_tensor(file, &n("aln.w"), h)?,
                aln_b: f32_tensor(file, &n("aln.b"), h)?,
                fi: q4_tensor(file, &n("fi.w"), ff, h)?.expanded(),
                fi_b: f32_tensor(file, &n("fi.b"), ff)?,
                fo: q4_tensor(file, &n("fo.w"), h, ff)?.expanded(),
                fo_b: f32_tensor(file, &n("fo.b"), h)?,
                oln_w: f32_tensor(file, &n("oln.w"), h)?,
                oln_b: f32_tensor(file, &n("oln.b"), h)?,
            });
        }
        Ok(Model {
            word: q4_tensor(file, "emb.word", c.vocab_rows, h)?,
            pos: f32_tensor(file, "emb.pos", c.max_positions * h)?,
            type0: f32_tensor(file, "emb.type", h)?,
            eln_w: f32_tensor(file, "emb.ln.w", h)?,
            eln_b: f32_tensor(file, "emb.ln.b", h)?,
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
                    l.qkv.heap_bytes()
                        + l.ao.heap_bytes()
                        + l.fi.heap_bytes()
                        + l.fo.heap_bytes()
                        + f(&l.qkv_b)
                        + f(&l.fi_b)
                        + f(&l.ao_b)
                        + f(&l.aln_w)
                        + f(&l.aln_b)
                        + f(&l.fo_b)
                        + f(&l.oln_w)
                        + f(&l.oln_b)
                })
                .sum::<usize>()
    }

    /// Mean-pooled (not normalised) final hidden states of each segment.
    ///
    /// `ids` holds the concatenated token ids of all segments (each already
    /// wrapped in `<s> … </s>`); positions restart at 0 in every segment and
    /// attention never crosses a segment boundary. Ids must be `< vocab_rows`
    /// and segments at most `max_positions` long (the caller guarantees both).
    pub fn forward(&self, ids: &[u32], segments: &[Segment], n_threads: usize) -> Vec<Vec<f32>> {
        if n_threads <= 1 || ids.len() < 2 {
            return self.forward_with(None, ids, segments);
        }
        std::thread::scope(|s| {
            let (job_tx, job_rx) = mpsc::channel::<Job<'_>>();
            let (res_tx, res_rx) = mpsc::channel::<Vec<f32>>();
            s.spawn(move || {
                for job in job_rx {
                    if res_tx.send(job()).is_err() {
                        break;
                    }
                }
            });
            let helper = Helper { jobs: job_tx, results: res_rx };
            self.forward_with(Some(&helper), ids, segments)
        })
    }

    fn forward_with<'w>(&'w self, helper: Option<&Helper<'w>>, ids: &[u32], segments: &[Segment]) -> Vec<Vec<f32>> {
        let c = &self.config;
        let (h, n_heads) = (c.hidden, c.n_heads);
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
        let segments: Arc<[Segment]> = segments.into();

        for layer in &self.layers {
            let xa: Arc<Vec<f32>> = Arc::new(x);
            let qkv = {
                let xa = Arc::clone(&xa);
                split(helper, 3 * h, n_tok, ROW_TILE, move |r| {
                    matmul(&layer.qkv, &layer.qkv_b, &xa, n_tok, r, Act::None)
                })
            };
            let qkv = Arc::new(qkv);
            let ctx = {
                let segments = Arc::clone(&segments);
                let hd = h / n_heads;
                split(helper, n_heads, n_tok, 1, move |heads| attention(&qkv, &segments, heads, h, hd))
            };
            let ctx = Arc::new(ctx);
            let ao =
                split(helper, h, n_tok, ROW_TILE, move |r| matmul(&layer.ao, &layer.ao_b, &ctx, n_tok, r, Act::None));
            let mut x1 = Arc::try_unwrap(xa).unwrap_or_else(|a| (*a).clone());
            add_layer_norm(&mut x1, Some(&ao), &layer.aln_w, &layer.aln_b, c.ln_eps);
            let x1a = Arc::new(x1);
            let mid = {
                let x1a = Arc::clone(&x1a);
                split(helper, c.ffn, n_tok, ROW_TILE, move |r| {
                    matmul(&layer.fi, &layer.fi_b, &x1a, n_tok, r, Act::Gelu)
                })
            };
            let mid = Arc::new(mid);
            let fo =
                split(helper, h, n_tok, ROW_TILE, move |r| matmul(&layer.fo, &layer.fo_b, &mid, n_tok, r, Act::None));
            x = Arc::try_unwrap(x1a).unwrap_or_else(|a| (*a).clone());
            add_layer_norm(&mut x, Some(&fo), &layer.oln_w, &layer.oln_b, c.ln_eps);
        }

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
}

/// Scaled dot-product attention for heads `heads`; returns `[token][heads.len() * hd]`.
fn attention(qkv: &[f32], segments: &[Segment], heads: Range<usize>, h: usize, hd: usize) -> Vec<f32> {
    let n_tok = segments.iter().map(|s| s.end).max().unwrap_or(0);
    let width = heads.len() * hd;
    let stride = 3 * h;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0f32; n_tok * width];
    let mut probs = Vec::new();
    for seg in segments {
        for head in heads.clone() {
            let qo = head * hd;
            let (ko, vo) = (h + qo, 2 * h + qo);
            for t in seg.clone() {
                let q = &qkv[t * stride + qo..t * stride + qo + hd];
                probs.clear();
                probs.extend(seg.clone().map(|s| dot(q, &qkv[s * stride + ko..s * stride + ko + hd]) * scale));
                let max = probs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for p in probs.iter_mut() {
                    *p = (*p - max).exp();
                    sum += *p;
                }
                let inv = 1.0 / sum;
                let o0 = t * width + (head - heads.start) * hd;
                let o = &mut out[o0..o0 + hd];
                for (s, &p) in seg.clone().zip(probs.iter()) {
                    let p = p * inv;
                    for (oe, &ve) in o.iter_mut().zip(&qkv[s * stride + vo..s * stride + vo + hd]) {
                        *oe += p * ve;
                    }
                }
            }
        }
    }
    out
}

type Job<'w> = Box<dyn FnOnce() -> Vec<f32> + Send + 'w>;

/// The second worker of a forward pass: receives half of each stage's columns.
struct Helper<'w> {
    jobs: mpsc::Sender<Job<'w>>,
    results: mpsc::Receiver<Vec<f32>>,
}

/// Compute `f(0..n_units)` (a `[n_tok][width(units)]` block), handing the upper
/// half of the units to the helper thread when there is one. Column widths are
/// proportional to the unit count, so the two halves are joined row by row.
fn split<'w, F>(helper: Option<&Helper<'w>>, n_units: usize, n_tok: usize, align: usize, f: F) -> Vec<f32>
where
    F: Fn(Range<usize>) -> Vec<f32> + Send + Sync + 'w,
{
    let mid = (n_units / 2).div_ceil(align) * align;
    let Some(helper) = helper.filter(|_| mid > 0 && mid < n_units && n_tok > 0) else {
        return f(0..n_units);
    };
    let f = Arc::new(f);
    let f2 = Arc::clone(&f);
    if helper.jobs.send(Box::new(move || f2(mid..n_units))).is_err() {
        return f(0..n_units);
    }
    let lo = f(0..mid);
    let Ok(hi) = helper.results.recv() else {
        // The helper died (it cannot, short of a bug): finish on this thread.
        let hi = f(mid..n_units);
        return join_columns(&lo, &hi, n_tok);
    };
    join_columns(&lo, &hi, n_tok)
}

fn join_columns(lo: &[f32], hi: &[f32], n_tok: usize) -> Vec<f32> {
    let (wl, wh) = (lo.len() / n_tok, hi.len() / n_tok);
    let mut out = Vec::with_capacity(lo.len() + hi.len());
    for t in 0..n_tok {
        out.extend_from_slice(&lo[t * wl..(t + 1) * wl]);
        out.extend_from_slice(&hi[t * wh..(t + 1) * wh]);
    }
    out
}
