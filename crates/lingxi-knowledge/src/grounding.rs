//! Grounded phrasing by an optional language model, the pure half: what may leave the process
//! (the customer's question and the retrieved sources with personal data replaced by
//! placeholders), the chat messages that ask for an answer from those sources only, and the
//! check of the model's reply (it must cite a source it was given, invent no number, and not
//! echo a placeholder). The HTTP call and the fallback live in the server.

use crate::model::Lang;
use lingxi_nlu::entities::{EntityExtractor, EntityKind, Now};

/// One passage the model may answer from: a knowledge-base entry or a tool's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The entry id (`zh-refund-time`, `a.<article>.<n>`) or `tool:<name>`.
    pub id: String,
    /// What the customer sees as the source: the entry's question, the tool's name.
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// What masked personal data becomes. Placeholders are neither unmasked nor allowed in a reply:
/// a knowledge-base answer never needs the customer's own numbers.
pub const PLACEHOLDERS: [&str; 8] =
    ["[PHONE]", "[EMAIL]", "[ID_CARD]", "[BANK_CARD]", "[ORDER_NO]", "[TRACKING_NO]", "[NAME]", "[NUMBER]"];

/// Digit runs at least this long that no detector recognised are masked too: account, QQ or
/// membership numbers have many shapes, while prices, dates and durations are shorter.
const LONG_DIGITS: usize = 7;

/// Replaces personal data with placeholders: phones, e-mails, ID-card and bank-card numbers,
/// order and tracking numbers (the tenant's extractor knows its order shapes), the names given,
/// and any other long digit run.
pub struct Masker<'a> {
    extractor: &'a EntityExtractor,
    names: Vec<String>,
}

impl<'a> Masker<'a> {
    /// `names`: the customer's display name and the like; one-letter names are ignored
    /// (masking every "李" would garble the text).
    pub fn new(extractor: &'a EntityExtractor, names: &[String]) -> Self {
        let names = names.iter().map(|n| n.trim().to_owned()).filter(|n| n.chars().count() >= 2).collect::<Vec<_>>();
        Masker { extractor, names }
    }

    pub fn mask(&self, text: &str) -> String {
        // Dates are not masked, so the reference time does not matter.
        let entities = self.extractor.extract(text, Now::china(0));
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for e in &entities {
            let placeholder = match e.kind {
                EntityKind::Phone => "[PHONE]",
                EntityKind::Email => "[EMAIL]",
                EntityKind::IdCard => "[ID_CARD]",
                EntityKind::BankCard => "[BANK_CARD]",
                EntityKind::OrderNumber => "[ORDER_NO]",
                EntityKind::TrackingNumber => "[TRACKING_NO]",
                _ => continue,
            };
            out.push_str(&text[last..e.span.start]);
            out.push_str(placeholder);
            last = e.span.end;
        }
        out.push_str(&text[last..]);
        let out = self.names.iter().fold(out, |t, name| replace_ascii_case_insensitive(&t, name, "[NAME]"));
        mask_long_digits(&out)
    }
}

fn replace_ascii_case_insensitive(text: &str, needle: &str, with: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in the copy fit the original.
    let hay = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in hay.match_indices(&needle) {
        if at < last {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

fn mask_long_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (is_digits, run) in digit_runs(text) {
        if is_digits && run.len() >= LONG_DIGITS {
            out.push_str("[NUMBER]");
        } else {
            out.push_str(run);
        }
    }
    out
}

/// The text cut into maximal runs of ASCII digits and of everything else.
fn digit_runs(text: &str) -> Vec<(bool, &str)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut in_digits = None;
    for (i, c) in text.char_indices() {
        let d = c.is_ascii_digit();
        match in_digits {
            Some(prev) if prev != d => {
                runs.push((prev, &text[start..i]));
                start = i;
            }
            _ => {}
        }
        in_digits = Some(d);
    }
    if let Some(d) = in_digits {
        runs.push((d, &text[start..]));
    }
    runs
}

/// A request ready to send, and what checking its reply needs.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub messages: Vec<ChatMessage>,
    /// The sources as sent (masked), numbered from 1.
    pub sources: Vec<Source>,
    /// Every digit run the model was shown: a reply may use these and no others.
    known_numbers: Vec<String>,
    max_chars: usize,
}

