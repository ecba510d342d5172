//! Guided troubleshooting flows as data: a tenant writes steps (messages, choices, questions,
//! conditions, tool calls, hand-off) as JSON or YAML; `Flow::compile` checks the whole graph once and
//! reports every problem with its path, so a bad file never reaches a customer; `Flow::advance`
//! (run.rs) walks a run forward on each customer message. The run state is plain data the
//! application stores per customer, which is how a customer leaves a flow on WeChat and
//! continues it in the app.

mod run;
pub mod spec;
#[cfg(test)]
mod tests;

pub use run::{FlowInput, FlowRun, Next, Outcome, Reply};
pub use spec::{FlowSpec, Text};

use spec::{ConditionSpec, StepSpec};
use std::collections::{BTreeMap, BTreeSet};

/// Values an `ask` step can require: the entity names the application extracts, or `text`.
pub const ASK_KINDS: &[&str] =
    &["order_no", "phone", "email", "tracking_no", "amount", "datetime", "product", "location", "text"];

/// The demo tenant's flows, as shipped (file name, text; JSON or YAML by the extension); the
/// application parses them.
pub const DEMO_FLOWS: &[(&str, &str)] = &[
    ("camera-wifi.json", include_str!("../../data/flows/camera-wifi.json")),
    ("vacuum-charging.yaml", include_str!("../../data/flows/vacuum-charging.yaml")),
];

/// Retries of a choice or question before `on_fail` (or hand-off) when none is given.
pub const DEFAULT_RETRIES: u32 = 2;

/// One problem in a flow definition: where (`steps.reset.options[1].next`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    Equals(String, String),
    OneOf(String, Vec<String>),
    Exists(String, bool),
    Gt(String, f64),
    Lt(String, f64),
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

/// A step with its successors resolved to indices.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Message {
        text: Text,
        next: usize,
    },
    Choice {
        text: Text,
        options: Vec<(Text, Vec<String>, usize)>,
        retries: u32,
        on_fail: Option<usize>,
    },
    Ask {
        text: Text,
        slot: String,
        kind: String,
        hint: Option<Text>,
        next: usize,
        retries: u32,
        on_fail: Option<usize>,
    },
    Condition {
        branches: Vec<(Condition, usize)>,
        otherwise: usize,
    },
    Tool {
        tool: String,
        args: BTreeMap<String, String>,
        save_as: String,
        next: usize,
        on_error: usize,
    },
    Handoff {
        reason: String,
        text: Option<Text>,
    },
    End {
        text: Option<Text>,
        resolved: bool,
    },
}

/// A checked flow, ready to run.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub title: Text,
    intents: Vec<String>,
    keywords: Vec<Vec<String>>,
    pub(crate) names: Vec<String>,
    pub(crate) steps: Vec<Step>,
    pub(crate) start: usize,
}

