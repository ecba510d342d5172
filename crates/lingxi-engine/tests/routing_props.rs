//! Property tests for the router over random event sequences: ownership, capacity, load
//! bookkeeping, head-of-line order and fairness must hold after every single event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;

use lingxi_engine::routing::{
    Action, AgentSpec, Assignment, AwayPolicy, Capacity, CapacityKind, ConversationSpec, ConversationState, Router,
    RoutingPolicy, Skill, SkillSet, TransferTarget,
};
use proptest::prelude::*;

const N_AGENTS: u32 = 5;
const N_TEAMS: u32 = 2;
const N_SKILLS: u8 = 3;

type R = Router<u32, u32, u32>;

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        team: Option<u32>,
        email: bool,
        priority: i32,
        required: SkillSet,
        preferred: SkillSet,
    },
    Online(u32),
    Away(u32),
    Offline(u32),
    /// Index into the conversations created so far (modulo their number).
    Release(usize),
    Answer(usize),
    SetCapacity(u32, bool, u16),
    Upsert(u32, SkillSet, Vec<u32>, u16, u16),
    TransferToAgent(usize, u32),
    TransferToTeam(usize, u32),
    Unanswered(i64),
    Tick(i64),
}

fn skill_set() -> impl Strategy<Value = SkillSet> {
    prop::collection::vec(0..N_SKILLS, 0..3).prop_map(|v| v.into_iter().map(|s| Skill::new(s).unwrap()).collect())
}

fn teams() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0..N_TEAMS, 0..3)
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0..N_AGENTS;
    prop_oneof![
        6 => (
            prop::option::weighted(0.3, 0..N_TEAMS),
            any::<bool>(),
            0..3i32,
            // Required skills are rarer than preferred ones, like in practice.
            prop::option::weighted(0.3, 0..N_SKILLS),
            skill_set()
        )
            .prop_map(|(team, email, priority, req, preferred)| Op::Enqueue {
                team,
                email,
                priority,
                required: req
                    .map(|s| SkillSet::EMPTY.with(Skill::new(s).unwrap()))
                    .unwrap_or_default(),
                preferred,
            }),
        3 => a.clone().prop_map(Op::Online),
        1 => a.clone().prop_map(Op::Away),
        1 => a.clone().prop_map(Op::Offline),
        4 => any::<usize>().prop_map(Op::Release),
        2 => any::<usize>().prop_map(Op::Answer),
        1 => (a.clone(), any::<bool>(), 0..4u16).prop_map(|(a, e, n)| Op::SetCapacity(a, e, n)),
        1 => (a.clone(), skill_set(), teams(), 0..4u16, 0..4u16)
            .prop_map(|(a, s, t, c, e)| Op::Upsert(a, s, t, c, e)),
        1 => (any::<usize>(), a.clone()).prop_map(|(i, a)| Op::TransferToAgent(i, a)),
        1 => (any::<usize>(), 0..N_TEAMS).prop_map(|(i, t)| Op::TransferToTeam(i, t)),
        1 => (1..200i64).prop_map(Op::Unanswered),
        2 => (0..100i64).prop_map(Op::Tick),
    ]
}

fn policy() -> impl Strategy<Value = RoutingPolicy> {
    (prop::option::of(1..100u32), any::<bool>(), any::<bool>()).prop_map(|(step, requeue, prefer_first)| {
        RoutingPolicy {
            ageing_step: step.and_then(NonZeroU32::new),
            on_away: if requeue { AwayPolicy::Requeue } else { AwayPolicy::Keep },
            preferred_skills_first: prefer_first,
            ..RoutingPolicy::default()
        }
    })
}

fn kind(email: bool) -> CapacityKind {
    if email {
        CapacityKind::Email
    } else {
        CapacityKind::Chat
    }
}