/// Builds the chat messages: a system message with the rules and the numbered sources, and the
/// customer's question as the user message. Everything is masked first.
pub fn build(question: &str, sources: &[Source], lang: Lang, masker: &Masker<'_>, max_chars: usize) -> Prompt {
    let sources: Vec<Source> = sources
        .iter()
        .map(|s| Source { id: s.id.clone(), title: masker.mask(&s.title), text: masker.mask(&s.text) })
        .collect();
    let question = masker.mask(question);
    let mut listing = String::new();
    for (i, s) in sources.iter().enumerate() {
        listing.push_str(&format!("[{}] {}\n{}\n\n", i + 1, s.title, s.text));
    }
    let rules = match lang {
        Lang::Zh => format!(
            "你是在线客服助手。只能根据下面编号的资料回答客户的问题，不得使用资料以外的知识，\
             不得编造资料中没有的数字、时间、价格或政策。在回答中用 [编号] 标出所依据的资料，例如 [1]。\
             如果资料不能回答这个问题，只回答“抱歉，我无法根据现有资料回答这个问题。”，不要标编号。\
             方括号中的大写占位符（如 [PHONE]、[ORDER_NO]）是已隐藏的个人信息，不要在回答中重复。\
             用简洁友好的中文回答，不超过 {max_chars} 个字。\n\n资料：\n{listing}"
        ),
        Lang::En => format!(
            "You are a customer-service assistant. Answer the customer's question only from the numbered \
             sources below; do not use any other knowledge and do not invent numbers, times, prices or \
             policies that the sources do not state. Cite the sources you used as [n], for example [1]. \
             If the sources do not answer the question, reply only \"Sorry, I can't answer that from the \
             information I have.\" without any citation. Upper-case placeholders in brackets (such as \
             [PHONE] or [ORDER_NO]) stand for hidden personal data: never repeat them. Answer briefly \
             and kindly in English, in at most {max_chars} characters.\n\nSources:\n{listing}"
        ),
    };
    let mut known_numbers: Vec<String> = Vec::new();
    for t in sources.iter().flat_map(|s| [s.title.as_str(), s.text.as_str()]).chain([question.as_str()]) {
        known_numbers.extend(digit_runs(t).into_iter().filter(|(d, _)| *d).map(|(_, r)| r.to_owned()));
    }
    let messages = vec![
        ChatMessage { role: Role::System, content: rules.trim_end().to_owned() },
        ChatMessage { role: Role::User, content: question },
    ];
    Prompt { messages, sources, known_numbers, max_chars }
}

/// Why a reply is not used (the caller then sends the plain knowledge-base answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the reply is empty")]
    Empty,
    #[error("the reply is {chars} characters long")]
    TooLong { chars: usize },
    #[error("the reply cites none of the sources given")]
    NoCitation,
    #[error("the reply repeats the placeholder {0}")]
    Placeholder(&'static str),
    #[error("the reply states the number {0}, which no source has")]
    UnsupportedNumber(String),
}

/// A reply that passed: citations of sources not given are removed, the rest written `[n]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrased {
    pub text: String,
    /// Indexes into [`Prompt::sources`] of the sources cited, in order of first citation.
    pub cited: Vec<usize>,
}

