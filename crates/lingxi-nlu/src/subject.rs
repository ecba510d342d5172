//! Whose order a message is about. "我的快递到哪了" asks about the customer's own parcel,
//! "你们发什么快递" or "do you ship internationally?" about the shop's practice: the intent
//! models read both as logistics, and only the first wants an order looked up. Word lists,
//! because the difference is a handful of words (我 / my, 查 / track, 还没 / still) that a
//! topic classifier is trained to ignore.

/// Whom a message's question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The customer's own order or parcel: "我买的东西什么时候到", "where is my order".
    Own,
    /// The shop's practice, addressed as such: "你们发什么快递", "do you ship to Canada?".
    Shop,
    /// Neither said: "几天能发货", "能不能发顺丰".
    Unsaid,
}

/// Chinese words that put the customer's own order in the message (substrings).
const OWN_ZH: &[&str] = &[
    "我",
    "俺",
    "咱",
    "本人",
    "查",
    "到哪",
    "到了没",
    "到没到",
    "没到",
    "还没",
    "没收到",
    "没发",
    "怎么还",
    "催",
    "状态",
    "进度",
    "单号",
    "签收",
    "显示",
    "物流信息",
    "不更新",
    "卡住",
    "丢了",
    "这单",
    "那单",
    "这个订单",
    "下的单",
    "拍的",
];

/// English words that do (whole words).
const OWN_EN: &[&str] = &[
    "my", "mine", "me", "i", "im", "ive", "id", "wheres", "track", "tracking", "status", "still", "yet", "hasnt",
    "havent", "check",
];

/// English phrases that do.
const OWN_EN_PHRASES: &[&str] = &["where is", "order number", "not arrived", "not received"];

/// Words that address the shop.
const SHOP_ZH: &[&str] = &["你们", "您们", "贵店", "贵司", "店里", "商家", "一般", "通常", "默认"];
const SHOP_EN: &[&str] = &["you", "your", "usually", "normally", "typically"];

/// Words that make a message a question.
const QUESTION_ZH: &[&str] = &[
    "吗",
    "么",
    "什么",
    "哪",
    "几",
    "多久",
    "多长",
    "多少",
    "能不能",
    "可不可以",
    "可以",
    "能否",
    "是否",
    "会不会",
    "有没有",
    "支持",
    "怎么",
    "如何",
    "呢",
    "?",
];
const QUESTION_EN: &[&str] =
    &["what", "which", "how", "when", "do", "does", "can", "could", "is", "are", "will", "would", "who"];

/// Whom `text` (normalised: lower-case, simplified) asks about.
pub fn subject_of(text: &str) -> Subject {
    let words = english_words(text);
    let has_word = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let joined = format!(" {} ", words.join(" "));
    if OWN_ZH.iter().any(|w| text.contains(w))
        || has_word(OWN_EN)
        || OWN_EN_PHRASES.iter().any(|p| joined.contains(&format!(" {p} ")))
    {
        Subject::Own
    } else if SHOP_ZH.iter().any(|w| text.contains(w)) || has_word(SHOP_EN) {
        Subject::Shop
    } else {
        Subject::Unsaid
    }
}

/// Whether `text` (normalised) asks something rather than states it: "能不能发顺丰",
/// "do you ship internationally", but not "少发了一个配件".
pub fn is_question(text: &str) -> bool {
    let words = english_words(text);
    QUESTION_ZH.iter().any(|w| text.contains(w)) || words.iter().any(|w| QUESTION_EN.contains(&w.as_str()))
}

/// Words saying a parcel was delivered, and words saying the customer does not have it.
const DELIVERED_ZH: &[&str] = &["签收", "送达", "妥投", "已投递", "放快递柜", "放驿站"];
const MISSING_ZH: &[&str] =
    &["没收到", "没有收到", "未收到", "没拿到", "没有拿到", "没见到", "没看到", "找不到", "丢了", "不见了"];
const DELIVERED_EN: &[&str] = &["delivered", "signed for", "dropped off"];
const MISSING_EN: &[&str] = &[
    "never got",
    "never received",
    "never arrived",
    "not received",
    "didnt get",
    "didnt receive",
    "did not get",
    "did not receive",
    "havent received",
    "havent got",
    "not here",
    "missing",
    "cant find",
    "can not find",
    "cannot find",
    "nowhere",
    "stolen",
];