/// Where the test believes each conversation is, rebuilt only from the returned actions.
#[derive(Default)]
struct Model {
    /// Known conversation → owner (`None` = waiting).
    owner: BTreeMap<u32, Option<u32>>,
    specs: HashMap<u32, ConversationSpec<u32, u32>>,
    released: HashSet<u32>,
    created: Vec<u32>,
}

/// Skills and team; the model's spec carries the team as changed by transfers.
fn qualifies(r: &R, agent: u32, spec: &ConversationSpec<u32, u32>) -> bool {
    let a = r.agent(&agent).unwrap();
    a.skills.contains_all(spec.required_skills) && spec.team.is_none_or(|t| a.teams.contains(&t))
}

fn run(policy: RoutingPolicy, agents: Vec<(SkillSet, Vec<u32>, u16, u16)>, ops: Vec<Op>) {
    let mut r = R::new(policy);
    for (i, (skills, teams, chat, email)) in agents.into_iter().enumerate() {
        let out = r.upsert_agent(AgentSpec { id: i as u32, skills, capacity: Capacity::new(chat, email), teams }, 0);
        assert!(out.is_empty());
    }
    let mut m = Model::default();
    let mut now = 0i64;
    let mut next_id = 0u32;
    for op in ops {
        let waiting_before: HashMap<u32, usize> = r.waiting().into_iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let pick = |m: &Model, i: usize| (!m.created.is_empty()).then(|| m.created[i % m.created.len()]);
        let mut direct_target = None;
        let result = match op.clone() {
            Op::Enqueue { team, email, priority, required, preferred } => {
                let spec = ConversationSpec {
                    id: next_id,
                    team,
                    kind: kind(email),
                    priority,
                    required_skills: required,
                    preferred_skills: preferred,
                    enqueued_at_ms: now,
                };
                m.specs.insert(next_id, spec.clone());
                m.created.push(next_id);
                next_id += 1;
                r.enqueue(spec, now)
            }
            Op::Online(a) => r.agent_online(&a, now),
            Op::Away(a) => r.agent_away(&a, now),
            Op::Offline(a) => r.agent_offline(&a, now),
            Op::Release(i) => match pick(&m, i) {
                Some(c) => r.release(&c, now),
                None => continue,
            },
            Op::Answer(i) => match pick(&m, i) {
                Some(c) => r.mark_answered(&c).map(|()| vec![]),
                None => continue,
            },
            Op::SetCapacity(a, email, n) => r.set_capacity(&a, kind(email), n, now),
            Op::Upsert(a, skills, teams, chat, email) => {
                Ok(r.upsert_agent(AgentSpec { id: a, skills, capacity: Capacity::new(chat, email), teams }, now))
            }
            Op::TransferToAgent(i, a) => match pick(&m, i) {
                Some(c) => {
                    direct_target = Some((c, a));
                    r.transfer(&c, TransferTarget::Agent(a), now)
                }
                None => continue,
            },
            Op::TransferToTeam(i, t) => match pick(&m, i) {
                Some(c) => {
                    let res = r.transfer(&c, TransferTarget::Team(t), now);
                    if res.is_ok() {
                        m.specs.get_mut(&c).unwrap().team = Some(t);
                    }
                    res
                }
                None => continue,
            },
            Op::Unanswered(timeout) => Ok(r.reassign_unanswered(now, timeout)),
            Op::Tick(dt) => {
                now += dt;
                continue;
            }
        };
        let Ok(actions) = result else {
            // Errors must leave the state untouched; the checks below still run.
            check_state(&r, &m);
            continue;
        };

        // Replay the actions on the model, checking each is legal where it happens.
        let mut load: HashMap<(u32, CapacityKind), u16> = HashMap::new();
        for (c, o) in &m.owner {
            if let Some(a) = o {
                *load.entry((*a, m.specs[c].kind)).or_default() += 1;
            }
        }
        let mut detached = HashSet::new();
        let mut assigned_now = Vec::new();
        for action in &actions {
            match action {
                Action::Assign(Assignment { conversation: c, agent: a }) => {
                    let prev = m.owner.insert(*c, Some(*a));
                    assert!(
                        matches!(prev, None | Some(None)) || detached.contains(c),
                        "{c} got a second owner: {prev:?} then {a}"
                    );
                    assert!(!m.released.contains(c), "released {c} came back");
                    detached.remove(c);
                    let k = m.specs[c].kind;
                    let l = load.entry((*a, k)).or_default();
                    let view = r.agent(a).unwrap();
                    assert!(*l < view.capacity.get(k), "{a} over capacity taking {c}");
                    *l += 1;
                    assert_eq!(view.presence, lingxi_engine::routing::Presence::Online);
                    if direct_target != Some((*c, *a)) {
                        assert!(qualifies(&r, *a, &m.specs[c]), "{a} does not qualify for {c}");
                    }
                    assigned_now.push((*c, *a));
                }
                Action::Queue { conversation: c } => {
                    let prev = m.owner.insert(*c, None);
                    // Re-queueing a waiting conversation (a transfer to another team's queue)
                    // is fine; queueing one that still has an owner is not.
                    assert!(
                        matches!(prev, None | Some(None)) || detached.contains(c),
                        "{c} queued while owned: {prev:?}"
                    );
                    detached.remove(c);
                }
                Action::Unassign { conversation: c, agent: a, .. } => {
                    assert_eq!(m.owner.get(c), Some(&Some(*a)), "unassign from non-owner");
                    *load.get_mut(&(*a, m.specs[c].kind)).unwrap() -= 1;
                    detached.insert(*c);
                }
                Action::Release { conversation: c, agent } => {
                    assert_eq!(m.owner.remove(c), Some(*agent), "release mismatch");
                    if let Some(a) = agent {
                        *load.get_mut(&(*a, m.specs[c].kind)).unwrap() -= 1;
                    }
                    m.released.insert(*c);
                }
                Action::Presence { .. } => {}
            }
        }
        assert!(detached.is_empty(), "unassigned and never placed: {detached:?}");

        // Head-of-line order: a conversation given to an agent from the queue was ahead of
        // every conversation still waiting that the same agent could have taken instead.
        let waiting_after: Vec<u32> = r.waiting().into_iter().copied().collect();
        for &(c, a) in &assigned_now {
            if direct_target == Some((c, a)) {
                continue;
            }
            for &d in &waiting_after {
                let Some(&pos_d) = waiting_before.get(&d) else {
                    continue;
                };
                if m.specs[&d].kind != m.specs[&c].kind || !qualifies(&r, a, &m.specs[&d]) {
                    continue;
                }
                let pos_c = waiting_before.get(&c).copied();
                assert!(pos_c.is_some_and(|p| p < pos_d), "{c} went to {a} while {d}, ahead of it, kept waiting");
            }
        }
        check_state(&r, &m);
    }
}

