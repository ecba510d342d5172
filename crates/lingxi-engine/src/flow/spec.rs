//! The data form of a guided flow, as a tenant writes it (JSON in the repository and through
//! the API; the adapter parses the text, this crate only sees the typed values). Everything
//! here is checked by `Flow::compile` before a flow can run.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Text shown to the customer: one string, or one per language.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Localized { zh: String, en: String },
}

impl Text {
    pub fn get(&self, chinese: bool) -> &str {
        match self {
            Text::Plain(s) => s,
            Text::Localized { zh, en } => {
                if chinese {
                    zh
                } else {
                    en
                }
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub id: String,
    pub title: Text,
    #[serde(default)]
    pub trigger: TriggerSpec,
    pub start: String,
    pub steps: BTreeMap<String, StepSpec>,
}

/// When a customer message starts the flow: one of `intents`, or every keyword group matched
/// by at least one of its words (groups are ANDed, words in a group ORed).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(default)]
    pub intents: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepSpec {
    /// Say something, go on.
    Message { text: Text, next: String },
    /// Offer buttons and wait for the customer's pick.
    Choice {
        text: Text,
        options: Vec<OptionSpec>,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        on_fail: Option<String>,
    },
    /// Ask for a value (an entity kind, or free text), validate it, keep it in `slot`.
    Ask {
        text: Text,
        slot: String,
        #[serde(default)]
        entity: Option<String>,
        #[serde(default)]
        pattern_hint: Option<Text>,
        next: String,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        on_fail: Option<String>,
    },
    /// Branch on slots (entities, customer attributes `customer.<key>`, tool results).
    Condition {
        branches: Vec<BranchSpec>,
        #[serde(rename = "else")]
        otherwise: String,
    },
    /// Call a business-data tool; its fields land in slots under `save_as.`.
    Tool {
        tool: String,
        #[serde(default)]
        args: BTreeMap<String, String>,
        save_as: String,
        next: String,
        on_error: String,
    },
    /// Hand over to a person (the conversation's hand-off, with this reason).
    Handoff {
        reason: String,
        #[serde(default)]
        text: Option<Text>,
    },
    /// The flow is over.
    End {
        #[serde(default)]
        text: Option<Text>,
        #[serde(default = "yes")]
        resolved: bool,
    },
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionSpec {
    pub label: Text,
    /// Extra words that pick this option when typed instead of clicked.
    #[serde(default)]
    pub keywords: Vec<String>,
    pub next: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchSpec {
    pub when: ConditionSpec,
    pub next: String,
}

/// Exactly one operator per condition (checked by `compile`); `all` / `any` nest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    #[serde(default)]
    pub slot: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
    #[serde(default)]
    pub all: Option<Vec<ConditionSpec>>,
    #[serde(default)]
    pub any: Option<Vec<ConditionSpec>>,
}
