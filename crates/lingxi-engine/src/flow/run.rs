//! Walking a flow: each call takes the run's stored state and one input (the start, a
//! customer message with its extracted entities, or a tool's result), says what the bot
//! replies and what must happen next (wait, call a tool, hand over, finish).

use super::{Condition, Flow, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A run in progress, as stored between messages (per customer, so any channel continues it).
/// Steps are kept by name so a run survives the flow being re-loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRun {
    pub flow: String,
    pub step: String,
    pub slots: BTreeMap<String, String>,
    pub retries: u32,
}

impl FlowRun {
    /// A run about to start, with what is already known (entities of the triggering message,
    /// order numbers seen before, customer attributes as `customer.<key>`).
    pub fn new(flow: &Flow, known: BTreeMap<String, String>) -> FlowRun {
        FlowRun { flow: flow.id.clone(), step: flow.step_name(flow.start).to_owned(), slots: known, retries: 0 }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum FlowInput<'a> {
    Start,
    /// A customer message and the entities found in it, as (kind, value), kinds as in `ASK_KINDS`.
    Message {
        text: &'a str,
        entities: &'a [(String, String)],
    },
    /// What the tool the run asked for returned: its fields, or why it failed.
    ToolDone(Result<&'a BTreeMap<String, String>, &'a str>),
}

/// One bot message, with buttons when the customer should pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub buttons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Wait for the customer's next message.
    AwaitCustomer,
    /// Call this tool and come back with `FlowInput::ToolDone`.
    CallTool { tool: String, args: BTreeMap<String, String> },
    /// Hand the conversation to a person, for this reason.
    Handoff { reason: String },
    /// The run is over; `resolved` says whether the customer's problem was solved.
    Finished { resolved: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub replies: Vec<Reply>,
    pub next: Next,
}

/// A run names a step the flow no longer has, or got an input its step cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow `{flow}` at step `{step}`: {problem}")]
pub struct StaleRun {
    pub flow: String,
    pub step: String,
    pub problem: &'static str,
}

/// Words that leave a flow at any waiting step.
const EXIT_WORDS: &[&str] = &["退出", "取消流程", "不用了", "cancel", "quit", "exit", "stop"];

/// Steps walked without waiting before the run is judged a loop and handed over.
const MAX_AUTOMATIC_STEPS: usize = 64;

impl Flow {
    pub fn advance(&self, run: &mut FlowRun, input: FlowInput<'_>, chinese: bool) -> Result<Outcome, StaleRun> {
        let stale = |problem| StaleRun { flow: run.flow.clone(), step: run.step.clone(), problem };
        let at = self.step_of(run).ok_or_else(|| stale("no such step"))?;
        let mut replies = Vec::new();
        let go = match (input, &self.steps[at]) {
            (FlowInput::Start, _) => at,
            (FlowInput::Message { text, .. }, Step::Choice { .. } | Step::Ask { .. }) if is_exit(text) => {
                let text =
                    if chinese { "好的，已为您退出当前引导。" } else { "OK, I have stopped this guide." };
                return Ok(Outcome { replies: vec![say(text)], next: Next::Finished { resolved: false } });
            }
            (FlowInput::Message { text, .. }, Step::Choice { text: prompt, options, retries, on_fail }) => {
                match pick(options, text, chinese) {
                    Some(next) => next,
                    None => match self.retry(run, *retries, *on_fail) {
                        Some(fail) => fail,
                        None => {
                            let sorry = if chinese {
                                "抱歉，没能识别您的选择，请点选一项："
                            } else {
                                "Sorry, please pick one:"
                            };
                            replies.push(Reply {
                                text: format!(
                                    "{sorry}{}{}",
                                    if chinese { "" } else { " " },
                                    render(prompt.get(chinese), run)
                                ),
                                buttons: options.iter().map(|o| o.0.get(chinese).to_owned()).collect(),
                            });
                            return Ok(Outcome { replies, next: Next::AwaitCustomer });
                        }
                    },
                }
            }
            (
                FlowInput::Message { text, entities },
                Step::Ask { text: prompt, slot, kind, hint, next, retries, on_fail },
            ) => match answer(kind, text, entities) {
                Some(value) => {
                    run.slots.insert(slot.clone(), value);
                    *next
                }
                None => match self.retry(run, *retries, *on_fail) {
                    Some(fail) => fail,
                    None => {
                        let again = hint.as_ref().map(|h| h.get(chinese)).unwrap_or(prompt.get(chinese));
                        let sorry =
                            if chinese { "抱歉，没有识别到，" } else { "Sorry, I could not read that. " };
                        replies.push(say(&format!("{sorry}{}", render(again, run))));
                        return Ok(Outcome { replies, next: Next::AwaitCustomer });
                    }
                },
            },
            (FlowInput::ToolDone(result), Step::Tool { save_as, next, on_error, .. }) => match result {
                Ok(fields) => {
                    for (k, v) in fields {
                        run.slots.insert(format!("{save_as}.{k}"), v.clone());
                    }
                    *next
                }
                Err(_) => *on_error,
            },
            _ => return Err(stale("this step does not take that input")),
        };
        run.retries = 0;
        Ok(self.enter(run, go, replies, chinese))
    }

