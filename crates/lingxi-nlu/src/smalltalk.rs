//! Acknowledgements: messages that only say "好的", "嗯嗯，收到", "ok", "got it 👍".
//!
//! They end or punctuate a conversation and ask nothing, so the bot answers them as small talk:
//! not with a knowledge-base entry, a "did you mean", or a failure to understand (two of which
//! hand the customer to a person). A closed word list rather than a trained intent: the
//! classifiers learn "好的" as a feature and then read "右边的还是好的" (the right earbud still
//! works) as an acknowledgement (tried: the default lexical model put a long troubleshooting
//! message there at 0.54). Here a message counts only when it is made of these words entirely.

/// Words and phrases that acknowledge, lower-case; particles (啦, 哈, 呀) so that "好的呀" and
/// "知道啦" count. English ones match whole words only.
const WORDS: &[&str] = &[
    "好的",
    "好滴",
    "好嘞",
    "好哒",
    "好吧",
    "好",
    "嗯嗯",
    "嗯呢",
    "嗯",
    "恩",
    "哦",
    "噢",
    "喔",
    "收到",
    "知道了",
    "知道",
    "明白了",
    "明白",
    "了解了",
    "了解",
    "懂了",
    "行吧",
    "行",
    "可以",
    "没问题",
    "是的",
    "对的",
    "对",
    "ok",
    "okay",
    "k",
    "kk",
    "okk",
    "got it",
    "gotcha",
    "sure",
    "alright",
    "all right",
    "i see",
    "understood",
    "noted",
    "cool",
    "fine",
    "sounds good",
    "makes sense",
    "will do",
    "no problem",
    "yep",
    "yeah",
    "yes",
    "perfect",
    "great",
    "nice",
    "right",
    "then",
    "啦",
    "了",
    "哈",
    "呀",
    "亲",
    "👌",
    "👍",
];

/// The longest acknowledgement read, in bytes of its words and spaces (twenty Chinese characters).
const MAX_BYTES: usize = 60;

/// Words that alone do not acknowledge anything (a particle, "then").
const FILLERS: &[&str] = &["啦", "了", "哈", "呀", "亲", "then"];

/// Whether `text` (normalised: lower-case, simplified) is only acknowledgement words,
/// punctuation and spaces, with at least one real acknowledgement among them.
pub fn is_acknowledgement(text: &str) -> bool {
    // On every message's path: a long one is no acknowledgement, and is not copied to say so.
    if text.len() > 4 * MAX_BYTES {
        return false;
    }
    let s: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '👌' || c == '👍' { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
        .collect();
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_BYTES {
        return false;
    }
    // reach[i]: s[..i] is a sequence of words and spaces; real[i]: one of them acknowledges.
    let mut reach = vec![None::<bool>; s.len() + 1];
    reach[0] = Some(false);
    for i in 0..s.len() {
        let Some(real) = reach[i] else { continue };
        let rest = &s[i..];
        if rest.starts_with(' ') {
            merge(&mut reach[i + 1], real);
            continue;
        }
        for w in WORDS {
            if !rest.starts_with(w) || !whole_word(s, i, w) {
                continue;
            }
            merge(&mut reach[i + w.len()], real || !FILLERS.contains(w));
        }
    }
    reach[s.len()] == Some(true)
}

/// An English word must not continue a longer word on either side ("ok" is not in "token").
fn whole_word(s: &str, at: usize, w: &str) -> bool {
    if !w.is_ascii() {
        return true;
    }
    let before = s[..at].chars().next_back();
    let after = s[at + w.len()..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

fn merge(slot: &mut Option<bool>, real: bool) {
    *slot = Some(slot.unwrap_or(false) || real);
}

#[cfg(test)]
mod tests {
    use super::is_acknowledgement;

    #[test]
    fn acknowledgements_alone_count_and_questions_around_them_do_not() {
        for yes in [
            "好的",
            "好的！",
            "嗯嗯",
            "嗯嗯，好的收到",
            "哦哦知道了",
            "好的呀",
            "知道啦",
            "ok",
            "OK",
            "okay 👍",
            "got it",
            "Got it then",
            "sounds good!",
            "alright then",
            "👌",
            "行吧",
            "可以",
            "收到收到",
            "好的亲",
        ] {
            assert!(is_acknowledgement(yes), "{yes:?}");
        }
        for no in [
            "",
            "！！",
            "啦",
            "then",
            "好的，那退款多久到账",
            "右边的还是好的",
            "可以退货吗",
            "ok how do I return this",
            "token",
            "okay where is my parcel",
            "不好",
            "不行",
            "thanks",
            "no",
            &"好的".repeat(40),
        ] {
            assert!(!is_acknowledgement(no), "{no:?}");
        }
    }
}
