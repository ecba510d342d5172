//! Data-driven routing scenarios: each test is a transcript of commands, each followed by the
//! indented actions the router must return, compared as text by one `check` helper.

use std::num::NonZeroU32;

use super::*;

type R = Router<u32, u32, u32>;

fn id(word: &str) -> u32 {
    word[1..].parse().unwrap_or_else(|_| panic!("bad id {word:?}"))
}

fn skills(list: &str) -> SkillSet {
    list.split(',').filter(|s| !s.is_empty()).map(|s| Skill::new(s.parse().unwrap()).unwrap()).collect()
}

fn kind(word: &str) -> CapacityKind {
    match word {
        "chat" => CapacityKind::Chat,
        "email" => CapacityKind::Email,
        _ => panic!("bad kind {word:?}"),
    }
}

fn render(a: &Action<u32, u32>) -> String {
    match a {
        Action::Assign(Assignment { conversation, agent }) => format!("assign c{conversation} a{agent}"),
        Action::Queue { conversation } => format!("queue c{conversation}"),
        Action::Unassign { conversation, agent, reason } => format!("unassign c{conversation} a{agent} {reason:?}"),
        Action::Release { conversation, agent: Some(a) } => format!("release c{conversation} a{a}"),
        Action::Release { conversation, agent: None } => format!("release c{conversation} -"),
        Action::Presence { agent, presence } => format!("presence a{agent} {presence:?}"),
    }
}

/// Splits `key=value` words off a command; the rest are positional.
fn split(words: &[&str]) -> (Vec<String>, HashMap<String, String>) {
    let mut pos = Vec::new();
    let mut named = HashMap::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => {
                named.insert(k.to_owned(), v.to_owned());
            }
            None => pos.push((*w).to_owned()),
        }
    }
    (pos, named)
}

fn policy(named: &HashMap<String, String>) -> RoutingPolicy {
    let mut p = RoutingPolicy { ageing_step: None, ..RoutingPolicy::default() };
    if let Some(ms) = named.get("ageing") {
        p.ageing_step = NonZeroU32::new(ms.parse().unwrap());
    }
    if named.get("away").map(String::as_str) == Some("requeue") {
        p.on_away = AwayPolicy::Requeue;
    }
    if named.get("prefer").map(String::as_str) == Some("first") {
        p.preferred_skills_first = true;
    }
    p
}

