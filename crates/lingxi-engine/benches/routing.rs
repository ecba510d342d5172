//! Routing decision latency with 1,000 agents and 10,000 waiting conversations: criterion
//! timings, plus a per-decision loop that prints p50/p99, since the target is a tail latency.
//!
//! Run with `cargo bench -p lingxi-engine --bench routing`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use lingxi_engine::routing::{
    Action, AgentSpec, Capacity, CapacityKind, ConversationSpec, Router, RoutingPolicy, Skill, SkillSet,
};

const N_AGENTS: u32 = 1_000;
const N_WAITING: usize = 10_000;
const N_TEAMS: u32 = 4;
const N_SKILLS: u8 = 12;

type R = Router<u32, u64, u32>;

/// xorshift64*: deterministic and dependency-free, which is all a benchmark needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn skill(i: u64) -> Skill {
    Skill::new(i as u8).unwrap()
}

/// A tenant at steady overload: 1,000 agents (chat 5, email 20, each in one or two of four
/// teams, three of twelve skills), chat work saturated with 10,000 chats waiting, email work
/// with spare room.
struct World {
    router: R,
    rng: Rng,
    next_id: u64,
    now_ms: i64,
}

impl World {
    fn new() -> World {
        let mut w =
            World { router: R::new(RoutingPolicy::default()), rng: Rng(0x9e37_79b9_7f4a_7c15), next_id: 0, now_ms: 0 };
        for a in 0..N_AGENTS {
            let mut teams = vec![a % N_TEAMS];
            if w.rng.below(2) == 0 {
                teams.push((a + 1) % N_TEAMS);
            }
            let skills: SkillSet = (0..3).map(|_| skill(w.rng.below(u64::from(N_SKILLS)))).collect();
            w.router.upsert_agent(AgentSpec { id: a, skills, capacity: Capacity::new(5, 20), teams }, 0);
            w.router.agent_online(&a, 0).unwrap();
        }
        while w.router.n_waiting() < N_WAITING {
            let spec = w.chat();
            w.router.enqueue(spec, w.now_ms).unwrap();
        }
        w
    }

    fn spec(&mut self, kind: CapacityKind, team: Option<u32>) -> ConversationSpec<u64, u32> {
        self.now_ms += 1;
        self.next_id += 1;
        // Most chats need one skill (a language), some none; a few carry a preference.
        let required = match self.rng.below(4) {
            0 => SkillSet::EMPTY,
            _ => SkillSet::EMPTY.with(skill(self.rng.below(u64::from(N_SKILLS)))),
        };
        ConversationSpec {
            id: self.next_id,
            team,
            kind,
            priority: self.rng.below(4) as i32,
            required_skills: required,
            preferred_skills: SkillSet::EMPTY.with(skill(self.rng.below(u64::from(N_SKILLS)))),
            enqueued_at_ms: self.now_ms,
        }
    }

    fn chat(&mut self) -> ConversationSpec<u64, u32> {
        let team = (self.rng.below(4) != 0).then(|| self.rng.below(u64::from(N_TEAMS)) as u32);
        self.spec(CapacityKind::Chat, team)
    }

    /// A chat owned by a random agent, to resolve.
    fn assigned_chat(&mut self) -> u64 {
        loop {
            let a = self.rng.below(u64::from(N_AGENTS)) as u32;
            let owned = self.router.agent_conversations(&a).unwrap();
            if !owned.is_empty() {
                return owned[self.rng.below(owned.len() as u64) as usize];
            }
        }
    }

    /// Resolve one chat (timed by the caller); the queue backfills the agent. Then top the
    /// backlog up again so every sample sees 10,000 waiting.
    fn release_with_backfill(&mut self, timed: &mut impl FnMut(&mut R, u64, i64)) {
        let c = self.assigned_chat();
        self.now_ms += 1;
        timed(&mut self.router, c, self.now_ms);
        while self.router.n_waiting() < N_WAITING {
            let spec = self.chat();
            self.router.enqueue(spec, self.now_ms).unwrap();
        }
    }
}