/// Whether the message reports a parcel shown as delivered that the customer does not have
/// ("显示已签收但我没收到", "it says delivered but I never got it"): a problem with a delivery,
/// which its tracking status (delivered) does not answer.
pub fn reports_missing_delivery(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words = format!(" {} ", english_words(text).join(" "));
    let has_en = |ws: &[&str]| ws.iter().any(|w| words.contains(&format!(" {w} ")));
    let zh = DELIVERED_ZH.iter().any(|w| lower.contains(w)) && MISSING_ZH.iter().any(|w| lower.contains(w));
    zh || has_en(DELIVERED_EN) && has_en(MISSING_EN)
}

/// Words of a device that is broken or misbehaving, or of its repair.
#[rustfmt::skip]
const FAULT_ZH: &[&str] = &[
    "坏了", "坏掉", "摔坏", "故障", "不能用", "用不了", "没反应", "不工作", "失灵", "死机", "黑屏",
    "维修", "修理", "怎么修", "报修", "修好", "充不进电", "不充电", "连不上", "没声音", "异响", "漏水",
];
#[rustfmt::skip]
const FAULT_EN: &[&str] = &[
    "broken", "broke", "faulty", "defective", "not working", "doesnt work", "does not work",
    "stopped working", "wont turn on", "wont charge", "repair", "fix", "cracked", "damaged",
];

/// Whether the message reports a faulty device or asks for a repair ("摄像头坏了怎么修", "my
/// earbuds are broken"): whatever the answer, the customer has a problem, which an accessory
/// pitch right after would ignore.
pub fn reports_fault(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words = format!(" {} ", english_words(text).join(" "));
    FAULT_ZH.iter().any(|w| lower.contains(w)) || FAULT_EN.iter().any(|w| words.contains(&format!(" {w} ")))
}

/// The message's runs of ASCII letters, lower-case, apostrophes dropped ("I'm" → "im").
fn english_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphabetic() || c == '\'' || c == '’'))
        .map(|w| w.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{is_question, reports_fault, reports_missing_delivery, subject_of, Subject};

    #[test]
    fn a_faulty_device_or_a_repair_is_a_problem_report() {
        for yes in [
            "摄像头坏了怎么修",
            "耳机怎么申请维修",
            "扫地机充不进电",
            "my earbuds are broken",
            "The camera doesn't work",
            "can you fix it?",
        ] {
            assert!(reports_fault(yes), "{yes}");
        }
        for no in
            ["电子产品保修多久？", "可以修改收货地址吗？", "怎么开发票", "How long is the warranty?", "fixed price?"]
        {
            assert!(!reports_fault(no), "{no}");
        }
    }

    #[test]
    fn a_delivered_parcel_the_customer_does_not_have_is_a_problem_report() {
        for yes in [
            "显示已签收但我没收到",
            "物流显示已送达，可是我没拿到",
            "快递签收了但是找不到",
            "My package says delivered but I never got it",
            "it was marked delivered but it's not here",
            "Tracking says delivered, I didn't receive anything",
        ] {
            assert!(reports_missing_delivery(yes), "{yes:?}");
        }
        for no in [
            "我的快递到哪了",
            "快递还没到",
            "已签收",
            "签收后多久可以退货",
            "when will it be delivered",
            "is it missing a part",
            "",
        ] {
            assert!(!reports_missing_delivery(no), "{no:?}");
        }
    }

    #[test]
    fn own_orders_shop_practice_and_neither_are_told_apart() {
        for (text, subject) in [
            ("我的快递到哪了", Subject::Own),
            ("我买的东西什么时候到", Subject::Own),
            ("快递怎么还没到", Subject::Own),
            ("查一下物流", Subject::Own),
            ("订单一直显示待发货", Subject::Own),
            ("where is my parcel", Subject::Own),
            ("Where's the order I placed", Subject::Own),
            ("I'm waiting for a delivery", Subject::Own),
            ("can you check the delivery status", Subject::Own),
            ("你们发什么快递", Subject::Shop),
            ("一般几天能到", Subject::Shop),
            ("do you ship internationally", Subject::Shop),
            ("which courier does your shop use?", Subject::Shop),
            ("几天能发货", Subject::Unsaid),
            ("能不能发顺丰", Subject::Unsaid),
            ("which courier is used", Subject::Unsaid),
        ] {
            assert_eq!(subject_of(text), subject, "{text:?}");
        }
    }

    #[test]
    fn questions_are_told_from_statements() {
        for yes in ["能不能发顺丰", "几天能发货", "你们发什么快递", "do you ship internationally", "ship to canada?"]
        {
            assert!(is_question(yes), "{yes:?}");
        }
        for no in ["少发了一个配件", "物流", "快递", "parcel", "shipping to canada", ""] {
            assert!(!is_question(no), "{no:?}");
        }
    }
}
