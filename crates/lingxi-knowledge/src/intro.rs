//! The "did you mean" intro phrased by an optional language model, the pure half. The model
//! sees the customer's message and the candidate questions (masked), never an answer, and
//! writes one short sentence that invites the customer to pick; the questions stay the buttons,
//! word for word. Its reply is used only when it is one short line with no digit, amount,
//! number in words, placeholder or link: anything that could state a fact or stand in for the
//! buttons. Numbers in words are Chinese numerals that state a quantity (三天, 两百, 十五,
//! 百分之五, 一年) and English number words ("three days"), while ordinary words holding such
//! characters pass (一下, 一些, 一起, 一点, 请选择一个, 万一, 千万, 十分, "which one"): the
//! rule is [`crate::numerals`]'s.

use crate::grounding::{without_thinking, ChatMessage, Masker, Role, PLACEHOLDERS};
use crate::model::Lang;
use crate::numerals::spelled_number;

/// The longest intro used (characters): it sits above the buttons, it is not an answer.
pub const MAX_INTRO_CHARS: usize = 60;

/// A request ready to send, and what checking its reply needs.
#[derive(Debug, Clone)]
pub struct IntroPrompt {
    pub messages: Vec<ChatMessage>,
    max_chars: usize,
}

/// Builds the chat messages: the rules and the numbered candidate questions (system), the
/// customer's message (user); everything masked first.
pub fn build(question: &str, candidates: &[String], lang: Lang, masker: &Masker<'_>) -> IntroPrompt {
    let mut listing = String::new();
    for (i, c) in candidates.iter().enumerate() {
        listing.push_str(&format!("{}. {}\n", i + 1, masker.mask(c)));
    }
    let max = MAX_INTRO_CHARS;
    let rules = match lang {
        Lang::Zh => format!(
            "你是在线客服助手。客户的问题不够明确，知识库里最接近的是下面几个问题，它们会以按钮的形式显示在你这句话的下方。\
             请写一句简短友好的引导语（不超过 {max} 个字，只写一行），请客户从这些问题中选择。\
             不要回答任何问题，不要写任何数字、时间、价格、金额、链接或政策，不要列出或改写这些问题。\
             方括号中的大写占位符（如 [PHONE]）是已隐藏的个人信息，不要重复。\n\n候选问题：\n{listing}"
        ),
        Lang::En => format!(
            "You are a customer-service assistant. The customer's message is not clear enough; the closest \
             questions in the knowledge base are listed below and will be shown as buttons under your sentence. \
             Write one short, friendly line (at most {max} characters) inviting the customer to pick one. Do not \
             answer anything, do not write any number, time, price, amount, link or policy, and do not list or \
             reword the questions. Upper-case placeholders in brackets (such as [PHONE]) stand for hidden \
             personal data: never repeat them.\n\nCandidate questions:\n{listing}"
        ),
    };
    let messages = vec![
        ChatMessage { role: Role::System, content: rules.trim_end().to_owned() },
        ChatMessage { role: Role::User, content: masker.mask(question) },
    ];
    IntroPrompt { messages, max_chars: max }
}

/// Why a reply is not used (the caller then sends the plain intro).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntroRejection {
    #[error("the intro is empty")]
    Empty,
    #[error("the intro is {chars} characters long")]
    TooLong { chars: usize },
    #[error("the intro has more than one line")]
    MultiLine,
    #[error("the intro contains {0:?}, which could state a number, amount or step")]
    Figure(char),
    #[error("the intro states a number in words ({0:?})")]
    NumberInWords(String),
    #[error("the intro repeats the placeholder {0}")]
    Placeholder(&'static str),
    #[error("the intro contains a link")]
    Link,
}