impl Prompt {
    pub fn check(&self, reply: &str) -> Result<Phrased, Rejection> {
        let reply = without_thinking(reply);
        let (text, cited) = citations(reply.trim(), self.sources.len());
        let text = text.trim().to_owned();
        let plain = citations(&text, 0).0;
        if plain.trim().is_empty() {
            return Err(Rejection::Empty);
        }
        let chars = plain.chars().count();
        if chars > self.max_chars {
            return Err(Rejection::TooLong { chars });
        }
        if let Some(p) = PLACEHOLDERS.iter().find(|p| plain.contains(*p)) {
            return Err(Rejection::Placeholder(p));
        }
        if cited.is_empty() {
            return Err(Rejection::NoCitation);
        }
        // Full-width digits are digits too: `７` must not slip past as "not a number".
        let ascii: String = plain
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10).unwrap_or(c),
                _ => c,
            })
            .collect();
        for (is_digits, run) in digit_runs(&ascii) {
            if is_digits && !self.known_numbers.iter().any(|k| k == run) {
                return Err(Rejection::UnsupportedNumber(run.to_owned()));
            }
        }
        Ok(Phrased { text, cited })
    }
}

/// Reasoning models served through some OpenAI-compatible servers (Qwen3 or DeepSeek-R1 on
/// Ollama, vLLM) put their reasoning in the content as `<think>…</think>`: only what follows
/// is the answer. An unclosed block means the answer never came.
pub(crate) fn without_thinking(reply: &str) -> &str {
    let trimmed = reply.trim_start();
    match trimmed.strip_prefix("<think>") {
        Some(rest) => rest.find("</think>").map_or("", |end| &rest[end + "</think>".len()..]),
        None => reply,
    }
}