    /// The index of the step the run is at, if the flow still has it.
    fn step_of(&self, run: &FlowRun) -> Option<usize> {
        self.names.iter().position(|n| *n == run.step)
    }

    /// Whether the step the run waits at can take this message: an exit word, one of its
    /// options, or the value it asks for (a free-text question takes any words). A message
    /// it cannot take may be the customer moving on to something else; the caller decides,
    /// and otherwise [`Flow::advance`] counts it as a retry.
    pub fn takes(&self, run: &FlowRun, text: &str, entities: &[(String, String)], chinese: bool) -> bool {
        let Some(at) = self.step_of(run) else { return true };
        match &self.steps[at] {
            _ if is_exit(text) => true,
            Step::Choice { options, .. } => pick(options, text, chinese).is_some(),
            Step::Ask { kind, .. } => answer(kind, text, entities).is_some(),
            _ => true,
        }
    }

    /// Whether the run waits at a question for a value (an order number, a text), not at a
    /// choice: what the customer says there is about that value more often than not.
    pub fn waits_for_value(&self, run: &FlowRun) -> bool {
        self.step_of(run).is_some_and(|at| matches!(self.steps[at], Step::Ask { .. }))
    }

    /// Counts a failed answer; past the limit, the step to go to (`on_fail`, or a hand-off).
    fn retry(&self, run: &mut FlowRun, limit: u32, on_fail: Option<usize>) -> Option<usize> {
        run.retries += 1;
        if run.retries <= limit {
            return None;
        }
        Some(on_fail.unwrap_or(usize::MAX))
    }

