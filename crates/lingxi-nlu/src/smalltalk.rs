//! Small talk read by word list: acknowledgements ("好的", "嗯嗯，收到", "ok", "got it 👍"),
//! greetings that only call for attention ("客服在吗", "有人吗", "hello, anyone there?") and
//! questions about the bot itself ("你是机器人吗", "are you a bot?").
//!
//! They ask nothing the knowledge base knows, so the bot answers them itself: not with a
//! knowledge-base entry, a "did you mean", or a failure to understand (two of which hand the
//! customer to a person). "客服在吗" used to get the entry for 转人工, which promises a
//! transfer that the bot then did not make. A closed word list rather than a trained intent:
//! the classifiers learn "好的" as a feature and then read "右边的还是好的" (the right earbud
//! still works) as an acknowledgement (tried: the default lexical model put a long
//! troubleshooting message there at 0.54). Here a message counts only when it is made of one
//! list's words entirely.

/// What a small-talk message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmallTalk {
    Acknowledgement,
    /// A greeting or a call for attention with nothing else in it.
    Greeting,
    /// A question whether the customer talks to a bot.
    BotIdentity,
}

impl SmallTalk {
    /// The intent the bot records for it.
    pub fn intent(self) -> &'static str {
        match self {
            SmallTalk::Acknowledgement => "acknowledgement",
            SmallTalk::Greeting => "greeting",
            SmallTalk::BotIdentity => "bot_identity",
        }
    }
}

/// One kind's words: a message of its words (and spaces) with at least one real one is of
/// that kind; fillers (particles, "客服", "you") alone are not.
struct Lexicon {
    real: &'static [&'static str],
    fillers: &'static [&'static str],
}

/// Words and phrases that acknowledge, lower-case; particles (啦, 哈, 呀) are fillers, so that
/// "好的呀" and "知道啦" count. English ones match whole words only.
const ACKNOWLEDGEMENTS: Lexicon = Lexicon {
    real: &[
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
        "👌",
        "👍",
    ],
    fillers: &["啦", "了", "哈", "呀", "亲", "then"],
};

/// The longest small-talk message read, in bytes of its words and spaces (twenty Chinese characters).
const MAX_BYTES: usize = 60;

/// Greetings and calls for attention. "客服" and "请问" are fillers: "客服" alone may be a
/// request for a person, and "请问" announces a question still to come.
const GREETINGS: Lexicon = Lexicon {
    real: &[
        "你好",
        "您好",
        "你们好",
        "大家好",
        "哈喽",
        "哈啰",
        "嗨",
        "喂",
        "在吗",
        "在么",
        "在嘛",
        "在不在",
        "在不",
        "有人吗",
        "有人么",
        "有人在吗",
        "有没有人",
        "早上好",
        "早安",
        "上午好",
        "中午好",
        "下午好",
        "晚上好",
        "早",
        "hello",
        "hi",
        "hey",
        "hiya",
        "good morning",
        "good afternoon",
        "good evening",
        "anyone there",
        "anybody there",
        "is anyone there",
        "is anybody there",
        "are you there",
        "you there",
    ],
    fillers: &["客服", "亲亲", "亲", "请问", "啊", "呀", "哈", "呢", "吗", "哦", "嗯", "there"],
};

/// "你是机器人吗", "是不是自动回复", "你是谁", "am I talking to a bot?". The words that say "you" or
/// "this" are checked apart ([`addresses_the_bot`]): "robot" alone is a product.
const BOT_QUESTIONS: Lexicon = Lexicon {
    real: &[
        "机器人",
        "人工智能",
        "智能客服",
        "自动回复",
        "谁",
        "真人",
        "人工",
        "ai",
        "bot",
        "robot",
        "chatbot",
        "who are you",
        "real person",
        "real",
        "human",
        "person",
    ],
    fillers: &[
        "你是",
        "您是",
        "你们是",
        "是不是",
        "不是",
        "是",
        "你",
        "您",
        "吗",
        "么",
        "嘛",
        "呢",
        "啊",
        "呀",
        "还是",
        "一个",
        "个",
        "are you",
        "you are",
        "are",
        "you",
        "a",
        "an",
        "is this",
        "is it",
        "this",
        "am i talking to",
        "am i chatting with",
        "talking to",
        "just",
    ],
};