/// The router's state equals the model built from actions, and no waiting conversation could
/// be taken by anyone.
fn check_state(r: &R, m: &Model) {
    assert_eq!(r.n_conversations(), m.owner.len());
    assert_eq!(r.n_waiting(), m.owner.values().filter(|o| o.is_none()).count());
    for (c, o) in &m.owner {
        let state = r.conversation_state(c).expect("known conversation");
        match (o, state) {
            (None, ConversationState::Waiting) => {}
            (Some(a), ConversationState::Assigned { agent, .. }) if agent == *a => {}
            (o, s) => panic!("{c}: model {o:?}, router {s:?}"),
        }
    }
    for c in &m.released {
        assert_eq!(r.conversation_state(c), None);
    }
    for view in r.agents() {
        for k in CapacityKind::ALL {
            let n = m.owner.iter().filter(|(c, o)| **o == Some(*view.id) && m.specs[c].kind == k).count();
            assert_eq!(usize::from(view.load(k)), n, "load counter of {}", view.id);
        }
        let owned = r.agent_conversations(view.id).unwrap();
        assert_eq!(owned.len(), m.owner.values().filter(|o| **o == Some(*view.id)).count());
    }
    for c in r.waiting() {
        for a in 0..N_AGENTS {
            assert!(!r.is_eligible(&a, c), "{c} waits while {a} could take it");
        }
    }
}