    /// Walks from `step` until something needs the customer, a tool, a person, or the end.
    fn enter(&self, run: &mut FlowRun, mut step: usize, mut replies: Vec<Reply>, chinese: bool) -> Outcome {
        for _ in 0..MAX_AUTOMATIC_STEPS {
            if step == usize::MAX {
                // Retries ran out with no `on_fail`: a person takes over.
                return Outcome { replies, next: Next::Handoff { reason: "flow_no_match".into() } };
            }
            run.step = self.names[step].clone();
            match &self.steps[step] {
                Step::Message { text, next } => {
                    replies.push(say(&render(text.get(chinese), run)));
                    step = *next;
                }
                Step::Choice { text, options, .. } => {
                    replies.push(Reply {
                        text: render(text.get(chinese), run),
                        buttons: options.iter().map(|o| o.0.get(chinese).to_owned()).collect(),
                    });
                    return Outcome { replies, next: Next::AwaitCustomer };
                }
                Step::Ask { text, .. } => {
                    replies.push(say(&render(text.get(chinese), run)));
                    return Outcome { replies, next: Next::AwaitCustomer };
                }
                Step::Condition { branches, otherwise } => {
                    step = branches.iter().find(|(c, _)| holds(c, &run.slots)).map_or(*otherwise, |b| b.1);
                }
                Step::Tool { tool, args, .. } => {
                    let args = args.iter().map(|(k, v)| (k.clone(), render(v, run))).collect();
                    return Outcome { replies, next: Next::CallTool { tool: tool.clone(), args } };
                }
                Step::Handoff { reason, text } => {
                    if let Some(t) = text {
                        replies.push(say(&render(t.get(chinese), run)));
                    }
                    return Outcome { replies, next: Next::Handoff { reason: reason.clone() } };
                }
                Step::End { text, resolved } => {
                    if let Some(t) = text {
                        replies.push(say(&render(t.get(chinese), run)));
                    }
                    return Outcome { replies, next: Next::Finished { resolved: *resolved } };
                }
            }
        }
        Outcome { replies, next: Next::Handoff { reason: "flow_loop".into() } }
    }
}

fn say(text: &str) -> Reply {
    Reply { text: text.to_owned(), buttons: Vec::new() }
}

fn is_exit(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    EXIT_WORDS.iter().any(|w| t == *w)
}

/// The option a message picks: its number, its label (either language), or one of its keywords.
fn pick(options: &[(super::Text, Vec<String>, usize)], text: &str, chinese: bool) -> Option<usize> {
    let t = text.trim().to_lowercase();
    if let Ok(n) = t.parse::<usize>() {
        return (1..=options.len()).contains(&n).then(|| options[n - 1].2);
    }
    let label = |o: &(super::Text, Vec<String>, usize), zh: bool| o.0.get(zh).to_lowercase();
    options
        .iter()
        .find(|o| label(o, chinese) == t || label(o, !chinese) == t)
        .or_else(|| options.iter().find(|o| o.1.iter().any(|k| t.contains(k.as_str()))))
        .or_else(|| options.iter().find(|o| !t.is_empty() && label(o, chinese).contains(&t)))
        .map(|o| o.2)
}

fn answer(kind: &str, text: &str, entities: &[(String, String)]) -> Option<String> {
    if kind == "text" {
        let t = text.trim();
        return (!t.is_empty()).then(|| t.to_owned());
    }
    entities.iter().find(|(k, _)| k == kind).map(|(_, v)| v.clone())
}

fn holds(c: &Condition, slots: &BTreeMap<String, String>) -> bool {
    let num = |slot: &str| slots.get(slot).and_then(|v| v.trim().parse::<f64>().ok());
    match c {
        Condition::Equals(slot, v) => slots.get(slot).is_some_and(|s| s.eq_ignore_ascii_case(v)),
        Condition::OneOf(slot, vs) => slots.get(slot).is_some_and(|s| vs.iter().any(|v| s.eq_ignore_ascii_case(v))),
        Condition::Exists(slot, want) => slots.get(slot).is_some_and(|s| !s.is_empty()) == *want,
        Condition::Gt(slot, v) => num(slot).is_some_and(|n| n > *v),
        Condition::Lt(slot, v) => num(slot).is_some_and(|n| n < *v),
        Condition::All(list) => list.iter().all(|c| holds(c, slots)),
        Condition::Any(list) => list.iter().any(|c| holds(c, slots)),
    }
}

/// Fills `{{slot}}` placeholders; a slot nobody filled reads as "-".
pub(crate) fn render(template: &str, run: &FlowRun) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        match rest[open + 2..].find("}}") {
            Some(close) => {
                let key = rest[open + 2..open + 2 + close].trim();
                out.push_str(run.slots.get(key).map_or("-", String::as_str));
                rest = &rest[open + 2 + close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