impl Flow {
    /// Checks a definition: ids, every `next` names a step, options and branches not empty,
    /// one operator per condition, known `ask` kinds, every step reachable from `start`, a
    /// trigger present. Returns every problem found, not just the first.
    pub fn compile(spec: &FlowSpec) -> Result<Flow, Vec<FlowError>> {
        let mut errs = Vec::new();
        let mut err = |path: String, message: String| errs.push(FlowError { path, message });
        if spec.id.is_empty() || !spec.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            err("id".into(), format!("`{}` must be non-empty letters, digits, `_` or `-`", spec.id));
        }
        if spec.trigger.intents.is_empty() && spec.trigger.keywords.is_empty() {
            err("trigger".into(), "give `intents` or `keywords`, or the flow can never start".into());
        }
        for (i, group) in spec.trigger.keywords.iter().enumerate() {
            if group.is_empty() || group.iter().any(|w| w.trim().is_empty()) {
                err(format!("trigger.keywords[{i}]"), "a keyword group needs non-empty words".into());
            }
        }
        let names: Vec<String> = spec.steps.keys().cloned().collect();
        let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let resolve = |path: String, target: &str, errs: &mut Vec<FlowError>| -> usize {
            match index.get(target) {
                Some(&i) => i,
                None => {
                    errs.push(FlowError { path, message: format!("no step named `{target}`") });
                    usize::MAX
                }
            }
        };
        let start = resolve("start".into(), &spec.start, &mut errs);
        let mut steps = Vec::with_capacity(names.len());
        for (name, step) in &spec.steps {
            let at = |field: &str| format!("steps.{name}.{field}");
            let compiled = match step {
                StepSpec::Message { text, next } => {
                    Step::Message { text: text.clone(), next: resolve(at("next"), next, &mut errs) }
                }
                StepSpec::Choice { text, options, retries, on_fail } => {
                    if options.is_empty() {
                        errs.push(FlowError {
                            path: at("options"),
                            message: "a choice needs at least one option".into(),
                        });
                    }
                    let options = options
                        .iter()
                        .enumerate()
                        .map(|(i, o)| {
                            let next = resolve(at(&format!("options[{i}].next")), &o.next, &mut errs);
                            (o.label.clone(), o.keywords.iter().map(|k| k.to_lowercase()).collect(), next)
                        })
                        .collect();
                    let on_fail = on_fail.as_ref().map(|f| resolve(at("on_fail"), f, &mut errs));
                    Step::Choice { text: text.clone(), options, retries: retries.unwrap_or(DEFAULT_RETRIES), on_fail }
                }
                StepSpec::Ask { text, slot, entity, pattern_hint, next, retries, on_fail } => {
                    let kind = entity.clone().unwrap_or_else(|| "text".into());
                    if !ASK_KINDS.contains(&kind.as_str()) {
                        errs.push(FlowError {
                            path: at("entity"),
                            message: format!("unknown kind `{kind}` (one of {})", ASK_KINDS.join(", ")),
                        });
                    }
                    if slot.trim().is_empty() {
                        errs.push(FlowError {
                            path: at("slot"),
                            message: "name the slot that keeps the answer".into(),
                        });
                    }
                    let next = resolve(at("next"), next, &mut errs);
                    let on_fail = on_fail.as_ref().map(|f| resolve(at("on_fail"), f, &mut errs));
                    Step::Ask {
                        text: text.clone(),
                        slot: slot.clone(),
                        kind,
                        hint: pattern_hint.clone(),
                        next,
                        retries: retries.unwrap_or(DEFAULT_RETRIES),
                        on_fail,
                    }
                }
                StepSpec::Condition { branches, otherwise } => {
                    if branches.is_empty() {
                        errs.push(FlowError { path: at("branches"), message: "a condition needs a branch".into() });
                    }
                    let branches = branches
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            let cond = condition(&b.when, &at(&format!("branches[{i}].when")), &mut errs);
                            (cond, resolve(at(&format!("branches[{i}].next")), &b.next, &mut errs))
                        })
                        .collect();
                    Step::Condition { branches, otherwise: resolve(at("else"), otherwise, &mut errs) }
                }
                StepSpec::Tool { tool, args, save_as, next, on_error } => {
                    if tool.trim().is_empty() || save_as.trim().is_empty() {
                        errs.push(FlowError { path: at("tool"), message: "`tool` and `save_as` must be named".into() });
                    }
                    Step::Tool {
                        tool: tool.clone(),
                        args: args.clone(),
                        save_as: save_as.clone(),
                        next: resolve(at("next"), next, &mut errs),
                        on_error: resolve(at("on_error"), on_error, &mut errs),
                    }
                }
                StepSpec::Handoff { reason, text } => {
                    if reason.trim().is_empty() {
                        errs.push(FlowError { path: at("reason"), message: "a hand-off needs a reason".into() });
                    }
                    Step::Handoff { reason: reason.clone(), text: text.clone() }
                }
                StepSpec::End { text, resolved } => Step::End { text: text.clone(), resolved: *resolved },
            };
            steps.push(compiled);
        }
        if errs.is_empty() {
            for unreachable in unreachable(&steps, start) {
                errs.push(FlowError {
                    path: format!("steps.{}", names[unreachable]),
                    message: "no path from `start` leads here".into(),
                });
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Flow {
            id: spec.id.clone(),
            title: spec.title.clone(),
            intents: spec.trigger.intents.clone(),
            keywords: spec.trigger.keywords.iter().map(|g| g.iter().map(|w| w.to_lowercase()).collect()).collect(),
            names,
            steps,
            start,
        })
    }

    /// Whether a customer message starts this flow: its intent is one of the trigger's, or
    /// every keyword group has a word in the (normalised) text.
    pub fn triggered_by(&self, intent: Option<&str>, text: &str) -> bool {
        if intent.is_some_and(|i| self.intents.iter().any(|t| t == i)) {
            return true;
        }
        let text = text.to_lowercase();
        !self.keywords.is_empty() && self.keywords.iter().all(|group| group.iter().any(|w| text.contains(w.as_str())))
    }

    /// The step names, for messages and for storing a run.
    /// How many steps the flow has.
    pub fn n_steps(&self) -> usize {
        self.steps.len()
    }

    pub fn step_name(&self, step: usize) -> &str {
        &self.names[step]
    }
}

