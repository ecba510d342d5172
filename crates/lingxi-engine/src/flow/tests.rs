use super::*;
use std::collections::BTreeMap;

fn parse(json: &str) -> FlowSpec {
    serde_json::from_str(json).expect("valid JSON for the spec")
}

/// A shipped flow by file name; YAML is a superset of JSON, so one parser reads both.
fn demo_spec(file: &str, text: &str) -> FlowSpec {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn demo(id: &str) -> Flow {
    DEMO_FLOWS
        .iter()
        .map(|(file, text)| demo_spec(file, text))
        .find(|spec| spec.id == id)
        .map(|spec| Flow::compile(&spec).expect("demo flow compiles"))
        .expect("demo flow")
}

fn msg<'a>(text: &'a str, entities: &'a [(String, String)]) -> FlowInput<'a> {
    FlowInput::Message { text, entities }
}

#[test]
fn every_demo_flow_compiles_and_has_a_path_to_an_end_and_a_person() {
    for (id, text) in DEMO_FLOWS {
        let flow = Flow::compile(&demo_spec(id, text)).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert!(flow.steps.iter().any(|s| matches!(s, Step::End { resolved: true, .. })), "{id}");
        assert!(flow.steps.iter().any(|s| matches!(s, Step::Handoff { .. })), "{id}");
    }
}

#[test]
fn camera_flow_triggers_on_colloquial_chinese_and_english() {
    let flow = demo("camera_wifi");
    assert!(flow.triggered_by(None, "我家摄像头连不上wifi怎么办"));
    assert!(flow.triggered_by(None, "My camera won't connect to the WiFi"));
    assert!(!flow.triggered_by(None, "摄像头多少钱"), "one keyword group is not enough");
    assert!(!flow.triggered_by(Some("refund"), "我要退款"));
}

#[test]
fn camera_flow_walks_to_resolution_by_buttons_and_by_typed_words() {
    let flow = demo("camera_wifi");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    let out = flow.advance(&mut run, FlowInput::Start, true).unwrap();
    assert_eq!(out.next, Next::AwaitCustomer);
    assert_eq!(out.replies[0].buttons, vec!["2.4GHz", "5GHz", "不确定"]);
    // Typed, not clicked: "不知道" is a keyword of "不确定", which explains the band first.
    let out = flow.advance(&mut run, msg("不知道", &[]), true).unwrap();
    assert_eq!(out.replies.len(), 2, "the band explanation, then the light question: {out:?}");
    assert!(out.replies[0].text.contains("2.4GHz"));
    assert_eq!(run.step, "light");
    let out = flow.advance(&mut run, msg("2", &[]), true).unwrap(); // solid blue
    assert!(out.replies[0].text.contains("蓝灯常亮"));
    let out = flow.advance(&mut run, msg("好了", &[]), true).unwrap();
    assert_eq!(out.next, Next::Finished { resolved: true });
}

#[test]
fn unrecognised_answers_reprompt_then_hand_over() {
    let flow = demo("camera_wifi");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    flow.advance(&mut run, FlowInput::Start, false).unwrap();
    for _ in 0..DEFAULT_RETRIES {
        let out = flow.advance(&mut run, msg("banana", &[]), false).unwrap();
        assert_eq!(out.next, Next::AwaitCustomer);
        assert!(out.replies[0].text.starts_with("Sorry"), "{out:?}");
        assert_eq!(out.replies[0].buttons.len(), 3);
    }
    let out = flow.advance(&mut run, msg("banana", &[]), false).unwrap();
    assert_eq!(out.next, Next::Handoff { reason: "troubleshooting_failed".into() });
}

#[test]
fn the_customer_can_leave_a_flow() {
    let flow = demo("camera_wifi");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    flow.advance(&mut run, FlowInput::Start, true).unwrap();
    let out = flow.advance(&mut run, msg("退出", &[]), true).unwrap();
    assert_eq!(out.next, Next::Finished { resolved: false });
}

#[test]
fn a_waiting_step_takes_its_options_exit_words_and_values_but_not_other_questions() {
    let flow = demo("camera_wifi");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    flow.advance(&mut run, FlowInput::Start, true).unwrap();
    for taken in ["2", "2.4", "5GHz", "不知道", "不用了", "not sure"] {
        assert!(flow.takes(&run, taken, &[], true), "{taken}");
    }
    for other in ["退款多久到账？", "扫地机器人不充电", "嗯嗯", "7"] {
        assert!(!flow.takes(&run, other, &[], true), "{other}");
    }
    // Asking does not move the run: the retry count is advance's, not takes'.
    assert_eq!((run.step.as_str(), run.retries), ("band", 0));
    // A question for an order number takes the entity, and only it.
    let vacuum = demo("vacuum_charging");
    let mut run = FlowRun::new(&vacuum, BTreeMap::new());
    vacuum.advance(&mut run, FlowInput::Start, true).unwrap();
    vacuum.advance(&mut run, msg("亮", &[]), true).unwrap();
    vacuum.advance(&mut run, msg("还是不充", &[]), true).unwrap();
    let ents = vec![("order_no".to_string(), "LX20261101001".to_string())];
    assert!(vacuum.takes(&run, "LX20261101001", &ents, true));
    assert!(!vacuum.takes(&run, "发票怎么开", &[], true));
    assert!(vacuum.waits_for_value(&run));
    assert!(!flow.waits_for_value(&FlowRun::new(&flow, BTreeMap::new())), "a choice is not a question for a value");
}

#[test]
fn vacuum_flow_asks_for_the_order_calls_the_tool_and_branches_on_its_result() {
    let flow = demo("vacuum_charging");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    flow.advance(&mut run, FlowInput::Start, true).unwrap();
    flow.advance(&mut run, msg("亮", &[]), true).unwrap();
    let out = flow.advance(&mut run, msg("还是不充", &[]), true).unwrap();
    assert!(out.replies[0].text.contains("订单号"));
    // No order number in the answer: the hint, not a guess.
    let out = flow.advance(&mut run, msg("我不记得了", &[]), true).unwrap();
    assert!(out.replies[0].text.contains("LX 开头"), "{out:?}");
    let ents = vec![("order_no".to_string(), "LX20261101001".to_string())];
    let out = flow.advance(&mut run, msg("LX20261101001", &ents), true).unwrap();
    let Next::CallTool { tool, args } = &out.next else { panic!("{out:?}") };
    assert_eq!(tool, "order_status");
    assert_eq!(args["order_no"], "LX20261101001");
    // The run is plain data: store it, load it on another channel, carry on.
    let stored = run.clone();
    let mut resumed = stored;
    let fields = BTreeMap::from([("status".to_string(), "delivered".to_string())]);
    let out = flow.advance(&mut resumed, FlowInput::ToolDone(Ok(&fields)), true).unwrap();
    assert_eq!(out.next, Next::Handoff { reason: "warranty_repair".into() });
    assert!(out.replies[0].text.contains("LX20261101001"), "slots render into text: {out:?}");
    let out = flow.advance(&mut run, FlowInput::ToolDone(Err("timeout")), true).unwrap();
    assert_eq!(out.next, Next::Handoff { reason: "troubleshooting_failed".into() }, "tool errors take on_error");
}

#[test]
fn conditions_test_slots_seeded_from_what_is_known() {
    let spec = parse(
        r#"{"id":"vip","title":"VIP","trigger":{"intents":["membership"]},"start":"c","steps":{
            "c":{"type":"condition","branches":[
                {"when":{"all":[{"slot":"customer.vip","equals":"true"},{"slot":"customer.points","gt":1000}]},"next":"gold"}],
                "else":"plain"},
            "gold":{"type":"end","text":"gold {{customer.points}}"},
            "plain":{"type":"end","text":"plain {{customer.name}}"}}}"#,
    );
    let flow = Flow::compile(&spec).unwrap();
    let known = BTreeMap::from([("customer.vip".into(), "TRUE".into()), ("customer.points".into(), "1200".into())]);
    let mut run = FlowRun::new(&flow, known);
    let out = flow.advance(&mut run, FlowInput::Start, false).unwrap();
    assert_eq!(out.replies[0].text, "gold 1200");
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    let out = flow.advance(&mut run, FlowInput::Start, false).unwrap();
    assert_eq!(out.replies[0].text, "plain -", "unknown slots render as a dash");
}

