//! Candidate FAQ entries learnt from people: out of a conversation an agent resolved, the
//! customer's question and the agent's answer, with personal data removed, or nothing when the
//! exchange is too thin to teach anything (greetings, thanks, no real reply).
//!
//! Pure: the caller reads the messages and decides what to do with the candidate (deduplicate
//! against the knowledge base and the open candidates, store it for review).

use crate::model::Lang;
use lingxi_nlu::entities::{EntityExtractor, EntityKind, EntityValue, Now};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Customer,
    Agent,
    Bot,
}

/// One message of the conversation, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Said<'a> {
    pub speaker: Speaker,
    pub text: &'a str,
}

/// A proposed entry: the question and the answer, personal data replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub question: String,
    pub answer: String,
    pub lang: Lang,
}

/// At most this many customer messages make the question, and agent messages the answer.
const MAX_PARTS: usize = 3;
/// Longest question and answer kept (characters): a chat, not an article.
const MAX_QUESTION_CHARS: usize = 300;
const MAX_ANSWER_CHARS: usize = 2000;

/// Words that carry no question or answer on their own (compared after dropping punctuation).
const FILLER: &[&str] = &[
    "您好",
    "你好",
    "在吗",
    "在么",
    "在不在",
    "亲",
    "谢谢",
    "多谢",
    "感谢",
    "谢啦",
    "好的",
    "好滴",
    "好",
    "嗯嗯",
    "嗯",
    "哦",
    "噢",
    "收到",
    "明白",
    "知道了",
    "了解",
    "行",
    "可以",
    "没问题",
    "请稍等",
    "稍等",
    "马上",
    "为您",
    "查询",
    "一下",
    "再见",
    "拜拜",
    "不客气",
    "客气",
    "啦",
    "了",
    "啊",
    "呀",
    "吧",
    "的",
    "呢",
    "哈",
    "hello",
    "hi",
    "hey",
    "thanks",
    "thank",
    "you",
    "thx",
    "ok",
    "okay",
    "please",
    "wait",
    "moment",
    "a",
    "bye",
    "welcome",
    "sure",
    "great",
    "yes",
    "no",
];

/// True when a message says nothing beyond greetings, thanks and acknowledgements.
pub fn is_trivial(text: &str) -> bool {
    let mut rest: String = text.to_lowercase().chars().filter(|c| c.is_alphanumeric() || c.is_whitespace()).collect();
    // Longest fillers first, so 嗯嗯 goes before 嗯.
    let mut filler: Vec<&str> = FILLER.to_vec();
    filler.sort_by_key(|f| std::cmp::Reverse(f.chars().count()));
    let ascii_words: Vec<String> =
        rest.split_whitespace().filter(|w| !(w.is_ascii() && filler.contains(w))).map(str::to_owned).collect();
    rest = ascii_words.join(" ");
    for f in filler.iter().filter(|f| !f.is_ascii()) {
        rest = rest.replace(f, "");
    }
    substance(&rest) < 2
}