fn agents() -> impl Strategy<Value = Vec<(SkillSet, Vec<u32>, u16, u16)>> {
    prop::collection::vec((skill_set(), teams(), 0..4u16, 0..4u16), N_AGENTS as usize..=N_AGENTS as usize)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_after_every_event(
        policy in policy(),
        agents in agents(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        run(policy, agents, ops);
    }

    /// Arrivals only: with least-loaded routing, taking one conversation off any agent never
    /// leaves it above another's load ratio, i.e. (l_i - 1) / c_i <= l_j / c_j.
    #[test]
    fn arrivals_spread_by_load_ratio(
        caps in prop::collection::vec(1..6u16, 2..7),
        n_arrivals in 0..40u32,
        equal in any::<bool>(),
    ) {
        let caps: Vec<u16> = if equal { vec![caps[0]; caps.len()] } else { caps };
        let mut r = R::new(RoutingPolicy::default());
        for (i, &c) in caps.iter().enumerate() {
            r.upsert_agent(AgentSpec { id: i as u32, skills: SkillSet::EMPTY, capacity: Capacity::new(c, 0), teams: vec![] }, 0);
            r.agent_online(&(i as u32), 0).unwrap();
        }
        for c in 0..n_arrivals {
            r.enqueue(plain(c, i64::from(c)), i64::from(c)).unwrap();
            let loads: Vec<(u32, u32)> = r
                .agents()
                .map(|v| (u32::from(v.load(CapacityKind::Chat)), u32::from(v.capacity.get(CapacityKind::Chat))))
                .collect();
            for &(li, ci) in &loads {
                for &(lj, cj) in &loads {
                    if li > 0 {
                        prop_assert!((li - 1) * cj <= lj * ci, "{loads:?}");
                    }
                }
            }
            if equal {
                let max = loads.iter().map(|l| l.0).max().unwrap();
                let min = loads.iter().map(|l| l.0).min().unwrap();
                prop_assert!(max - min <= 1, "{loads:?}");
            }
        }
    }

    /// Steady load: while a backlog exists, every release is backfilled at once, so every agent
    /// stays exactly at capacity and the backlog drains in arrival order.
    #[test]
    fn backlog_keeps_every_agent_full(
        caps in prop::collection::vec(1..6u16, 2..7),
        releases in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut r = R::new(RoutingPolicy::default());
        for (i, &c) in caps.iter().enumerate() {
            r.upsert_agent(AgentSpec { id: i as u32, skills: SkillSet::EMPTY, capacity: Capacity::new(c, 0), teams: vec![] }, 0);
            r.agent_online(&(i as u32), 0).unwrap();
        }
        let total: u32 = caps.iter().map(|&c| u32::from(c)).sum();
        let n = total + 40;
        for c in 0..n {
            r.enqueue(plain(c, i64::from(c)), i64::from(c)).unwrap();
        }
        for (t, pick) in releases.into_iter().enumerate() {
            let next_expected = total + t as u32;
            let agent = (pick % caps.len()) as u32;
            let victim = r.agent_conversations(&agent).unwrap()[0];
            let out = r.release(&victim, 1000 + t as i64).unwrap();
            prop_assert_eq!(&out[1], &Action::Assign(Assignment { conversation: next_expected, agent }));
            for v in r.agents() {
                prop_assert_eq!(v.load(CapacityKind::Chat), v.capacity.get(CapacityKind::Chat));
            }
        }
    }
}

fn plain(id: u32, at: i64) -> ConversationSpec<u32, u32> {
    ConversationSpec {
        id,
        team: None,
        kind: CapacityKind::Chat,
        priority: 0,
        required_skills: SkillSet::EMPTY,
        preferred_skills: SkillSet::EMPTY,
        enqueued_at_ms: at,
    }
}
