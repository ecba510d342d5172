//! Numbers written as words — 三天, 两百, 十五, 百分之五, "three days" — found in a short text
//! that must state no quantity (the LLM's "did you mean" intro, [`crate::intro`]).
//!
//! The rule, biased to refuse: a refused intro only costs the plain one, an accepted number may
//! be a wrong fact.
//!
//! * Chinese: the numeral characters are 〇零一二两三四五六七八九十百千万亿半 and the financial
//!   forms 壹贰叁肆伍陆柒捌玖拾佰仟. A run of them followed by a unit of time, money, share or
//!   measure (天, 年, 个月, 小时, 元, 块, 折, 成, 倍, 号 …) always states a quantity (一年,
//!   十分钟, 千万元). Otherwise 一 and 半 alone are words, not numbers (一下, 一些, 一起, 一点,
//!   请选择一个, 统一, 一半); any other run states a quantity (三, 两百, 十五, 第二, 百分之五)
//!   unless it lies inside an ordinary word: the normaliser's idioms
//!   ([`lingxi_nlu::normalize::NUMERAL_IDIOMS`]: 万一, 万万, 一一, 三思, 二手, 三星 …, the words
//!   whose numerals it does not read as numbers) and [`MORE_WORDS`] (千万, 十分, 万分, 百忙,
//!   二维码, 零钱 …). A word missing from both is refused: add it when it shows up.
//! * English: a cardinal word (zero, two … twenty, thirty … ninety, hundred, thousand, million,
//!   billion, dozen, twice, percent) states a quantity; "one" and "half" only before a unit
//!   ("one day", "half a year"), since "which one" and "one of these" are how an intro asks.

/// Chinese numeral characters (half included: 半年 is a quantity).
const ZH_NUMERALS: &str = "〇零一二两三四五六七八九十百千万亿半壹贰叁肆伍陆柒捌玖拾佰仟";

/// Numerals that alone are ordinary words (一个, 一下, 一半) unless a unit follows.
const ZH_WORDLIKE: &str = "一半";

/// Units after which a numeral states a quantity (longest first where one begins another).
const ZH_UNITS: &[&str] = &[
    "个工作日",
    "个小时",
    "个星期",
    "个礼拜",
    "个月",
    "工作日",
    "小时",
    "分钟",
    "星期",
    "礼拜",
    "公斤",
    "公里",
    "天",
    "日",
    "周",
    "月",
    "年",
    "秒",
    "元",
    "块",
    "角",
    "毛",
    "折",
    "成",
    "倍",
    "岁",
    "斤",
    "克",
    "米",
    "价",
    "号",
];

/// Ordinary words holding a numeral that states no quantity, besides the normaliser's idioms
/// (those the normaliser would read as numbers, such as 千万, or that it never meets, such as
/// 十分 before a verb). Only numerals other than 一 and 半 need listing (those two are words
/// unless a unit follows).
pub const MORE_WORDS: &[&str] = &[
    "千万",
    "十分",
    "万分",
    "百忙",
    "再三",
    "二维码",
    "零钱",
    "零食",
    "零件",
    "零售",
    "五金",
    "百货",
    "四处",
    "万能",
    "两者",
];

/// English cardinal words that state a quantity wherever they stand.
const EN_CARDINALS: &[&str] = &[
    "zero",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "dozen",
    "twice",
    "percent",
];

/// English words that state a quantity only before a unit.
const EN_WORDLIKE: &[&str] = &["one", "half"];

/// Units after "one" or "half" (an "a"/"an" between them is skipped: "half a day").
const EN_UNITS: &[&str] = &[
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours", "minute", "minutes",
    "business", "working", "dollar", "dollars", "yuan", "rmb", "cent", "cents", "price", "percent",
];

/// The first number written as words in `text` (the run of numerals, or the English word), if any.
pub fn spelled_number(text: &str) -> Option<String> {
    chinese_number(text).or_else(|| english_number(text))
}

fn is_numeral(c: char) -> bool {
    ZH_NUMERALS.contains(c)
}

fn chinese_number(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    // Which characters ordinary words cover.
    let mut in_word = vec![false; chars.len()];
    for w in lingxi_nlu::normalize::NUMERAL_IDIOMS.iter().chain(MORE_WORDS) {
        let w: Vec<char> = w.chars().collect();
        for start in 0..chars.len().saturating_sub(w.len() - 1) {
            if chars[start..start + w.len()] == w[..] {
                in_word[start..start + w.len()].iter_mut().for_each(|c| *c = true);
            }
        }
    }
    let mut i = 0;
    while i < chars.len() {
        if !is_numeral(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_numeral(chars[i]) {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        let rest: String = chars[i..].iter().take(4).collect();
        let before_unit = ZH_UNITS.iter().any(|u| rest.starts_with(u));
        let wordlike = run.chars().count() == 1 && ZH_WORDLIKE.contains(run.as_str());
        let covered = in_word[start..i].iter().all(|c| *c);
        if before_unit || !(wordlike || covered) {
            return Some(run);
        }
    }
    None
}

fn english_number(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        if EN_CARDINALS.contains(w) {
            return Some((*w).to_owned());
        }
        if EN_WORDLIKE.contains(w) {
            let next = words[i + 1..].iter().find(|n| !matches!(**n, "a" | "an"));
            if next.is_some_and(|n| EN_UNITS.contains(n)) {
                return Some((*w).to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::spelled_number;

    #[test]
    fn chinese_quantities_are_found() {
        for (text, number) in [
            ("电子发票三天内开出", "三"),
            ("满两百元包邮", "两百"),
            ("十五号之前处理", "十五"),
            ("手续费百分之五", "百"),
            ("七天无理由退货，您想问哪个？", "七"),
            ("保修一年，您想问哪个？", "一"),
            ("十分钟内回复", "十"),
            ("全场八折", "八"),
            ("第二步怎么操作？", "二"),
            ("半年内免费更换", "半"),
            ("损失千万元", "千万"),
            ("叁佰元", "叁佰"),
        ] {
            assert_eq!(spelled_number(text).as_deref(), Some(number), "{text}");
        }
    }

    #[test]
    fn ordinary_words_with_numeral_characters_pass() {
        for text in [
            "请稍等一下，您想问的是哪一个？",
            "以下哪一些问题和您的情况一样？",
            "我们一起看看，请选择一个",
            "请说得具体一点，您想问哪个？",
            "万一没找到，也可以直接描述",
            "千万别着急，您想问哪个？",
            "十分抱歉，您是想问下面哪一个？",
            "万分感谢，请从下面选择",
            "百忙之中打扰了，您想问哪个？",
            "关于二维码，您想问哪个？",
            "关于三星手机，您想问哪个？",
            "二手商品的问题，请选择一个",
            "统一回复：请选择您的问题",
            "进一步了解前，请先选一个",
        ] {
            assert_eq!(spelled_number(text), None, "{text}");
        }
    }

    #[test]
    fn english_number_words_are_found_but_one_as_a_pronoun_passes() {
        for (text, number) in [
            ("Refunds take three days", "three"),
            ("Two hundred points back", "two"),
            ("Fifteen minutes, which one?", "fifteen"),
            ("Five percent off", "five"),
            ("Delivered in one day", "one"),
            ("Half a year of cover", "half"),
            ("Twenty-one days to return", "twenty"),
        ] {
            assert_eq!(spelled_number(text).as_deref(), Some(number), "{text}");
        }
        for text in ["Which one did you mean?", "Is it one of these?", "Someone will help: pick the closest question"] {
            assert_eq!(spelled_number(text), None, "{text}");
        }
    }
}