/// How much a text says: Han characters count one each, other words one each.
fn substance(text: &str) -> usize {
    let han = text.chars().filter(|c| is_han(*c)).count();
    let words =
        text.split(|c: char| c.is_whitespace() || is_han(c)).filter(|w| w.chars().any(char::is_alphanumeric)).count();
    han + words
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The language a text is mostly written in.
pub fn lang_of(text: &str) -> Lang {
    let han = text.chars().filter(|c| is_han(*c)).count();
    let letters = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    if han * 2 >= letters.min(han * 4 + 1) && han > 0 {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// The question and answer of an agent-resolved conversation: the customer messages the
/// agent's first real reply answered (the last ones before it, back to the previous bot or
/// agent turn), and the agent's replies up to the customer's next real message. `names` are
/// the customer's names, removed with the other personal data.
pub fn from_conversation(messages: &[Said<'_>], names: &[&str], extractor: &EntityExtractor) -> Option<Candidate> {
    // Greeting a customer by name is still only a greeting.
    let is_trivial = |t: &str| {
        let mut t = t.to_owned();
        for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            t = t.replace(n, " ");
        }
        is_trivial(&t)
    };
    let anchor = messages.iter().position(|m| m.speaker == Speaker::Agent && !is_trivial(m.text))?;
    let mut asked: Vec<&str> = Vec::new();
    for m in messages[..anchor].iter().rev() {
        match m.speaker {
            Speaker::Customer if !is_trivial(m.text) => {
                asked.push(m.text);
                if asked.len() == MAX_PARTS {
                    break;
                }
            }
            Speaker::Customer => {}
            // A bot's or an agent's turn ends the question, once there is one (a hand-off
            // notice after the question is passed over).
            Speaker::Bot | Speaker::Agent if !asked.is_empty() => break,
            _ => {}
        }
    }
    asked.reverse();
    let mut answered: Vec<&str> = Vec::new();
    for m in &messages[anchor..] {
        match m.speaker {
            Speaker::Agent if !is_trivial(m.text) && answered.len() < MAX_PARTS => answered.push(m.text),
            Speaker::Customer if !is_trivial(m.text) => break,
            _ => {}
        }
    }
    if asked.is_empty() {
        return None;
    }
    let raw_question = asked.join(" ");
    let lang = lang_of(&raw_question);
    let amounts = amounts_in(&raw_question, extractor);
    let question: String =
        scrub(&raw_question, names, &amounts, lang, extractor).chars().take(MAX_QUESTION_CHARS).collect();
    let answer: String =
        scrub(&answered.join("\n"), names, &amounts, lang, extractor).chars().take(MAX_ANSWER_CHARS).collect();
    // What is left once the personal data is gone must still be a question and an answer.
    let bare = |t: &str| substance(&without_placeholders(t));
    if bare(&question) < 4 || bare(&answer) < 4 || is_trivial(&question) {
        return None;
    }
    Some(Candidate { question: question.trim().to_owned(), answer: answer.trim().to_owned(), lang })
}

/// The amounts the customer wrote: theirs (an order's price, a refund), removed wherever they
/// appear; amounts only the agent wrote are usually policy (free shipping over ¥99) and stay.
fn amounts_in(text: &str, extractor: &EntityExtractor) -> Vec<i64> {
    extractor.extract(text, Now::china(0)).into_iter().filter_map(|e| minor_units(&e.value)).collect()
}

fn minor_units(v: &EntityValue) -> Option<i64> {
    match v {
        EntityValue::Amount(m) => Some(m.minor_units),
        _ => None,
    }
}

fn placeholder(kind: EntityKind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (EntityKind::Phone, Lang::Zh) => "【手机号】",
        (EntityKind::Email, Lang::Zh) => "【邮箱】",
        (EntityKind::IdCard, Lang::Zh) => "【身份证号】",
        (EntityKind::BankCard, Lang::Zh) => "【银行卡号】",
        (EntityKind::OrderNumber, Lang::Zh) => "【订单号】",
        (EntityKind::TrackingNumber, Lang::Zh) => "【快递单号】",
        (EntityKind::Amount, Lang::Zh) => "【金额】",
        (_, Lang::Zh) => "【号码】",
        (EntityKind::Phone, _) => "[phone]",
        (EntityKind::Email, _) => "[email]",
        (EntityKind::IdCard, _) => "[ID number]",
        (EntityKind::BankCard, _) => "[card number]",
        (EntityKind::OrderNumber, _) => "[order number]",
        (EntityKind::TrackingNumber, _) => "[tracking number]",
        (EntityKind::Amount, _) => "[amount]",
        (_, _) => "[number]",
    }
}

/// Replaces personal data with placeholders: phones, e-mails, ID-card and bank-card numbers,
/// order and tracking numbers, the given amounts and names; then, as a net for what the
/// extractor did not recognise, any remaining run of six or more digits.
pub fn scrub(text: &str, names: &[&str], amounts: &[i64], lang: Lang, extractor: &EntityExtractor) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for e in extractor.extract(text, Now::china(0)) {
        let personal = matches!(
            e.kind,
            EntityKind::Phone
                | EntityKind::Email
                | EntityKind::IdCard
                | EntityKind::BankCard
                | EntityKind::OrderNumber
                | EntityKind::TrackingNumber
        ) || minor_units(&e.value).is_some_and(|m| amounts.contains(&m));
        if !personal || e.span.start < last || e.span.end > text.len() {
            continue;
        }
        out.push_str(&text[last..e.span.start]);
        out.push_str(placeholder(e.kind, lang));
        last = e.span.end;
    }
    out.push_str(&text[last..]);
    let customer = if lang == Lang::Zh { "【客户】" } else { "[customer]" };
    for name in names.iter().map(|n| n.trim()).filter(|n| n.chars().count() >= 2) {
        out = out.replace(name, customer);
    }
    long_digit_runs(&out, placeholder(EntityKind::DateTime, lang))
}

/// The text without the placeholders `scrub` put in (they say nothing of the question).
fn without_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            '【' | '[' => inside = true,
            '】' | ']' => {
                inside = false;
                out.push(' ');
            }
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn long_digit_runs(text: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() || (c.is_ascii_alphabetic() && !run.is_empty()) {
            run.push(c);
            continue;
        }
        if run.chars().filter(char::is_ascii_digit).count() >= 6 {
            out.push_str(with);
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(list: &[(Speaker, &'static str)]) -> Vec<Said<'static>> {
        list.iter().map(|&(speaker, text)| Said { speaker, text }).collect()
    }

    fn check(list: &[(Speaker, &'static str)], names: &[&str]) -> Option<Candidate> {
        from_conversation(&said(list), names, &EntityExtractor::default())
    }

    use Speaker::{Agent, Bot, Customer};

    #[test]
    fn the_question_the_agent_answered_without_personal_data() {
        let c = check(
            &[
                (Customer, "你好"),
                (Bot, "您好，我是灵犀智能客服"),
                (Customer, "我是李雷，手机13812345678，订单LX20261101001的扫地机器人不能回充了怎么办"),
                (Bot, "正在为您转接人工客服"),
                (Agent, "您好李雷，请稍等"),
                (Agent, "请把充电座放在空旷处，清洁机器人底部的充电触点后重新放回。"),
                (Customer, "好的谢谢"),
                (Agent, "不客气"),
            ],
            &["李雷"],
        )
        .unwrap();
        assert_eq!(c.lang, Lang::Zh);
        assert!(!c.question.contains("13812345678") && !c.question.contains("LX2026"), "{}", c.question);
        assert!(!c.question.contains("李雷"), "{}", c.question);
        assert!(c.question.contains("【手机号】") && c.question.contains("不能回充"), "{}", c.question);
        assert_eq!(c.answer, "请把充电座放在空旷处，清洁机器人底部的充电触点后重新放回。");
    }

    #[test]
    fn english_e_mail_card_and_the_customers_amount_go_but_policy_amounts_stay() {
        let c = check(
            &[
                (
                    Customer,
                    "I paid ¥399, card 6222021234567890123, mail me at amy@example.com: when is my refund back?",
                ),
                (Agent, "Refunds of ¥399 go back to the original payment within 3 days; orders over ¥99 ship free."),
            ],
            &["Amy Lee"],
        )
        .unwrap();
        assert_eq!(c.lang, Lang::En);
        for gone in ["6222021234567890123", "amy@example.com"] {
            assert!(!c.question.contains(gone), "{}", c.question);
        }
        assert!(c.question.contains("[email]"), "{}", c.question);
        assert!(!c.answer.contains("399"), "{}", c.answer);
        assert!(c.answer.contains("¥99 ship"), "{}", c.answer);
    }

    #[test]
    fn thin_exchanges_teach_nothing() {
        assert_eq!(check(&[(Customer, "你好"), (Agent, "您好，请问有什么可以帮您？")], &[]), None);
        assert_eq!(check(&[(Customer, "退款多久到账"), (Agent, "好的")], &[]), None, "no real reply");
        assert_eq!(check(&[(Customer, "退款多久到账"), (Bot, "1-3 个工作日")], &[]), None, "no agent");
        assert_eq!(check(&[(Customer, "谢谢"), (Agent, "不客气，祝您生活愉快，再见")], &[]), None);
        assert_eq!(check(&[(Customer, "13812345678"), (Agent, "已为您查询，订单已经发货了")], &[]), None);
        assert_eq!(
            check(&[(Customer, "LX20261101001 13812345678 查"), (Agent, "已为您查询，订单已经发货了")], &[]),
            None
        );
        assert!(is_trivial("好的，谢谢！") && is_trivial("Thanks a lot!!") && is_trivial("嗯嗯 ok"));
        assert!(!is_trivial("退款多久到账") && !is_trivial("how long does shipping take"));
    }

    #[test]
    fn unrecognised_long_numbers_are_removed_too() {
        let t = scrub("会员号 880012345 的积分", &[], &[], Lang::Zh, &EntityExtractor::default());
        assert!(!t.contains("880012345"), "{t}");
    }
}
