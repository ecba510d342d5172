//! Queue and routing: one [`Router`] per tenant decides which agent owns which waiting
//! conversation, on every event that can change the answer, and returns its decisions as data.
//!
//! # Rules
//! * Each conversation the router knows is in exactly one place: waiting in one queue, or
//!   assigned to one agent. Releasing it forgets it. So a conversation never has two owners and
//!   is never lost.
//! * Head of line: after every call, no waiting conversation could be taken by an online,
//!   eligible agent with spare capacity. When capacity frees, the freed agent takes the best
//!   waiting conversation it is eligible for at once.
//! * Order: highest effective priority first, then oldest `enqueued_at_ms`, then arrival order.
//!   Effective priority is `priority + waited_ms / ageing_step_ms` (exact rational, see
//!   [`RoutingPolicy::ageing_step`]), which is why ageing never needs a re-sort: comparing
//!   `priority * step - enqueued_at` gives the same order at every `now`.
//! * Eligible agent: online, has every required skill, is in the conversation's team (if it has
//!   one), and has load below capacity for the conversation's [`CapacityKind`].
//! * Choice among eligible agents: lowest `load / capacity` (compared exactly by
//!   cross-multiplication), then most preferred skills, then idle longest, then registration
//!   order. Load comes before preferences by default because even spreading under load is the
//!   guarantee people ask routing for; a tenant that would rather concentrate work on the best
//!   match sets [`RoutingPolicy::preferred_skills_first`].
//!
//! # Data structures
//! Waiting conversations are bucketed by `(team, capacity kind, required skills)`; each bucket
//! is a `BTreeMap` ordered by the queue key. Because of the head-of-line rule, a non-empty bucket
//! means every agent eligible for it is busy, so enqueueing behind it is a plain insert. When an
//! agent frees, only the buckets of its teams (and the team-less buckets) are scanned, and only
//! their heads are compared. When a conversation arrives at an empty bucket, only the members of
//! its team (or all agents, for team-less work) are scanned.

mod skill;

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::num::NonZeroU32;

pub use skill::{Skill, SkillCatalog, SkillSet};

/// What an id type must support to be used by the router. Domain ids (string newtypes) and
/// plain integers both qualify.
pub trait Key: Clone + Eq + Hash + Ord + Debug {}
impl<K: Clone + Eq + Hash + Ord + Debug> Key for K {}

/// The workload class a conversation counts against in an agent's capacity.
///
/// Live chat channels (web chat, app, WeChat, WeCom) are `Chat`; asynchronous ones (email,
/// phone transcripts) are `Email`. The caller maps its channel kind onto this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityKind {
    Chat,
    Email,
}

impl CapacityKind {
    pub const COUNT: usize = 2;
    pub const ALL: [CapacityKind; Self::COUNT] = [CapacityKind::Chat, CapacityKind::Email];

    fn idx(self) -> usize {
        self as usize
    }
}

/// How many open conversations of each [`CapacityKind`] an agent may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity([u16; CapacityKind::COUNT]);

impl Capacity {
    pub fn new(chat: u16, email: u16) -> Self {
        Capacity([chat, email])
    }

    pub fn get(self, kind: CapacityKind) -> u16 {
        self.0[kind.idx()]
    }

    pub fn with(mut self, kind: CapacityKind, n: u16) -> Self {
        self.0[kind.idx()] = n;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// What happens to an agent's conversations when the agent goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwayPolicy {
    /// The agent keeps the conversations (a short break) and only stops receiving new ones.
    Keep,
    /// The conversations go back to the queue and are reassigned at once.
    Requeue,
}

/// The inputs that raise a conversation's base priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PriorityFlags {
    pub vip: bool,
    pub angry: bool,
    /// The topic is one the tenant wants humans to see first (complaint, cancellation, fraud).
    pub priority_topic: bool,
}

/// Tenant routing settings. Fixed for the life of a [`Router`], because queue keys depend on
/// the ageing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// Effective priority rises by one level per this many milliseconds waited; `None` turns
    /// ageing off (strict priority, FIFO within a level).
    pub ageing_step: Option<NonZeroU32>,
    pub vip_weight: i32,
    pub angry_weight: i32,
    pub priority_topic_weight: i32,
    pub on_away: AwayPolicy,
    /// Rank agents by preferred-skill matches before load instead of after.
    pub preferred_skills_first: bool,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        RoutingPolicy {
            // One level per five minutes: a normal customer who waited ten minutes ties a VIP
            // (weight 2) who just arrived, so nobody starves behind a stream of VIPs.
            ageing_step: NonZeroU32::new(5 * 60 * 1000),
            vip_weight: 2,
            angry_weight: 1,
            priority_topic_weight: 1,
            on_away: AwayPolicy::Keep,
            preferred_skills_first: false,
        }
    }
}