#[test]
fn compile_reports_every_problem_with_its_path() {
    let spec = parse(
        r#"{"id":"bad id","title":"x","start":"nope","steps":{
            "a":{"type":"choice","text":"pick","options":[]},
            "b":{"type":"ask","text":"?","slot":"","entity":"shoe_size","next":"zzz"},
            "c":{"type":"condition","branches":[{"when":{"slot":"x","equals":"1","gt":3},"next":"a"}],"else":"a"},
            "d":{"type":"handoff","reason":""}}}"#,
    );
    let errs = Flow::compile(&spec).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    for want in [
        "id: `bad id`",
        "trigger: give",
        "start: no step named `nope`",
        "steps.a.options: a choice needs at least one option",
        "steps.b.entity: unknown kind `shoe_size`",
        "steps.b.slot: name the slot",
        "steps.b.next: no step named `zzz`",
        "steps.c.branches[0].when: exactly one of",
        "steps.d.reason: a hand-off needs a reason",
    ] {
        assert!(text.iter().any(|t| t.starts_with(want)), "missing `{want}` in {text:#?}");
    }
}

#[test]
fn unreachable_steps_are_rejected() {
    let spec = parse(
        r#"{"id":"u","title":"u","trigger":{"intents":["x"]},"start":"a","steps":{
            "a":{"type":"end"},"orphan":{"type":"end"}}}"#,
    );
    let errs = Flow::compile(&spec).unwrap_err();
    assert_eq!(
        errs,
        vec![FlowError { path: "steps.orphan".into(), message: "no path from `start` leads here".into() }]
    );
}

#[test]
fn unknown_fields_and_step_types_are_parse_errors() {
    assert!(serde_json::from_str::<FlowSpec>(r#"{"id":"a","title":"a","start":"a","steps":{},"extra":1}"#).is_err());
    let bad_step = r#"{"id":"a","title":"a","start":"a","steps":{"a":{"type":"teleport"}}}"#;
    assert!(serde_json::from_str::<FlowSpec>(bad_step).is_err());
}

#[test]
fn a_loop_without_a_wait_is_handed_over_not_spun_forever() {
    let spec = parse(
        r#"{"id":"l","title":"l","trigger":{"intents":["x"]},"start":"a","steps":{
            "a":{"type":"message","text":"a","next":"b"},"b":{"type":"message","text":"b","next":"a"}}}"#,
    );
    let flow = Flow::compile(&spec).unwrap();
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    let out = flow.advance(&mut run, FlowInput::Start, false).unwrap();
    assert_eq!(out.next, Next::Handoff { reason: "flow_loop".into() });
}

#[test]
fn a_run_at_a_step_the_flow_lost_is_stale() {
    let flow = demo("camera_wifi");
    let mut run = FlowRun { flow: "camera_wifi".into(), step: "gone".into(), slots: BTreeMap::new(), retries: 0 };
    assert!(flow.advance(&mut run, msg("hi", &[]), true).is_err());
    let mut run = FlowRun::new(&flow, BTreeMap::new());
    assert!(flow.advance(&mut run, FlowInput::ToolDone(Err("x")), true).is_err(), "a choice takes no tool result");
}
