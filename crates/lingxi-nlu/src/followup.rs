//! Follow-up questions: "那运费谁出？" after "我要退货", "专票呢？" after "怎么开发票",
//! "what about shipping costs?" after a return. Alone they name half a topic; the bot asks the
//! knowledge base again with the previous message in front of them. Read by their openings
//! and the short "…呢" form, since that is how such questions are written.

/// Chinese openings of a follow-up (normalised text: simplified).
const OPENINGS_ZH: &[&str] =
    &["那", "那么", "那个", "还有", "另外", "再问", "顺便问", "顺便", "如果", "要是", "然后", "那要是", "那如果"];

/// English openings (whole words at the start).
const OPENINGS_EN: &[&str] =
    &["and", "what about", "how about", "then", "also", "so", "what if", "and if", "but what", "but how"];

/// The longest "…呢" question read as a follow-up, in characters: "专票呢", "国外的呢".
const SHORT_NE_CHARS: usize = 10;

/// Whether `text` (normalised: lower-case, simplified) reads as a follow-up to what came before.
pub fn is_follow_up(text: &str) -> bool {
    let t = text.trim_start_matches(|c: char| !c.is_alphanumeric());
    let t = t.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '呢');
    if t.is_empty() {
        return false;
    }
    if OPENINGS_ZH.iter().any(|o| t.starts_with(o)) {
        return true;
    }
    if t.ends_with('呢') && t.chars().count() <= SHORT_NE_CHARS {
        return true;
    }
    let lower = t.to_lowercase();
    OPENINGS_EN.iter().any(|o| {
        lower.strip_prefix(o).is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| !c.is_alphanumeric()))
    })
}

/// The longest elliptical question, in characters (Chinese) or words (English).
const ELLIPTICAL_MAX_CHARS: usize = 6;
const ELLIPTICAL_MAX_WORDS: usize = 4;

/// English openings of an elliptical question ("how long?", "how much is it").
const ELLIPTICAL_EN: &[&str] = &["how", "what", "which", "where", "when", "why", "who", "is", "are", "can", "does"];

/// Words of a question that name no topic: what it asks (how long, how much, where), how it
/// asks, and the generic verbs of service ("收到", "到账", "take", "get"). Longest first.
#[rustfmt::skip]
const TOPICLESS_ZH: &[&str] = &[
    "多长时间", "几个工作日", "什么时候", "多少钱", "多少天", "怎么办", "怎么弄", "在哪里", "大概",
    "大约", "一般", "还要", "需要", "多久", "多长", "几天", "何时", "多快", "多少", "要钱", "收费",
    "费用", "免费", "在哪", "哪里", "哪儿", "怎么", "如何", "可以", "购买", "收到", "到账", "完成",
    "处理", "时间", "能", "要", "得", "还", "才", "会", "是", "吗", "呢", "啊", "呀", "吧", "了",
    "么", "那", "的", "这", "它", "到", "钱", "贵", "买",
];
#[rustfmt::skip]
const TOPICLESS_EN: &[&str] = &[
    "how", "long", "much", "many", "does", "do", "did", "will", "would", "it", "that", "this",
    "take", "takes", "is", "are", "the", "a", "what", "when", "where", "cost", "costs", "fee",
    "charge", "time", "usually", "normally", "typically", "about", "roughly", "i", "me", "to",
    "get", "receive", "arrive", "so", "then", "and", "days", "should", "can", "could", "be",
    "soon", "quickly", "free", "price", "pay", "there", "for",
];

/// Whether `text` (normalised) is a question made only of such words: "要多久", "多少钱",
/// "how long does it take?". It asks about the topic just discussed whatever the knowledge
/// base makes of it alone (a guess from two words), so the bot reads it with the message
/// before even when that guess is confident.
pub fn is_topicless(text: &str) -> bool {
    let t = text.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() || !crate::subject::is_question(text) && !text.trim_end().ends_with(['?', '？']) {
        return false;
    }
    if t.is_ascii() {
        return t
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .all(|w| TOPICLESS_EN.contains(&w.to_ascii_lowercase().as_str()));
    }
    let mut rest = t.to_owned();
    for w in TOPICLESS_ZH {
        rest = rest.replace(w, "");
    }
    rest.chars().all(|c| !c.is_alphanumeric())
}

/// Whether `text` (normalised) is a question too short to name its topic: "有什么好处" after
/// "怎么成为会员", "要多久", "多少钱", "how long?". Such a message may stand alone ("保修多久"
/// is as short), so the bot reads it with the message before only when the knowledge base
/// does not answer it alone; a topicless question ([`is_topicless`]) is always elliptical.
pub fn is_elliptical(text: &str) -> bool {
    let t = text.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() || !crate::subject::is_question(text) && !text.trim_end().ends_with(['?', '？']) {
        return false;
    }
    if is_topicless(text) {
        return true;
    }
    if t.is_ascii() {
        let words: Vec<&str> =
            t.split(|c: char| !c.is_ascii_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
        let first = words.first().map(|w| w.to_ascii_lowercase());
        words.len() <= ELLIPTICAL_MAX_WORDS && first.is_some_and(|f| ELLIPTICAL_EN.contains(&f.as_str()))
    } else {
        t.chars().filter(|c| c.is_alphanumeric()).count() <= ELLIPTICAL_MAX_CHARS
    }
}

#[cfg(test)]
mod tests {
    use super::{is_elliptical, is_follow_up, is_topicless};

    #[test]
    fn questions_without_a_topic_word_are_topicless() {
        for yes in [
            "要多久",
            "要多久？",
            "多少钱",
            "在哪买",
            "大概几天能收到",
            "需要多长时间",
            "how long does it take?",
            "when will i get it?",
            "is it free?",
        ] {
            assert!(is_topicless(yes), "{yes:?}");
            assert!(is_elliptical(yes), "{yes:?}");
        }
        for no in [
            "保修多久",
            "退款多久到账",
            "有什么好处",
            "运费多少钱",
            "好的",
            "",
            "how long is the warranty",
            "it takes long",
        ] {
            assert!(!is_topicless(no), "{no:?}");
        }
    }

    #[test]
    fn short_questions_without_a_topic_are_elliptical() {
        for yes in ["有什么好处", "要多久？", "多少钱", "怎么弄", "how long?", "how much is it", "what does it cost"]
        {
            assert!(is_elliptical(yes), "{yes:?}");
        }
        for no in [
            "",
            "好的",
            "谢谢",
            "我要退货",
            "摄像头晚上看不清楚怎么办",
            "thanks",
            "the app crashes",
            "how do I reset my password",
        ] {
            assert!(!is_elliptical(no), "{no:?}");
        }
    }

    #[test]
    fn follow_ups_are_told_from_questions_that_stand_alone() {
        for yes in [
            "那运费谁出",
            "那运费谁出？",
            "那么多久能到账",
            "还有，发票怎么开",
            "专票呢？",
            "国外的呢",
            "如果超过七天呢",
            "what about shipping costs?",
            "And how long does it take?",
            "then who pays for the return shipping",
        ] {
            assert!(is_follow_up(yes), "{yes:?}");
        }
        for no in [
            "",
            "？？",
            "运费谁出",
            "怎么开发票",
            "我的快递到哪了",
            "你们发什么快递呢这么慢我都等了一个星期了",
            "how long does a refund take",
            "android app crashes",
            "sober",
            "thence",
        ] {
            assert!(!is_follow_up(no), "{no:?}");
        }
    }
}