impl RoutingPolicy {
    /// The base priority for a conversation with these flags (0 for none).
    pub fn priority(&self, flags: PriorityFlags) -> i32 {
        i32::from(flags.vip) * self.vip_weight
            + i32::from(flags.angry) * self.angry_weight
            + i32::from(flags.priority_topic) * self.priority_topic_weight
    }
}

/// An agent as the router needs to know it. Presence is set separately and starts `Offline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec<A, T> {
    pub id: A,
    pub skills: SkillSet,
    pub capacity: Capacity,
    pub teams: Vec<T>,
}

/// A conversation that needs a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSpec<C, T> {
    pub id: C,
    /// Only members of this team may take it; `None` means any agent.
    pub team: Option<T>,
    pub kind: CapacityKind,
    /// Base priority, higher first; usually [`RoutingPolicy::priority`] of the flags.
    pub priority: i32,
    /// Hard: an agent without all of these never gets it.
    pub required_skills: SkillSet,
    /// Soft: used to break ties between agents.
    pub preferred_skills: SkillSet,
    /// When the customer started waiting for a human. Kept across requeues so a customer who
    /// loses their agent is not sent to the back of the line.
    pub enqueued_at_ms: i64,
}

/// Where a transfer sends a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget<A, T> {
    /// A named agent, who must be online with spare capacity; skills and teams are not checked,
    /// since a person chose them.
    Agent(A),
    /// Any eligible member of the team, through the queue.
    Team(T),
}

/// A routing decision: this conversation is now owned by this agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<A, C> {
    pub conversation: C,
    pub agent: A,
}

/// Why an agent lost a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnassignReason {
    AgentAway,
    AgentOffline,
    AgentRemoved,
    Transferred,
    /// The agent did not answer within the timeout given to [`Router::reassign_unanswered`].
    Unanswered,
}

/// One decision for the caller to persist and announce. Apply a call's actions in order; after
/// the last one, the caller's records equal the router's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<A, C> {
    /// The conversation is owned by the agent (from the queue, a requeue or a transfer).
    Assign(Assignment<A, C>),
    /// The conversation is waiting in the queue with no owner.
    Queue { conversation: C },
    /// The agent no longer owns the conversation; an `Assign` or `Queue` for it follows in
    /// the same list.
    Unassign { conversation: C, agent: A, reason: UnassignReason },
    /// The router has forgotten the conversation (resolved, closed, or abandoned while waiting).
    Release { conversation: C, agent: Option<A> },
    /// The router changed an agent's presence itself (an agent who left conversations
    /// unanswered is set away).
    Presence { agent: A, presence: Presence },
}

/// Where a conversation is, as reported by [`Router::conversation_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationState<A> {
    Waiting,
    Assigned { agent: A, answered: bool },
}

/// A read-only view of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView<'a, A, T> {
    pub id: &'a A,
    pub skills: SkillSet,
    pub capacity: Capacity,
    pub teams: &'a [T],
    pub presence: Presence,
    pub idle_since_ms: i64,
    pub load: [u16; CapacityKind::COUNT],
}

impl<A, T> AgentView<'_, A, T> {
    pub fn load(&self, kind: CapacityKind) -> u16 {
        self.load[kind.idx()]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown agent")]
    UnknownAgent,
    #[error("unknown conversation")]
    UnknownConversation,
    #[error("conversation is already routed")]
    DuplicateConversation,
    #[error("conversation is not assigned")]
    NotAssigned,
    #[error("agent is not online")]
    AgentNotOnline,
    #[error("agent has no spare capacity")]
    AgentAtCapacity,
    #[error("more than {} distinct skills", Skill::MAX)]
    TooManySkills,
}

/// Total order of waiting conversations: smaller is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    rank: Reverse<i128>,
    enqueued_at_ms: i64,
    seq: u64,
}

#[derive(Debug, Clone, Copy)]
enum Place {
    Waiting {
        bucket: usize,
    },
    Assigned {
        agent: usize,
        assigned_at_ms: i64,
        answered: bool,
    },
    /// Only inside one call, between leaving one place and entering the next.
    Detached,
}

#[derive(Debug, Clone)]
struct ConvRecord<T> {
    team: Option<T>,
    kind: CapacityKind,
    priority: i32,
    required: SkillSet,
    preferred: SkillSet,
    key: QueueKey,
    place: Place,
}

