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

/// Whether `text` (normalised) is a question too short to name its topic: "有什么好处" after
/// "怎么成为会员", "要多久", "多少钱", "how long?". Such a message may stand alone ("保修多久"
/// is as short), so the bot reads it with the message before only when the knowledge base
/// does not answer it alone.
pub fn is_elliptical(text: &str) -> bool {
    let t = text.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() || !crate::subject::is_question(text) && !text.trim_end().ends_with(['?', '？']) {
        return false;
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
    use super::{is_elliptical, is_follow_up};

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