fn condition(spec: &ConditionSpec, path: &str, errs: &mut Vec<FlowError>) -> Condition {
    let slot = || spec.slot.clone().unwrap_or_default();
    let mut ops = Vec::new();
    if let Some(v) = &spec.equals {
        ops.push(Condition::Equals(slot(), v.clone()));
    }
    if let Some(v) = &spec.one_of {
        ops.push(Condition::OneOf(slot(), v.clone()));
    }
    if let Some(v) = spec.exists {
        ops.push(Condition::Exists(slot(), v));
    }
    if let Some(v) = spec.gt {
        ops.push(Condition::Gt(slot(), v));
    }
    if let Some(v) = spec.lt {
        ops.push(Condition::Lt(slot(), v));
    }
    let nested = |list: &Vec<ConditionSpec>, name: &str, errs: &mut Vec<FlowError>| -> Vec<Condition> {
        if list.is_empty() {
            errs.push(FlowError { path: format!("{path}.{name}"), message: "an empty list matches nothing".into() });
        }
        list.iter().enumerate().map(|(i, c)| condition(c, &format!("{path}.{name}[{i}]"), errs)).collect()
    };
    if let Some(list) = &spec.all {
        ops.push(Condition::All(nested(list, "all", errs)));
    }
    if let Some(list) = &spec.any {
        ops.push(Condition::Any(nested(list, "any", errs)));
    }
    let needs_slot = ops.iter().any(|c| !matches!(c, Condition::All(_) | Condition::Any(_)));
    if needs_slot && spec.slot.as_deref().is_none_or(|s| s.trim().is_empty()) {
        errs.push(FlowError { path: path.into(), message: "name the `slot` this condition tests".into() });
    }
    if ops.len() != 1 {
        errs.push(FlowError {
            path: path.into(),
            message: format!(
                "exactly one of equals, one_of, exists, gt, lt, all, any (found {})",
                if ops.is_empty() { "none".to_string() } else { ops.len().to_string() }
            ),
        });
        return Condition::All(Vec::new());
    }
    ops.pop().unwrap_or(Condition::All(Vec::new()))
}

fn successors(step: &Step) -> Vec<usize> {
    match step {
        Step::Message { next, .. } => vec![*next],
        Step::Choice { options, on_fail, .. } => options.iter().map(|o| o.2).chain(*on_fail).collect(),
        Step::Ask { next, on_fail, .. } => std::iter::once(*next).chain(*on_fail).collect(),
        Step::Condition { branches, otherwise } => branches.iter().map(|b| b.1).chain([*otherwise]).collect(),
        Step::Tool { next, on_error, .. } => vec![*next, *on_error],
        Step::Handoff { .. } | Step::End { .. } => Vec::new(),
    }
}

fn unreachable(steps: &[Step], start: usize) -> Vec<usize> {
    let mut seen = BTreeSet::from([start]);
    let mut stack = vec![start];
    while let Some(at) = stack.pop() {
        for next in successors(&steps[at]) {
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    (0..steps.len()).filter(|i| !seen.contains(i)).collect()
}