#[derive(Debug, Clone)]
struct AgentSlot<A, C, T> {
    id: A,
    skills: SkillSet,
    teams: Vec<T>,
    capacity: Capacity,
    load: [u16; CapacityKind::COUNT],
    presence: Presence,
    /// Last assignment or coming online, whichever is later: the final tie-breaker.
    idle_since_ms: i64,
    conversations: Vec<C>,
}

impl<A, C, T> AgentSlot<A, C, T> {
    fn has_room(&self, kind: CapacityKind) -> bool {
        self.load[kind.idx()] < self.capacity.get(kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey<T> {
    team: Option<T>,
    kind: CapacityKind,
    required: SkillSet,
}

#[derive(Debug, Clone)]
struct Bucket<C, T> {
    key: BucketKey<T>,
    queue: BTreeMap<QueueKey, C>,
}

/// The queue and routing state of one tenant. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Router<A, C, T> {
    policy: RoutingPolicy,
    /// Agent slots by registration order; `None` once removed, so indices stay valid.
    agents: Vec<Option<AgentSlot<A, C, T>>>,
    agent_index: HashMap<A, usize>,
    /// Live agent indices, candidates for team-less conversations.
    all_agents: Vec<usize>,
    team_agents: HashMap<T, Vec<usize>>,
    buckets: Vec<Bucket<C, T>>,
    bucket_index: HashMap<BucketKey<T>, usize>,
    /// Bucket indices by team: what a freed agent scans, with `teamless_buckets`.
    team_buckets: HashMap<T, Vec<usize>>,
    teamless_buckets: Vec<usize>,
    conversations: HashMap<C, ConvRecord<T>>,
    /// Assigned conversations the agent has not answered yet, oldest assignment first.
    unanswered: BTreeSet<(i64, u64, C)>,
    next_seq: u64,
    n_waiting: usize,
}

type Actions<A, C> = Vec<Action<A, C>>;

impl<A: Key, C: Key, T: Key> Router<A, C, T> {
    pub fn new(policy: RoutingPolicy) -> Self {
        Router {
            policy,
            agents: Vec::new(),
            agent_index: HashMap::new(),
            all_agents: Vec::new(),
            team_agents: HashMap::new(),
            buckets: Vec::new(),
            bucket_index: HashMap::new(),
            team_buckets: HashMap::new(),
            teamless_buckets: Vec::new(),
            conversations: HashMap::new(),
            unanswered: BTreeSet::new(),
            next_seq: 0,
            n_waiting: 0,
        }
    }

    pub fn policy(&self) -> &RoutingPolicy {
        &self.policy
    }

    // ---------------------------------------------------------------- agents

    /// Registers an agent or updates its skills, capacity and teams. New agents are offline.
    /// Existing conversations stay with the agent even if it no longer qualifies; an online
    /// agent that gained room or skills is filled from the queue.
    pub fn upsert_agent(&mut self, spec: AgentSpec<A, T>, now_ms: i64) -> Actions<A, C> {
        let mut teams = spec.teams;
        teams.sort();
        teams.dedup();
        let idx = match self.agent_index.get(&spec.id) {
            Some(&idx) => {
                let old_teams = std::mem::take(&mut self.slot_mut(idx).teams);
                for t in &old_teams {
                    if let Some(members) = self.team_agents.get_mut(t) {
                        members.retain(|&m| m != idx);
                    }
                }
                let slot = self.slot_mut(idx);
                slot.skills = spec.skills;
                slot.capacity = spec.capacity;
                slot.teams = teams;
                idx
            }
            None => {
                let idx = self.agents.len();
                self.agents.push(Some(AgentSlot {
                    id: spec.id.clone(),
                    skills: spec.skills,
                    teams,
                    capacity: spec.capacity,
                    load: [0; CapacityKind::COUNT],
                    presence: Presence::Offline,
                    idle_since_ms: now_ms,
                    conversations: Vec::new(),
                }));
                self.agent_index.insert(spec.id, idx);
                self.all_agents.push(idx);
                idx
            }
        };
        for t in self.slot(idx).teams.clone() {
            self.team_agents.entry(t).or_default().push(idx);
        }
        let mut out = Vec::new();
        self.fill_agent(idx, now_ms, &mut out);
        out
    }

    /// Forgets an agent; its conversations are requeued and reassigned.
    pub fn remove_agent(&mut self, agent: &A, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let idx = self.agent_idx(agent)?;
        self.slot_mut(idx).presence = Presence::Offline;
        let mut out = Vec::new();
        let convs = self.detach_all(idx, UnassignReason::AgentRemoved, &mut out);
        let slot = self.agents[idx].take().expect("agent slot is live");
        self.agent_index.remove(&slot.id);
        self.all_agents.retain(|&m| m != idx);
        for t in &slot.teams {
            if let Some(members) = self.team_agents.get_mut(t) {
                members.retain(|&m| m != idx);
            }
        }
        self.route_all(convs, now_ms, &mut out);
        Ok(out)
    }

    /// The agent is available: it is filled from the queue at once.
    pub fn agent_online(&mut self, agent: &A, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let idx = self.agent_idx(agent)?;
        let slot = self.slot_mut(idx);
        if slot.presence != Presence::Online {
            slot.presence = Presence::Online;
            slot.idle_since_ms = now_ms;
        }
        let mut out = Vec::new();
        self.fill_agent(idx, now_ms, &mut out);
        Ok(out)
    }

    /// The agent takes no new work; what happens to its conversations follows
    /// [`RoutingPolicy::on_away`].
    pub fn agent_away(&mut self, agent: &A, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let idx = self.agent_idx(agent)?;
        self.slot_mut(idx).presence = Presence::Away;
        let mut out = Vec::new();
        if self.policy.on_away == AwayPolicy::Requeue {
            let convs = self.detach_all(idx, UnassignReason::AgentAway, &mut out);
            self.route_all(convs, now_ms, &mut out);
        }
        Ok(out)
    }

    /// The agent is gone: every conversation it owned is requeued and reassigned.
    pub fn agent_offline(&mut self, agent: &A, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let idx = self.agent_idx(agent)?;
        self.slot_mut(idx).presence = Presence::Offline;
        let mut out = Vec::new();
        let convs = self.detach_all(idx, UnassignReason::AgentOffline, &mut out);
        self.route_all(convs, now_ms, &mut out);
        Ok(out)
    }

    /// Changes one capacity. Lowering it below the current load takes nothing away (no one is
    /// cut off mid-conversation); the agent just receives nothing until it drains below it.
    pub fn set_capacity(
        &mut self,
        agent: &A,
        kind: CapacityKind,
        capacity: u16,
        now_ms: i64,
    ) -> Result<Actions<A, C>, RoutingError> {
        let idx = self.agent_idx(agent)?;
        let slot = self.slot_mut(idx);
        slot.capacity = slot.capacity.with(kind, capacity);
        let mut out = Vec::new();
        self.fill_agent(idx, now_ms, &mut out);
        Ok(out)
    }

    // ---------------------------------------------------------------- conversations

    /// A conversation needs a human: it is assigned to the best eligible agent, or waits.
    pub fn enqueue(&mut self, spec: ConversationSpec<C, T>, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let id = self.insert_record(spec)?;
        let mut out = Vec::new();
        self.route(id, now_ms, &mut out);
        Ok(out)
    }

    /// Records an assignment that already exists (rebuilding the router after a restart)
    /// without routing; capacity is not checked, since this is what already happened. Call
    /// [`Router::rebalance`] once everything is restored.
    pub fn restore_assigned(
        &mut self,
        spec: ConversationSpec<C, T>,
        agent: &A,
        assigned_at_ms: i64,
        answered: bool,
    ) -> Result<(), RoutingError> {
        let idx = self.agent_idx(agent)?;
        let id = self.insert_record(spec)?;
        self.attach(id, idx, assigned_at_ms, answered, None);
        Ok(())
    }

    /// Fills every online agent from the queue; only needed after restoring state by hand.
    pub fn rebalance(&mut self, now_ms: i64) -> Actions<A, C> {
        let mut out = Vec::new();
        for i in self.all_agents.clone() {
            self.fill_agent(i, now_ms, &mut out);
        }
        out
    }

    /// The conversation is done with routing (resolved, closed, handed back to the bot, or the
    /// customer left the queue). Its agent's capacity is backfilled from the queue at once.
    pub fn release(&mut self, conversation: &C, now_ms: i64) -> Result<Actions<A, C>, RoutingError> {
        let prev = self.detach(conversation)?;
        let (record_id, _) = self.conversations.remove_entry(conversation).expect("detached conversation has a record");
        let mut out = vec![Action::Release { conversation: record_id, agent: prev.map(|i| self.slot(i).id.clone()) }];
        if let Some(i) = prev {
            self.fill_agent(i, now_ms, &mut out);
        }
        Ok(out)
    }

    /// The owning agent has replied, so [`Router::reassign_unanswered`] leaves it alone.
    pub fn mark_answered(&mut self, conversation: &C) -> Result<(), RoutingError> {
        let rec = self.conversations.get_mut(conversation).ok_or(RoutingError::UnknownConversation)?;
        match &mut rec.place {
            Place::Assigned { assigned_at_ms, answered, .. } => {
                if !*answered {
                    *answered = true;
                    let k = (*assigned_at_ms, rec.key.seq, conversation.clone());
                    self.unanswered.remove(&k);
                }
                Ok(())
            }
            _ => Err(RoutingError::NotAssigned),
        }
    }

    /// Moves a waiting or assigned conversation to a named agent or to a team's queue.
    ///
    /// To a team: the previous owner is backfilled first, then the conversation is routed
    /// within the team, keeping its priority and original wait time.
    pub fn transfer(
        &mut self,
        conversation: &C,
        target: TransferTarget<A, T>,
        now_ms: i64,
    ) -> Result<Actions<A, C>, RoutingError> {
        let rec = self.conversations.get(conversation).ok_or(RoutingError::UnknownConversation)?;
        let kind = rec.kind;
        let current = match rec.place {
            Place::Assigned { agent, .. } => Some(agent),
            _ => None,
        };
        let mut out = Vec::new();
        match target {
            TransferTarget::Agent(a) => {
                let to = self.agent_idx(&a)?;
                if current == Some(to) {
                    return Ok(out);
                }
                let slot = self.slot(to);
                if slot.presence != Presence::Online {
                    return Err(RoutingError::AgentNotOnline);
                }
                if !slot.has_room(kind) {
                    return Err(RoutingError::AgentAtCapacity);
                }
                self.detach_reporting(conversation, UnassignReason::Transferred, &mut out);
                self.attach(conversation.clone(), to, now_ms, false, Some(&mut out));
                if let Some(from) = current {
                    self.fill_agent(from, now_ms, &mut out);
                }
            }
            TransferTarget::Team(t) => {
                self.detach_reporting(conversation, UnassignReason::Transferred, &mut out);
                if let Some(from) = current {
                    self.fill_agent(from, now_ms, &mut out);
                }
                self.conversations.get_mut(conversation).expect("record exists").team = Some(t);
                self.route(conversation.clone(), now_ms, &mut out);
            }
        }
        Ok(out)
    }

    /// Takes back every conversation whose agent has not answered within `timeout_ms` of the
    /// assignment. The agent is evidently not at the keyboard, so it is set away (the
    /// [`Action::Presence`] tells the console) and all its unanswered conversations are
    /// reassigned; setting it away is also what stops the freed capacity from handing the
    /// same customers straight back to it.
    pub fn reassign_unanswered(&mut self, now_ms: i64, timeout_ms: i64) -> Actions<A, C> {
        let cutoff = now_ms.saturating_sub(timeout_ms);
        let mut agents: Vec<usize> = Vec::new();
        for (at, _, c) in &self.unanswered {
            if *at > cutoff {
                break;
            }
            if let Place::Assigned { agent, .. } = self.conversations[c].place {
                if !agents.contains(&agent) {
                    agents.push(agent);
                }
            }
        }
        let mut out = Vec::new();
        let mut convs = Vec::new();
        for &i in &agents {
            let slot = self.slot_mut(i);
            if slot.presence == Presence::Online {
                slot.presence = Presence::Away;
                out.push(Action::Presence { agent: slot.id.clone(), presence: Presence::Away });
            }
            let requeue_all = self.policy.on_away == AwayPolicy::Requeue;
            let owned = self.slot(i).conversations.clone();
            for c in owned {
                let answered = matches!(self.conversations[&c].place, Place::Assigned { answered: true, .. });
                if requeue_all || !answered {
                    let reason = if answered { UnassignReason::AgentAway } else { UnassignReason::Unanswered };
                    self.detach_reporting(&c, reason, &mut out);
                    convs.push(c);
                }
            }
        }
        self.route_all(convs, now_ms, &mut out);
        out
    }

    // ---------------------------------------------------------------- queries

    pub fn conversation_state(&self, conversation: &C) -> Option<ConversationState<A>> {
        let rec = self.conversations.get(conversation)?;
        Some(match rec.place {
            Place::Waiting { .. } => ConversationState::Waiting,
            Place::Assigned { agent, answered, .. } => {
                ConversationState::Assigned { agent: self.slot(agent).id.clone(), answered }
            }
            Place::Detached => unreachable!("no conversation is detached between calls"),
        })
    }

    pub fn agent(&self, agent: &A) -> Option<AgentView<'_, A, T>> {
        let slot = self.slot(*self.agent_index.get(agent)?);
        Some(AgentView {
            id: &slot.id,
            skills: slot.skills,
            capacity: slot.capacity,
            teams: &slot.teams,
            presence: slot.presence,
            idle_since_ms: slot.idle_since_ms,
            load: slot.load,
        })
    }

    /// Every live agent, in registration order.
    pub fn agents(&self) -> impl Iterator<Item = AgentView<'_, A, T>> {
        self.all_agents.iter().map(|&i| {
            let slot = self.slot(i);
            AgentView {
                id: &slot.id,
                skills: slot.skills,
                capacity: slot.capacity,
                teams: &slot.teams,
                presence: slot.presence,
                idle_since_ms: slot.idle_since_ms,
                load: slot.load,
            }
        })
    }

