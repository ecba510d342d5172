//! The hand-off summary an agent reads before saying a word: what the customer wants, the
//! intents and key entities, how their mood went, and what the bot already said. Built from
//! the conversation by rules, so it works offline, without an LLM.

use crate::handoff::HandoffReason;

/// One customer turn as understanding saw it.
#[derive(Debug, Clone, Default)]
pub struct TurnNote {
    pub text: String,
    pub intent: Option<String>,
    /// Signed sentiment score in -1..=1.
    pub sentiment: f32,
    pub anger: f32,
}

/// Everything the summary is made from.
#[derive(Debug, Clone, Default)]
pub struct SummaryInput {
    pub customer_name: Option<String>,
    pub channel: String,
    pub turns: Vec<TurnNote>,
    /// Key entities, already rendered ("订单号 DD2026…", "快递 SF123…"), sensitive ones masked.
    pub entities: Vec<String>,
    /// What the bot replied, in order.
    pub bot_replies: Vec<String>,
    /// Earlier conversations on other channels: (channel, last intent or last text).
    pub other_channels: Vec<(String, String)>,
    pub chinese: bool,
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

fn mood(turns: &[TurnNote], chinese: bool) -> String {
    let scores: Vec<f32> = turns.iter().map(|t| t.sentiment).collect();
    let last = scores.last().copied().unwrap_or(0.0);
    let first = scores.first().copied().unwrap_or(0.0);
    let max_anger = turns.iter().map(|t| t.anger).fold(0.0, f32::max);
    let label = |s: f32| match (s, chinese) {
        (s, true) if s <= -0.35 => "负面",
        (s, true) if s >= 0.35 => "正面",
        (_, true) => "平稳",
        (s, false) if s <= -0.35 => "negative",
        (s, false) if s >= 0.35 => "positive",
        _ => "neutral",
    };
    let trend = if turns.len() < 2 {
        ""
    } else if last < first - 0.2 {
        if chinese {
            "，在变差"
        } else {
            ", getting worse"
        }
    } else if last > first + 0.2 {
        if chinese {
            "，在好转"
        } else {
            ", improving"
        }
    } else {
        ""
    };
    let anger = if max_anger >= 0.7 {
        if chinese {
            "，明显愤怒"
        } else {
            ", clearly angry"
        }
    } else {
        ""
    };
    format!("{}{trend}{anger}", label(last))
}

/// The summary's parts, for consoles that lay the package out themselves (the server stores
/// them as JSON next to the text form).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryParts {
    /// Why a person is needed, in the conversation's language.
    pub why: String,
    pub customer_name: Option<String>,
    pub channel: String,
    /// The customer's request in their own words (clipped) and its intent.
    pub wants: Option<String>,
    pub intent: Option<String>,
    /// Intents over the conversation, in order, repeats collapsed.
    pub intents: Vec<String>,
    pub entities: Vec<String>,
    /// "negative, getting worse, clearly angry" and the signed score of the last message.
    pub mood: String,
    pub last_sentiment: f32,
    pub customer_messages: usize,
    /// The bot's last (at most two) replies, clipped.
    pub bot_replies: Vec<String>,
    pub other_channels: Vec<(String, String)>,
    pub chinese: bool,
}

/// Works out what the summary says.
pub fn parts(input: &SummaryInput, reason: &HandoffReason) -> SummaryParts {
    let zh = input.chinese;
    let (why_zh, why_en) = reason.describe();
    let wants = input.turns.iter().rev().find(|t| t.intent.is_some()).or(input.turns.last());
    let mut intents: Vec<String> = input.turns.iter().filter_map(|t| t.intent.clone()).collect();
    intents.dedup();
    SummaryParts {
        why: if zh { why_zh } else { why_en },
        customer_name: input.customer_name.clone().filter(|n| !n.is_empty()),
        channel: input.channel.clone(),
        wants: wants.map(|t| clip(&t.text, 60)),
        intent: wants.and_then(|t| t.intent.clone()),
        intents,
        entities: input.entities.clone(),
        mood: mood(&input.turns, zh),
        last_sentiment: input.turns.last().map_or(0.0, |t| t.sentiment),
        customer_messages: input.turns.len(),
        bot_replies: input.bot_replies.iter().rev().take(2).rev().map(|r| clip(r, 40)).collect(),
        other_channels: input.other_channels.iter().take(3).map(|(c, what)| (c.clone(), clip(what, 30))).collect(),
        chinese: zh,
    }
}