/// Finds citations (`[1]`, `【2】`, `[1, 3]`, `[1][2]`), keeps those within `1..=n` as `[k]`
/// and drops the others. Returns the text and the 0-based indexes cited.
fn citations(text: &str, n: usize) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut cited = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['[', '【']) {
        out.push_str(&rest[..open]);
        let after_open = &rest[open..];
        let open_len = after_open.chars().next().map_or(1, char::len_utf8);
        let inner_end = after_open[open_len..].find([']', '】']).map(|i| i + open_len);
        let parsed = inner_end.and_then(|end| {
            let inner = &after_open[open_len..end];
            let ok = !inner.is_empty()
                && inner.len() <= 24
                && inner.chars().any(|c| c.is_ascii_digit())
                && inner.chars().all(|c| c.is_ascii_digit() || matches!(c, ',' | '，' | '、' | ' '));
            ok.then(|| {
                let nums: Vec<usize> =
                    inner.split([',', '，', '、', ' ']).filter_map(|s| s.parse::<usize>().ok()).collect();
                let close_len = after_open[end..].chars().next().map_or(1, char::len_utf8);
                (nums, end + close_len)
            })
        });
        match parsed {
            Some((nums, consumed)) => {
                for k in nums.into_iter().filter(|k| (1..=n).contains(k)) {
                    out.push_str(&format!("[{k}]"));
                    if !cited.contains(&(k - 1)) {
                        cited.push(k - 1);
                    }
                }
                rest = &after_open[consumed..];
            }
            None => {
                out.push_str(&after_open[..open_len]);
                rest = &after_open[open_len..];
            }
        }
    }
    out.push_str(rest);
    (out, cited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_nlu::entities::EntityConfig;

    fn extractor() -> EntityExtractor {
        EntityExtractor::new(&EntityConfig::default()).unwrap()
    }

    fn refund() -> Source {
        Source {
            id: "zh-refund-time".into(),
            title: "退款多久到账".into(),
            text: "仓库签收退货后 1–3 个工作日内退款，银行卡到账可能再需要 1–5 个工作日。".into(),
        }
    }

    #[test]
    fn personal_data_becomes_placeholders() {
        let x = extractor();
        let m = Masker::new(&x, &["李雷".into(), "X".into()]);
        for (text, gone, placeholder) in [
            ("我是李雷，电话 13812345678", "13812345678", "[PHONE]"),
            ("邮箱 lilei@example.com 收不到", "lilei@example.com", "[EMAIL]"),
            ("身份证 11010519491231002X 实名", "11010519491231002x", "[ID_CARD]"),
            ("卡号 4111 1111 1111 1111 扣了两次", "1111", "[BANK_CARD]"),
            ("订单 LX20261101001 没到", "20261101001", "[ORDER_NO]"),
            ("单号 SF1234567890123 呢", "1234567890123", "[TRACKING_NO]"),
            ("会员号 88234561 查积分", "88234561", "[NUMBER]"),
            ("Hi, I'm LEI LI", "LEI LI", "[NAME]"),
        ] {
            let names = ["李雷".to_owned(), "Lei Li".to_owned()];
            let m2 = Masker::new(&x, &names);
            let masked = m2.mask(text).to_lowercase();
            assert!(!masked.contains(&gone.to_lowercase()), "{text} -> {masked}");
            assert!(masked.contains(&placeholder.to_lowercase()), "{text} -> {masked}");
        }
        assert_eq!(m.mask("退货 7 天内，满 99 元包邮"), "退货 7 天内，满 99 元包邮", "short numbers stay");
        assert_eq!(m.mask("X 型号"), "X 型号", "one-letter names are not masked");
    }

    #[test]
    fn the_prompt_numbers_masked_sources_in_the_customers_language() {
        let x = extractor();
        let m = Masker::new(&x, &[]);
        let p = build("退款多久到账？我的电话 13812345678", &[refund()], Lang::Zh, &m, 300);
        assert_eq!(p.messages.len(), 2);
        assert_eq!(p.messages[0].role, Role::System);
        assert!(p.messages[0].content.contains("[1] 退款多久到账\n仓库签收退货后"), "{}", p.messages[0].content);
        assert!(p.messages[0].content.contains("只能根据下面编号的资料"));
        assert_eq!(p.messages[1].content, "退款多久到账？我的电话 [PHONE]");
        let p = build("How long do refunds take?", &[refund()], Lang::En, &m, 300);
        assert!(p.messages[0].content.contains("only from the numbered sources"));
        let tool = Source {
            id: "tool:order_status".into(),
            title: "order_status".into(),
            text: "LX20261101001 已发货".into(),
        };
        let p = build("到哪了", &[tool], Lang::Zh, &m, 300);
        assert!(p.messages[0].content.contains("[ORDER_NO] 已发货"), "tool results are masked too");
    }

    #[test]
    fn replies_must_cite_given_sources_and_invent_nothing() {
        let x = extractor();
        let m = Masker::new(&x, &[]);
        let p = build("退款多久到账", &[refund()], Lang::Zh, &m, 60);
        let ok = p.check("退货签收后 1–3 个工作日内退款【1】，另见 [3]。").unwrap();
        assert_eq!(ok.text, "退货签收后 1–3 个工作日内退款[1]，另见 。");
        assert_eq!(ok.cited, vec![0]);
        assert_eq!(p.check("退款很快 [1, 2]").unwrap().text, "退款很快 [1]");
        for (reply, why) in [
            ("", Rejection::Empty),
            ("  [1] ", Rejection::Empty),
            ("抱歉，我无法根据现有资料回答这个问题。", Rejection::NoCitation),
            ("退款 1–3 个工作日 [2]", Rejection::NoCitation),
            ("请把 [PHONE] 发给我们 [1]", Rejection::Placeholder("[PHONE]")),
            ("退款 7 个工作日内到账 [1]", Rejection::UnsupportedNumber("7".into())),
            (&"很快".repeat(40), Rejection::TooLong { chars: 80 }),
        ] {
            assert_eq!(p.check(reply), Err(why), "{reply}");
        }
        assert!(p.check("见 [其他] 说明 [1]").is_ok(), "brackets that are not citations stay");
        assert_eq!(
            p.check("退款 ７ 个工作日内到账 [1]"),
            Err(Rejection::UnsupportedNumber("7".into())),
            "full-width digits are checked"
        );
        let thought = p.check("<think>资料 [1] 说 1–3 天，要引用。</think>\n1–3 个工作日内退款 [1]").unwrap();
        assert_eq!(thought.text, "1–3 个工作日内退款 [1]", "the reasoning is not the answer");
        assert_eq!(p.check("<think>想了很久 [1]"), Err(Rejection::Empty));
    }
}