    /// The conversations an agent owns, in assignment order.
    pub fn agent_conversations(&self, agent: &A) -> Option<&[C]> {
        let idx = *self.agent_index.get(agent)?;
        Some(&self.slot(idx).conversations)
    }

    pub fn n_waiting(&self) -> usize {
        self.n_waiting
    }

    pub fn n_conversations(&self) -> usize {
        self.conversations.len()
    }

    /// Waiting conversations in service order (best first), across all queues. O(n log n);
    /// for consoles and tests, not the hot path.
    pub fn waiting(&self) -> Vec<&C> {
        let mut all: Vec<(QueueKey, &C)> =
            self.buckets.iter().flat_map(|b| b.queue.iter().map(|(k, c)| (*k, c))).collect();
        all.sort_by_key(|(k, _)| *k);
        all.into_iter().map(|(_, c)| c).collect()
    }

    /// The level a conversation has reached by waiting: `priority + floor(waited / step)`.
    pub fn effective_priority(&self, conversation: &C, now_ms: i64) -> Option<i64> {
        let rec = self.conversations.get(conversation)?;
        let base = i64::from(rec.priority);
        Some(match self.policy.ageing_step {
            Some(step) => {
                let waited = now_ms.saturating_sub(rec.key.enqueued_at_ms).max(0);
                base + waited / i64::from(step.get())
            }
            None => base,
        })
    }