fn assigned(actions: &[Action<u32, u64>]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Assign(x) => Some(x.conversation),
        _ => None,
    })
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<40} n={:<7} p50={:>8.2?} p90={:>8.2?} p99={:>8.2?} p99.9={:>8.2?} max={:>8.2?}",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        samples[samples.len() - 1]
    );
}

/// Times each decision on its own and prints the distribution.
fn report_percentiles(n: usize) {
    let mut w = World::new();
    println!(
        "world: {N_AGENTS} agents, {} waiting, {} conversations",
        w.router.n_waiting(),
        w.router.n_conversations()
    );

    let mut samples = Vec::with_capacity(n);
    let mut backfilled = 0;
    for _ in 0..n {
        w.release_with_backfill(&mut |r, c, now| {
            let t = Instant::now();
            let out = r.release(&c, now).unwrap();
            samples.push(t.elapsed());
            backfilled += usize::from(assigned(&out).is_some());
            black_box(out);
        });
    }
    percentiles("release + backfill from 10k queue", samples);
    println!("  ({backfilled} of {n} releases backfilled)");

    for (name, team) in [("enqueue email, any agent (scan 1000)", None), ("enqueue email, team (scan ~375)", Some(1))] {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let spec = w.spec(CapacityKind::Email, team);
            let now = w.now_ms;
            let t = Instant::now();
            let out = w.router.enqueue(spec, now).unwrap();
            samples.push(t.elapsed());
            let c = assigned(&out).expect("email has room");
            w.router.release(&c, now).unwrap();
        }
        percentiles(name, samples);
    }

    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let spec = w.chat();
        let now = w.now_ms;
        let t = Instant::now();
        let out = w.router.enqueue(spec, now).unwrap();
        samples.push(t.elapsed());
        if let Some(c) = assigned(&out) {
            w.router.release(&c, now).unwrap();
        }
    }
    percentiles("enqueue chat behind backlog", samples);

    let mut samples = Vec::with_capacity(n / 10);
    for i in 0..n / 10 {
        let a = (i as u32 * 7) % N_AGENTS;
        w.now_ms += 1;
        let t = Instant::now();
        let out = w.router.agent_offline(&a, w.now_ms).unwrap();
        samples.push(t.elapsed());
        black_box(out);
        w.router.agent_online(&a, w.now_ms).unwrap();
    }
    percentiles("agent offline: requeue 25 (incl. backfill)", samples);
}

fn bench_routing(c: &mut Criterion) {
    let mut w = World::new();
    let mut group = c.benchmark_group("routing_1000_agents_10000_waiting");
    group.bench_function("release_with_backfill", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                w.release_with_backfill(&mut |r, c, now| {
                    let t = Instant::now();
                    black_box(r.release(&c, now).unwrap());
                    total += t.elapsed();
                });
            }
            total
        })
    });
    group.bench_function("enqueue_with_assign_scan_all", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let spec = w.spec(CapacityKind::Email, None);
                let t = Instant::now();
                let out = black_box(w.router.enqueue(spec, w.now_ms).unwrap());
                total += t.elapsed();
                let c = assigned(&out).expect("email has room");
                w.router.release(&c, w.now_ms).unwrap();
            }
            total
        })
    });
    group.bench_function("enqueue_behind_backlog", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let spec = w.chat();
                let t = Instant::now();
                let out = black_box(w.router.enqueue(spec, w.now_ms).unwrap());
                total += t.elapsed();
                if let Some(c) = assigned(&out) {
                    w.router.release(&c, w.now_ms).unwrap();
                }
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_routing);

fn main() {
    // Only `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary as a
    // smoke test (criterion then runs each benchmark once), so keep the loop short there.
    let quick = !std::env::args().any(|a| a == "--bench");
    report_percentiles(if quick { 200 } else { 20_000 });
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