fn run(router: &mut Option<R>, line: &str) -> Result<Vec<Action<u32, u32>>, RoutingError> {
    let (line, now) = match line.rsplit_once(" @") {
        Some((l, t)) => (l, t.parse::<i64>().unwrap()),
        None => (line, 0),
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let (pos, named) = split(&words[1..]);
    if words[0] == "policy" {
        *router = Some(R::new(policy(&named)));
        return Ok(vec![]);
    }
    let r = router.get_or_insert_with(|| R::new(policy(&HashMap::new())));
    let get = |k: &str, d: &str| named.get(k).cloned().unwrap_or_else(|| d.to_owned());
    match words[0] {
        "agent" => Ok(r.upsert_agent(
            AgentSpec {
                id: id(&pos[0]),
                skills: skills(&get("skills", "")),
                capacity: Capacity::new(get("chat", "0").parse().unwrap(), get("email", "0").parse().unwrap()),
                teams: get("teams", "").split(',').filter(|s| !s.is_empty()).map(id).collect(),
            },
            now,
        )),
        "online" => r.agent_online(&id(&pos[0]), now),
        "away" => r.agent_away(&id(&pos[0]), now),
        "offline" => r.agent_offline(&id(&pos[0]), now),
        "remove" => r.remove_agent(&id(&pos[0]), now),
        "cap" => r.set_capacity(&id(&pos[0]), kind(&pos[1]), pos[2].parse().unwrap(), now),
        "enqueue" => r.enqueue(
            ConversationSpec {
                id: id(&pos[0]),
                team: named.get("team").map(|t| id(t)),
                kind: kind(&pos[1]),
                priority: get("prio", "0").parse().unwrap(),
                required_skills: skills(&get("req", "")),
                preferred_skills: skills(&get("pref", "")),
                enqueued_at_ms: now,
            },
            now,
        ),
        "release" => r.release(&id(&pos[0]), now),
        "answer" => r.mark_answered(&id(&pos[0])).map(|()| vec![]),
        "transfer" => {
            let target = if pos[1].starts_with('a') {
                TransferTarget::Agent(id(&pos[1]))
            } else {
                TransferTarget::Team(id(&pos[1]))
            };
            r.transfer(&id(&pos[0]), target, now)
        }
        "unanswered" => Ok(r.reassign_unanswered(now, pos[0].parse().unwrap())),
        "rebalance" => Ok(r.rebalance(now)),
        other => panic!("unknown command {other:?}"),
    }
}

/// Replays a transcript and asserts it reproduces itself: every unindented line is a command
/// (`… @now_ms`), every indented line an action it must return, in order.
#[track_caller]
fn check(transcript: &str) {
    let expected: Vec<&str> = transcript.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    let mut router = None;
    let mut got = Vec::new();
    for line in &expected {
        if line.starts_with(' ') {
            continue;
        }
        got.push(line.to_string());
        match run(&mut router, line.trim()) {
            Ok(actions) => got.extend(actions.iter().map(|a| format!("  {}", render(a)))),
            Err(e) => got.push(format!("  error {e:?}")),
        }
    }
    let norm = |l: &str| {
        if l.starts_with(' ') {
            format!("  {}", l.trim())
        } else {
            l.to_owned()
        }
    };
    let expected: Vec<String> = expected.iter().map(|l| norm(l)).collect();
    assert_eq!(got.join("\n"), expected.join("\n"), "\n--- got ---\n{}\n", got.join("\n"));
}

#[test]
fn resolve_backfills_oldest_waiting_customer_at_once() {
    check(
        "
agent a1 chat=1
agent a2 chat=1
agent a3 chat=1
online a1 @0
online a2 @0
online a3 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    assign c2 a2
enqueue c3 chat @3
    assign c3 a3
enqueue c4 chat @4
    queue c4
enqueue c5 chat @5
    queue c5
release c2 @10
    release c2 a2
    assign c4 a2
release c4 @11
    release c4 a2
    assign c5 a2
release c5 @12
    release c5 a2
",
    );
}

#[test]
fn higher_priority_is_served_before_older() {
    check(
        "
agent a1 chat=1
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    queue c2
enqueue c3 chat prio=2 @3
    queue c3
enqueue c4 chat prio=2 @4
    queue c4
release c1 @5
    release c1 a1
    assign c3 a1
release c3 @6
    release c3 a1
    assign c4 a1
release c4 @7
    release c4 a1
    assign c2 a1
",
    );
}

#[test]
fn ageing_lets_a_long_wait_overtake_a_fresh_vip() {
    // One level per 100 ms: c2 (prio 0, since 0) reaches level 2 at 200; c3 (prio 2) arrives
    // at 250, so c2 has the higher effective priority at any later time.
    check(
        "
policy ageing=100
agent a1 chat=1
online a1 @0
enqueue c1 chat @0
    assign c1 a1
enqueue c2 chat @0
    queue c2
enqueue c3 chat prio=2 @250
    queue c3
enqueue c4 chat prio=2 @150
    queue c4
release c1 @300
    release c1 a1
    assign c4 a1
release c4 @301
    release c4 a1
    assign c2 a1
",
    );
}

#[test]
fn least_loaded_relative_to_capacity_wins() {
    // After c3, a1 is at 1/2 and a2 at 2/4: equal ratios, so c4 goes to a1, whose last
    // assignment is older.
    check(
        "
agent a1 chat=2
agent a2 chat=4
online a1 @0
online a2 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    assign c2 a2
enqueue c3 chat @3
    assign c3 a2
enqueue c4 chat @4
    assign c4 a1
enqueue c5 chat @5
    assign c5 a2
enqueue c6 chat @6
    assign c6 a2
enqueue c7 chat @7
    queue c7
",
    );
}

#[test]
fn preferred_skills_break_ties_after_load_by_default() {
    check(
        "
agent a1 chat=2
agent a2 chat=2 skills=7
online a1 @0
online a2 @0
enqueue c1 chat pref=7 @1
    assign c1 a2
enqueue c2 chat pref=7 @2
    assign c2 a1
enqueue c3 chat pref=7 @3
    assign c3 a2
",
    );
}

#[test]
fn preferred_skills_can_come_before_load() {
    check(
        "
policy prefer=first
agent a1 chat=2
agent a2 chat=2 skills=7
online a1 @0
online a2 @0
enqueue c1 chat pref=7 @1
    assign c1 a2
enqueue c2 chat pref=7 @2
    assign c2 a2
enqueue c3 chat pref=7 @3
    assign c3 a1
",
    );
}

#[test]
fn final_tie_goes_to_agent_idle_longest() {
    check(
        "
agent a1 chat=1
agent a2 chat=1
online a2 @0
online a1 @5
enqueue c1 chat @10
    assign c1 a2
release c1 @11
    release c1 a2
enqueue c2 chat @12
    assign c2 a1
",
    );
}

#[test]
fn hard_skills_are_never_bent() {
    check(
        "
agent a1 chat=5 skills=1
agent a2 chat=5 skills=1,2
online a1 @0
enqueue c1 chat req=2 @1
    queue c1
enqueue c2 chat req=1 @2
    assign c2 a1
online a2 @3
    assign c1 a2
",
    );
}

#[test]
fn team_conversations_go_only_to_members() {
    check(
        "
agent a1 chat=5 teams=t1
agent a2 chat=5 teams=t2
online a1 @0
online a2 @0
enqueue c1 chat team=t2 @1
    assign c1 a2
enqueue c2 chat team=t3 @2
    queue c2
agent a1 chat=5 teams=t1,t3 @3
    assign c2 a1
",
    );
}

#[test]
fn capacity_is_per_kind() {
    check(
        "
agent a1 chat=1 email=2
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    queue c2
enqueue c3 email @3
    assign c3 a1
enqueue c4 email @4
    assign c4 a1
enqueue c5 email @5
    queue c5
release c3 @6
    release c3 a1
    assign c5 a1
",
    );
}

#[test]
fn offline_requeues_in_service_order_and_reassigns() {
    check(
        "
agent a1 chat=3
agent a2 chat=1
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat prio=1 @2
    assign c2 a1
enqueue c3 chat @3
    assign c3 a1
online a2 @4
offline a1 @5
    unassign c1 a1 AgentOffline
    unassign c2 a1 AgentOffline
    unassign c3 a1 AgentOffline
    assign c2 a2
    queue c1
    queue c3
online a1 @6
    assign c1 a1
    assign c3 a1
",
    );
}

#[test]
fn away_keeps_or_requeues_by_policy() {
    check(
        "
agent a1 chat=1
agent a2 chat=1
online a1 @0
enqueue c1 chat @1
    assign c1 a1
away a1 @2
enqueue c2 chat @3
    queue c2
online a2 @4
    assign c2 a2
",
    );
    check(
        "
policy away=requeue
agent a1 chat=1
agent a2 chat=1
online a1 @0
online a2 @0
enqueue c1 chat @1
    assign c1 a1
away a1 @2
    unassign c1 a1 AgentAway
    assign c1 a2
",
    );
}

#[test]
fn lowering_capacity_cuts_no_one_off_and_raising_it_fills() {
    check(
        "
agent a1 chat=2
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    assign c2 a1
cap a1 chat 1 @3
enqueue c3 chat @4
    queue c3
release c1 @5
    release c1 a1
release c2 @6
    release c2 a1
    assign c3 a1
cap a1 chat 3 @7
enqueue c4 chat @8
    assign c4 a1
",
    );
}

#[test]
fn transfer_to_agent_checks_presence_and_room() {
    check(
        "
agent a1 chat=1
agent a2 chat=1
agent a3 chat=1
online a1 @0
online a2 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    assign c2 a2
enqueue c3 chat @3
    queue c3
transfer c1 a3 @4
    error AgentNotOnline
transfer c1 a2 @4
    error AgentAtCapacity
online a3 @5
    assign c3 a3
release c3 @6
    release c3 a3
transfer c1 a3 @7
    unassign c1 a1 Transferred
    assign c1 a3
transfer c1 a9 @8
    error UnknownAgent
",
    );
}

#[test]
fn transfer_to_team_backfills_the_old_agent_first() {
    check(
        "
agent a1 chat=1 teams=t1
agent a2 chat=1 teams=t2
online a1 @0
online a2 @0
enqueue c1 chat team=t1 @1
    assign c1 a1
enqueue c2 chat team=t1 @2
    queue c2
transfer c1 t2 @3
    unassign c1 a1 Transferred
    assign c2 a1
    assign c1 a2
enqueue c3 chat team=t2 @4
    queue c3
transfer c3 t1 @5
    queue c3
",
    );
}

#[test]
fn unanswered_conversations_move_and_the_agent_is_set_away() {
    check(
        "
agent a1 chat=2
agent a2 chat=2
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    assign c2 a1
answer c2
online a2 @3
unanswered 100 @50
unanswered 100 @101
    presence a1 Away
    unassign c1 a1 Unanswered
    assign c1 a2
answer c1
unanswered 100 @500
answer c9
    error UnknownConversation
",
    );
}

#[test]
fn waiting_conversation_can_be_released() {
    check(
        "
agent a1 chat=1
online a1 @0
enqueue c1 chat @1
    assign c1 a1
enqueue c2 chat @2
    queue c2
enqueue c3 chat @3
    queue c3
release c2 @4
    release c2 -
release c1 @5
    release c1 a1
    assign c3 a1
release c2 @6
    error UnknownConversation
enqueue c3 chat @7
    error DuplicateConversation
answer c9
    error UnknownConversation
",
    );
}

#[test]
fn removing_an_agent_requeues_its_work() {
    check(
        "
agent a1 chat=1
agent a2 chat=1
online a1 @0
online a2 @0
enqueue c1 chat @1
    assign c1 a1
remove a1 @2
    unassign c1 a1 AgentRemoved
    assign c1 a2
online a1 @3
    error UnknownAgent
",
    );
}

#[test]
fn restore_then_rebalance() {
    let mut r = R::new(RoutingPolicy::default());
    r.upsert_agent(AgentSpec { id: 1, skills: SkillSet::EMPTY, capacity: Capacity::new(2, 0), teams: vec![] }, 0);
    r.agent_online(&1, 0).unwrap();
    let spec = |id| ConversationSpec {
        id,
        team: None,
        kind: CapacityKind::Chat,
        priority: 0,
        required_skills: SkillSet::EMPTY,
        preferred_skills: SkillSet::EMPTY,
        enqueued_at_ms: 0,
    };
    r.restore_assigned(spec(10), &1, 0, true).unwrap();
    assert_eq!(r.conversation_state(&10), Some(ConversationState::Assigned { agent: 1, answered: true }));
    assert_eq!(r.agent(&1).unwrap().load(CapacityKind::Chat), 1);
    assert_eq!(r.rebalance(1), vec![]);
    assert_eq!(r.restore_assigned(spec(10), &1, 0, true), Err(RoutingError::DuplicateConversation));
}

#[test]
fn effective_priority_counts_whole_steps() {
    let mut r: R = R::new(RoutingPolicy { ageing_step: NonZeroU32::new(1000), ..RoutingPolicy::default() });
    r.enqueue(
        ConversationSpec {
            id: 1,
            team: None,
            kind: CapacityKind::Chat,
            priority: 1,
            required_skills: SkillSet::EMPTY,
            preferred_skills: SkillSet::EMPTY,
            enqueued_at_ms: 500,
        },
        500,
    )
    .unwrap();
    assert_eq!(r.effective_priority(&1, 500), Some(1));
    assert_eq!(r.effective_priority(&1, 2499), Some(2));
    assert_eq!(r.effective_priority(&1, 2500), Some(3));
    assert_eq!(r.waiting(), vec![&1]);
}

#[test]
fn policy_weights_add_up() {
    let p = RoutingPolicy::default();
    assert_eq!(p.priority(PriorityFlags::default()), 0);
    assert_eq!(p.priority(PriorityFlags { vip: true, angry: true, priority_topic: true }), 4);
}

#[test]
fn skill_catalog_interns_stably() {
    let mut cat = SkillCatalog::new();
    let zh = cat.intern("lang:zh").unwrap();
    let billing = cat.intern("product:billing").unwrap();
    assert_eq!(cat.intern("lang:zh").unwrap(), zh);
    assert_eq!(cat.name(billing), Some("product:billing"));
    let set = cat.set(["lang:zh", "product:billing"]).unwrap();
    assert!(set.contains_all(SkillSet::EMPTY.with(zh)));
    assert_eq!(set.iter().collect::<Vec<_>>(), [zh, billing]);
    for i in 2..Skill::MAX {
        cat.intern(&format!("s{i}")).unwrap();
    }
    assert_eq!(cat.intern("one-too-many"), Err(RoutingError::TooManySkills));
}