/// What kind of small talk `text` (normalised: lower-case, simplified) is, if it is only the
/// words of one kind, punctuation and spaces, with at least one real word of that kind.
pub fn small_talk(text: &str) -> Option<SmallTalk> {
    // On every message's path: a long one is no small talk, and is not copied to say so.
    if text.len() > 4 * MAX_BYTES {
        return None;
    }
    let s: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '👌' || c == '👍' { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
        .collect();
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_BYTES {
        return None;
    }
    if made_of(s, &ACKNOWLEDGEMENTS) {
        Some(SmallTalk::Acknowledgement)
    } else if made_of(s, &GREETINGS) {
        Some(SmallTalk::Greeting)
    } else if made_of(s, &BOT_QUESTIONS) && addresses_the_bot(s) {
        Some(SmallTalk::BotIdentity)
    } else {
        None
    }
}

/// A question about the bot names it or asks "is it": "机器人" or "robot" alone is a product.
fn addresses_the_bot(s: &str) -> bool {
    ["你", "您", "是", "自动回复"].iter().any(|w| s.contains(w))
        || s.split(' ').any(|w| matches!(w, "you" | "this" | "it" | "am"))
}

/// Whether `s` (cleaned: lower-case alphanumerics and spaces) is a sequence of the lexicon's
/// words and spaces with at least one real word among them.
fn made_of(s: &str, lexicon: &Lexicon) -> bool {
    // reach[i]: Some(real) when s[..i] is a sequence of words and spaces, real when one is real.
    let mut reach = vec![None::<bool>; s.len() + 1];
    reach[0] = Some(false);
    for i in 0..s.len() {
        let Some(real) = reach[i] else { continue };
        let rest = &s[i..];
        if rest.starts_with(' ') {
            merge(&mut reach[i + 1], real);
            continue;
        }
        let words = lexicon.real.iter().map(|w| (w, true)).chain(lexicon.fillers.iter().map(|w| (w, false)));
        for (w, counts) in words {
            if !rest.starts_with(w) || !whole_word(s, i, w) {
                continue;
            }
            merge(&mut reach[i + w.len()], real || counts);
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
    use super::{small_talk, SmallTalk};

    fn is_acknowledgement(text: &str) -> bool {
        small_talk(text) == Some(SmallTalk::Acknowledgement)
    }

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

    #[test]
    fn calls_for_attention_and_questions_about_the_bot_are_small_talk_and_questions_are_not() {
        for (text, kind) in [
            ("客服在吗", SmallTalk::Greeting),
            ("在吗？", SmallTalk::Greeting),
            ("亲，在不在", SmallTalk::Greeting),
            ("你好，有人吗", SmallTalk::Greeting),
            ("请问有人在吗", SmallTalk::Greeting),
            ("Hello, is anyone there?", SmallTalk::Greeting),
            ("hi there", SmallTalk::Greeting),
            ("你是机器人吗", SmallTalk::BotIdentity),
            ("你是不是机器人啊", SmallTalk::BotIdentity),
            ("是自动回复吗", SmallTalk::BotIdentity),
            ("are you a bot?", SmallTalk::BotIdentity),
            ("Am I talking to a robot", SmallTalk::BotIdentity),
            ("你是谁", SmallTalk::BotIdentity),
            ("who are you?", SmallTalk::BotIdentity),
            ("你是真人吗？", SmallTalk::BotIdentity),
            ("你是机器人还是真人", SmallTalk::BotIdentity),
            ("are you a real person?", SmallTalk::BotIdentity),
            ("Are you human?", SmallTalk::BotIdentity),
            ("好的", SmallTalk::Acknowledgement),
        ] {
            assert_eq!(small_talk(text), Some(kind), "{text:?}");
        }
        for no in [
            "客服",
            "请问",
            "亲",
            "there",
            "在",
            "你好，退款多久到账",
            "客服在吗，我的快递到哪了",
            "机器人",
            "扫地机器人不充电",
            "robot",
            "robot vacuum won't charge",
            "真人",
            "我要找真人",
            "有真人吗",
            "human",
            "real person please",
            "I want a real person",
            "hi, where is my order",
            "谁",
            &"你好".repeat(40),
        ] {
            assert_eq!(small_talk(no), None, "{no:?}");
        }
    }
}