    /// Whether `agent` could take `conversation` right now (online, skills, team, room).
    pub fn is_eligible(&self, agent: &A, conversation: &C) -> bool {
        let (Some(&i), Some(rec)) = (self.agent_index.get(agent), self.conversations.get(conversation)) else {
            return false;
        };
        let slot = self.slot(i);
        slot.presence == Presence::Online && slot.has_room(rec.kind) && qualifies(slot, rec)
    }

    /// Online agents who qualify for the conversation (teams and required skills), busy or
    /// not: how many people could take it, for an honest expected wait.
    pub fn n_qualified_online(&self, conversation: &C) -> usize {
        let Some(rec) = self.conversations.get(conversation) else { return 0 };
        self.agents.iter().flatten().filter(|s| s.presence == Presence::Online && qualifies(s, rec)).count()
    }

    // ---------------------------------------------------------------- internals

    fn slot(&self, idx: usize) -> &AgentSlot<A, C, T> {
        self.agents[idx].as_ref().expect("agent slot is live")
    }

    fn slot_mut(&mut self, idx: usize) -> &mut AgentSlot<A, C, T> {
        self.agents[idx].as_mut().expect("agent slot is live")
    }

    fn agent_idx(&self, agent: &A) -> Result<usize, RoutingError> {
        self.agent_index.get(agent).copied().ok_or(RoutingError::UnknownAgent)
    }