/// Renders the summary as a few short lines in the conversation's language.
pub fn summarize(input: &SummaryInput, reason: &HandoffReason) -> String {
    render(&parts(input, reason))
}

/// The text form of the parts.
pub fn render(p: &SummaryParts) -> String {
    let zh = p.chinese;
    let mut lines = Vec::new();
    if let Some(who) = &p.customer_name {
        lines.push(if zh {
            format!("客户：{who}（{}）", p.channel)
        } else {
            format!("Customer: {who} ({})", p.channel)
        });
    }
    lines.push(if zh { format!("转人工原因：{}", p.why) } else { format!("Why a person: {}", p.why) });
    if let Some(wants) = &p.wants {
        let intent = p.intent.clone().unwrap_or_else(|| if zh { "未识别".into() } else { "not recognised".into() });
        lines.push(if zh {
            format!("客户诉求：{wants}（意图 {intent}）")
        } else {
            format!("Customer wants: {wants} (intent {intent})")
        });
    }
    if p.intents.len() > 1 {
        lines.push(if zh {
            format!("本次会话意图：{}", p.intents.join(" → "))
        } else {
            format!("Intents: {}", p.intents.join(" → "))
        });
    }
    if !p.entities.is_empty() {
        lines.push(if zh {
            format!("关键信息：{}", p.entities.join("；"))
        } else {
            format!("Key facts: {}", p.entities.join("; "))
        });
    }
    lines.push(if zh {
        format!("情绪：{}（{} 条客户消息）", p.mood, p.customer_messages)
    } else {
        format!("Mood: {} ({} customer messages)", p.mood, p.customer_messages)
    });
    if p.bot_replies.is_empty() {
        lines.push(if zh { "机器人尚未作答".into() } else { "The bot has not answered yet".into() });
    } else {
        lines.push(if zh {
            format!("机器人已答：{}", p.bot_replies.join(" / "))
        } else {
            format!("Bot already said: {}", p.bot_replies.join(" / "))
        });
    }
    if !p.other_channels.is_empty() {
        let other: Vec<String> = p.other_channels.iter().map(|(c, what)| format!("{c}: {what}")).collect();
        lines.push(if zh {
            format!("其他渠道近期：{}", other.join("；"))
        } else {
            format!("Recently elsewhere: {}", other.join("; "))
        });
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_what_matters() {
        let input = SummaryInput {
            customer_name: Some("李雷".into()),
            channel: "wechat_official".into(),
            turns: vec![
                TurnNote {
                    text: "我要退货".into(), intent: Some("return_request".into()), sentiment: 0.0, anger: 0.0
                },
                TurnNote {
                    text: "退款怎么还没到？气死了！！".into(),
                    intent: Some("refund_status".into()),
                    sentiment: -0.8,
                    anger: 0.8,
                },
            ],
            entities: vec!["订单号 DD20261124001".into()],
            bot_replies: vec!["退款一般 1-3 个工作日原路退回".into()],
            other_channels: vec![("mobile_app".into(), "return_request".into())],
            chinese: true,
        };
        let s = summarize(&input, &HandoffReason::NegativeSentiment);
        for part in [
            "李雷",
            "客户情绪明显负面",
            "refund_status",
            "return_request → refund_status",
            "DD20261124001",
            "负面，在变差，明显愤怒",
            "退款一般",
            "mobile_app",
        ] {
            assert!(s.contains(part), "missing {part} in:\n{s}");
        }
        let p = parts(&input, &HandoffReason::NegativeSentiment);
        assert_eq!(p.intent.as_deref(), Some("refund_status"));
        assert_eq!(p.intents, ["return_request", "refund_status"]);
        assert_eq!(p.entities, ["订单号 DD20261124001"]);
        assert_eq!(p.customer_messages, 2);
        assert!(p.last_sentiment < -0.5);
        assert_eq!(render(&p), s, "the text form is rendered from the parts");
        let en = summarize(&SummaryInput { chinese: false, ..input }, &HandoffReason::CustomerRequest);
        assert!(en.contains("Why a person: The customer asked for a person"));
    }
}