impl IntroPrompt {
    /// The intro to show, or why not. Surrounding quotes are dropped (models like to quote).
    pub fn check(&self, reply: &str) -> Result<String, IntroRejection> {
        let text = without_thinking(reply).trim();
        let text = text.trim_matches(|c| matches!(c, '"' | '“' | '”' | '「' | '」')).trim();
        if text.is_empty() {
            return Err(IntroRejection::Empty);
        }
        if text.contains('\n') {
            return Err(IntroRejection::MultiLine);
        }
        let chars = text.chars().count();
        if chars > self.max_chars {
            return Err(IntroRejection::TooLong { chars });
        }
        if let Some(p) = PLACEHOLDERS.iter().find(|p| text.contains(*p)) {
            return Err(IntroRejection::Placeholder(p));
        }
        // No facts: no digit (ASCII or full-width), no currency or percent sign.
        if let Some(c) =
            text.chars().find(|c| c.is_ascii_digit() || matches!(c, '０'..='９' | '¥' | '￥' | '$' | '%' | '％'))
        {
            return Err(IntroRejection::Figure(c));
        }
        if let Some(n) = spelled_number(text) {
            return Err(IntroRejection::NumberInWords(n));
        }
        let lower = text.to_ascii_lowercase();
        if lower.contains("http") || lower.contains("www.") {
            return Err(IntroRejection::Link);
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_nlu::entities::{EntityConfig, EntityExtractor};

    fn prompt(lang: Lang) -> IntroPrompt {
        let ex = EntityExtractor::new(&EntityConfig::default()).unwrap();
        let masker = Masker::new(&ex, &["李雷".to_owned()]);
        let qs = vec!["怎么申请电子发票".to_owned(), "发票抬头怎么修改".to_owned()];
        build("我是李雷，手机 13800138000，发票怎么弄", &qs, lang, &masker)
    }

    #[test]
    fn the_model_sees_masked_questions_and_no_answer() {
        let p = prompt(Lang::Zh);
        let all: String = p.messages.iter().map(|m| m.content.as_str()).collect();
        assert!(all.contains("1. 怎么申请电子发票\n2. 发票抬头怎么修改"), "{all}");
        assert!(!all.contains("13800138000") && !all.contains("李雷"), "{all}");
        assert!(all.contains("[PHONE]") && all.contains("[NAME]"), "{all}");
        assert_eq!(p.messages[1].role, Role::User);
        assert!(prompt(Lang::En).messages[0].content.contains("Candidate questions:\n1. 怎么申请电子发票"));
    }

    #[test]
    fn only_one_short_line_without_figures_links_or_placeholders_is_used() {
        let p = prompt(Lang::Zh);
        assert_eq!(p.check("“关于发票，您想问的是下面哪一个？”").unwrap(), "关于发票，您想问的是下面哪一个？");
        assert_eq!(p.check("<think>要简短</think>\n发票的事，您想问哪个？").unwrap(), "发票的事，您想问哪个？");
        assert_eq!(p.check("  "), Err(IntroRejection::Empty));
        assert_eq!(p.check("<think>没想完"), Err(IntroRejection::Empty));
        assert_eq!(p.check("您想问：\n1. 怎么申请电子发票"), Err(IntroRejection::MultiLine));
        assert_eq!(p.check("电子发票 3 天内开出，您想问哪个？"), Err(IntroRejection::Figure('3')));
        assert_eq!(p.check("电子发票７天内开出"), Err(IntroRejection::Figure('７')));
        assert_eq!(p.check("开票费用￥零，您想问哪个？"), Err(IntroRejection::Figure('￥')));
        assert_eq!(p.check("[NAME]您好，您想问哪个？"), Err(IntroRejection::Placeholder("[NAME]")));
        assert_eq!(p.check("请看 www.example.com"), Err(IntroRejection::Link));
        let words = |n: &str| Err(IntroRejection::NumberInWords(n.into()));
        assert_eq!(p.check("电子发票三天内开出，您想问哪个？"), words("三"));
        assert_eq!(p.check("满两百元包邮，您想问哪个？"), words("两百"));
        assert_eq!(p.check("十五号前开票，您想问哪个？"), words("十五"));
        assert_eq!(p.check("手续费是百分之五，您想问哪个？"), words("百"));
        assert_eq!(p.check("发票一年内可补开，您想问哪个？"), words("一"));
        assert_eq!(p.check("Invoices are issued within three days"), words("three"));
        assert_eq!(p.check("Five percent off: which one did you mean?"), words("five"));
        for fine in [
            "请稍等一下，您想问的是下面哪一个？",
            "关于发票，请选择一个",
            "我们一起看看：是下面一些问题中的哪个？",
            "万一不是，也可以直接描述，您想问哪个？",
            "十分抱歉，您想问的是哪一个？",
            "Which one of these did you mean?",
        ] {
            assert_eq!(p.check(fine).as_deref(), Ok(fine), "{fine}");
        }
        let long = "您好".repeat(31);
        assert_eq!(p.check(&long), Err(IntroRejection::TooLong { chars: 62 }));
    }
}