    fn queue_key(&self, priority: i32, enqueued_at_ms: i64, seq: u64) -> QueueKey {
        // effective(now) = priority + (now - enqueued_at) / step. Multiplying by step and
        // dropping `now`, which every conversation shares, leaves a key that never changes.
        // Without ageing, a step of 2^64 makes priority dominate any difference in times.
        let step: i128 = match self.policy.ageing_step {
            Some(s) => i128::from(s.get()),
            None => 1i128 << 64,
        };
        QueueKey { rank: Reverse(i128::from(priority) * step - i128::from(enqueued_at_ms)), enqueued_at_ms, seq }
    }

    fn insert_record(&mut self, spec: ConversationSpec<C, T>) -> Result<C, RoutingError> {
        if self.conversations.contains_key(&spec.id) {
            return Err(RoutingError::DuplicateConversation);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.queue_key(spec.priority, spec.enqueued_at_ms, seq);
        self.conversations.insert(
            spec.id.clone(),
            ConvRecord {
                team: spec.team,
                kind: spec.kind,
                priority: spec.priority,
                required: spec.required_skills,
                preferred: spec.preferred_skills,
                key,
                place: Place::Detached,
            },
        );
        Ok(spec.id)
    }

    fn bucket_for(&mut self, key: BucketKey<T>) -> usize {
        if let Some(&b) = self.bucket_index.get(&key) {
            return b;
        }
        let b = self.buckets.len();
        match &key.team {
            Some(t) => self.team_buckets.entry(t.clone()).or_default().push(b),
            None => self.teamless_buckets.push(b),
        }
        self.bucket_index.insert(key.clone(), b);
        self.buckets.push(Bucket { key, queue: BTreeMap::new() });
        b
    }

    /// Takes a conversation out of its bucket or off its agent; returns the agent it left.
    fn detach(&mut self, conversation: &C) -> Result<Option<usize>, RoutingError> {
        let rec = self.conversations.get_mut(conversation).ok_or(RoutingError::UnknownConversation)?;
        let place = std::mem::replace(&mut rec.place, Place::Detached);
        match place {
            Place::Waiting { bucket } => {
                self.buckets[bucket].queue.remove(&rec.key);
                self.n_waiting -= 1;
                Ok(None)
            }
            Place::Assigned { agent, assigned_at_ms, answered } => {
                if !answered {
                    self.unanswered.remove(&(assigned_at_ms, rec.key.seq, conversation.clone()));
                }
                let kind = rec.kind;
                let slot = self.agents[agent].as_mut().expect("agent slot is live");
                slot.load[kind.idx()] -= 1;
                let pos =
                    slot.conversations.iter().position(|c| c == conversation).expect("agent lists its conversation");
                slot.conversations.remove(pos);
                Ok(Some(agent))
            }
            Place::Detached => unreachable!("no conversation is detached between calls"),
        }
    }

    /// Like `detach` for a known conversation, emitting `Unassign` if it had an owner.
    fn detach_reporting(&mut self, conversation: &C, reason: UnassignReason, out: &mut Actions<A, C>) -> Option<usize> {
        let prev = self.detach(conversation).expect("conversation exists");
        if let Some(i) = prev {
            out.push(Action::Unassign { conversation: conversation.clone(), agent: self.slot(i).id.clone(), reason });
        }
        prev
    }

    fn detach_all(&mut self, idx: usize, reason: UnassignReason, out: &mut Actions<A, C>) -> Vec<C> {
        let convs = self.slot(idx).conversations.clone();
        for c in &convs {
            self.detach_reporting(c, reason, out);
        }
        convs
    }

    fn attach(&mut self, conversation: C, idx: usize, now_ms: i64, answered: bool, out: Option<&mut Actions<A, C>>) {
        let rec = self.conversations.get_mut(&conversation).expect("record exists");
        debug_assert!(matches!(rec.place, Place::Detached));
        rec.place = Place::Assigned { agent: idx, assigned_at_ms: now_ms, answered };
        if !answered {
            self.unanswered.insert((now_ms, rec.key.seq, conversation.clone()));
        }
        let kind = rec.kind;
        let slot = self.agents[idx].as_mut().expect("agent slot is live");
        slot.load[kind.idx()] += 1;
        slot.idle_since_ms = slot.idle_since_ms.max(now_ms);
        slot.conversations.push(conversation.clone());
        if let Some(out) = out {
            out.push(Action::Assign(Assignment { conversation, agent: slot.id.clone() }));
        }
    }

    fn push_waiting(&mut self, conversation: C, out: &mut Actions<A, C>) {
        let rec = &self.conversations[&conversation];
        let bkey = BucketKey { team: rec.team.clone(), kind: rec.kind, required: rec.required };
        let qkey = rec.key;
        let b = self.bucket_for(bkey);
        self.buckets[b].queue.insert(qkey, conversation.clone());
        self.n_waiting += 1;
        self.conversations.get_mut(&conversation).expect("record exists").place = Place::Waiting { bucket: b };
        out.push(Action::Queue { conversation });
    }

    /// Places a detached conversation: with the best eligible agent, or in its queue.
    fn route(&mut self, conversation: C, now_ms: i64, out: &mut Actions<A, C>) {
        let rec = &self.conversations[&conversation];
        let bkey = BucketKey { team: rec.team.clone(), kind: rec.kind, required: rec.required };
        // Head of line: a non-empty queue means every agent eligible for it is busy.
        let queue_busy = self.bucket_index.get(&bkey).is_some_and(|&b| !self.buckets[b].queue.is_empty());
        let best = if queue_busy { None } else { self.best_agent(rec) };
        match best {
            Some(i) => self.attach(conversation, i, now_ms, false, Some(out)),
            None => self.push_waiting(conversation, out),
        }
    }

    /// Routes several detached conversations, best queue key first, so a requeue serves
    /// customers in the same order the queue would.
    fn route_all(&mut self, mut convs: Vec<C>, now_ms: i64, out: &mut Actions<A, C>) {
        convs.sort_by_key(|c| self.conversations[c].key);
        for c in convs {
            self.route(c, now_ms, out);
        }
    }

    fn best_agent(&self, rec: &ConvRecord<T>) -> Option<usize> {
        let candidates: &[usize] = match &rec.team {
            Some(t) => self.team_agents.get(t).map_or(&[], Vec::as_slice),
            None => &self.all_agents,
        };
        let k = rec.kind.idx();
        let mut best: Option<(usize, &AgentSlot<A, C, T>)> = None;
        for &i in candidates {
            let slot = self.slot(i);
            if slot.presence != Presence::Online
                || slot.load[k] >= slot.capacity.0[k]
                || !slot.skills.contains_all(rec.required)
            {
                continue;
            }
            let better = match best {
                None => true,
                Some((bi, b)) => self.compare_agents(rec, (i, slot), (bi, b)) == Ordering::Less,
            };
            if better {
                best = Some((i, slot));
            }
        }
        best.map(|(i, _)| i)
    }

    /// `Less` means `a` should get the conversation rather than `b`.
    fn compare_agents(
        &self,
        rec: &ConvRecord<T>,
        (ai, a): (usize, &AgentSlot<A, C, T>),
        (bi, b): (usize, &AgentSlot<A, C, T>),
    ) -> Ordering {
        let k = rec.kind.idx();
        // a.load / a.cap vs b.load / b.cap without division; both capacities are positive
        // because both agents have room.
        let by_load = (u32::from(a.load[k]) * u32::from(b.capacity.0[k]))
            .cmp(&(u32::from(b.load[k]) * u32::from(a.capacity.0[k])));
        let by_pref = b.skills.n_common(rec.preferred).cmp(&a.skills.n_common(rec.preferred));
        let (first, second) = if self.policy.preferred_skills_first { (by_pref, by_load) } else { (by_load, by_pref) };
        first.then(second).then(a.idle_since_ms.cmp(&b.idle_since_ms)).then(ai.cmp(&bi))
    }

    /// Gives an online agent the best waiting conversations it can take until it is full or
    /// nothing it qualifies for waits.
    fn fill_agent(&mut self, idx: usize, now_ms: i64, out: &mut Actions<A, C>) {
        if self.slot(idx).presence != Presence::Online || self.n_waiting == 0 {
            return;
        }
        while let Some(b) = self.best_bucket_for(idx) {
            let (_, c) = self.buckets[b].queue.pop_first().expect("chosen bucket is non-empty");
            self.n_waiting -= 1;
            self.conversations.get_mut(&c).expect("record exists").place = Place::Detached;
            self.attach(c, idx, now_ms, false, Some(out));
        }
    }

    fn best_bucket_for(&self, idx: usize) -> Option<usize> {
        let slot = self.slot(idx);
        let mut best: Option<(QueueKey, usize)> = None;
        let team_lists =
            slot.teams.iter().filter_map(|t| self.team_buckets.get(t)).chain(std::iter::once(&self.teamless_buckets));
        for list in team_lists {
            for &b in list {
                let bucket = &self.buckets[b];
                let Some((&head, _)) = bucket.queue.first_key_value() else {
                    continue;
                };
                if !slot.has_room(bucket.key.kind) || !slot.skills.contains_all(bucket.key.required) {
                    continue;
                }
                if best.is_none_or(|(k, _)| head < k) {
                    best = Some((head, b));
                }
            }
        }
        best.map(|(_, b)| b)
    }
}

/// Skills and team, ignoring presence and room.
fn qualifies<A, C, T: Key>(slot: &AgentSlot<A, C, T>, rec: &ConvRecord<T>) -> bool {
    slot.skills.contains_all(rec.required) && rec.team.as_ref().is_none_or(|t| slot.teams.binary_search(t).is_ok())
}

#[cfg(test)]
mod tests;
