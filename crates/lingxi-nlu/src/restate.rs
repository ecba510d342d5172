//! What a short follow-up asks of the answer just given: "要多久" after the VAT-invoice answer
//! asks how long, "how much is it?" after the shipping answer asks the cost. When that answer
//! already says it ("审核通过后 5 个工作日内寄出"), the bot says that part again rather than
//! guessing another entry from two words. Pure text work over the answer's plain text.

/// What a question asks for, when it is one of the kinds an answer's clause can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// How long, when: "要多久", "几天到账", "how long does it take?".
    Time,
    /// How much, who pays: "多少钱", "要收费吗", "运费谁出", "is it free?".
    Cost,
    /// Where to find it: "在哪里申请", "where do I do that?".
    Place,
}

const TIME_ZH: &[&str] = &["多久", "多长时间", "几天", "几个工作日", "多少天", "什么时候", "何时", "多快", "几号"];
const TIME_EN: &[&str] = &["how long", "when", "how soon", "how many days", "how quickly"];
const COST_ZH: &[&str] = &["多少钱", "收费", "要钱", "花钱", "费用", "免费", "贵", "谁出", "谁承担", "谁付", "运费"];
const COST_EN: &[&str] = &["how much", "cost", "costs", "fee", "fees", "charge", "charged", "free", "price", "pay"];
const PLACE_ZH: &[&str] = &["在哪", "哪里", "哪儿", "什么地方", "入口"];
const PLACE_EN: &[&str] = &["where"];

/// The kind of thing `text` (normalised: lower-case, simplified) asks for, if one of [`Asked`].
/// Time is read first: "多久能退运费" asks when. English phrases match whole words.
pub fn asks_for(text: &str) -> Option<Asked> {
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let words = format!(" {} ", words.join(" ").to_ascii_lowercase());
    let has = |zh: &[&str], en: &[&str]| {
        zh.iter().any(|w| text.contains(w)) || en.iter().any(|w| words.contains(&format!(" {w} ")))
    };
    [(Asked::Time, TIME_ZH, TIME_EN), (Asked::Cost, COST_ZH, COST_EN), (Asked::Place, PLACE_ZH, PLACE_EN)]
        .into_iter()
        .find(|(_, zh, en)| has(zh, en))
        .map(|(kind, _, _)| kind)
}

/// Units a number of which is a duration ("5 个工作日", "24 小时").
const TIME_UNITS_ZH: &[&str] = &["工作日", "小时", "分钟", "天", "周", "星期", "月", "年", "日"];
/// Durations without a number ("当天发货", "立即到账").
const TIME_WORDS_ZH: &[&str] = &["当天", "当日", "次日", "隔天", "即时", "立即", "实时", "马上"];
const TIME_UNITS_EN: &[&str] = &["day", "hour", "minute", "week", "month", "year"];
const TIME_WORDS_EN: &[&str] = &["same day", "next day", "immediately", "instantly", "right away"];
const COST_WORDS_ZH: &[&str] =
    &["元", "¥", "￥", "块", "免费", "收费", "费用", "运费", "承担", "包邮", "支付", "价", "付费"];
const COST_WORDS_EN: &[&str] = &["$", "¥", "free", "fee", "charge", "cost", "pay", "paid", "price", "quote"];
// Not quotation marks: answers quote buttons ("长按“滤芯”键") as often as places.
const PLACE_WORDS_ZH: &[&str] = &["→", "页面", "入口", "点击", "中心", "app", "小程序", "商城", "官网", "门店"];
const PLACE_WORDS_EN: &[&str] = &["→", " under ", " page", " tab", " menu", "click", "tap ", "go to", " app"];

/// Whether a number (digits or Chinese numerals) stands right before one of `units`, with at
/// most a space, "个" or a business-day qualifier between.
fn number_before_unit(clause: &str, units: &[&str]) -> bool {
    let chars: Vec<char> = clause.chars().collect();
    let numeral = |c: char| c.is_ascii_digit() || "一二两三四五六七八九十百半".contains(c);
    (0..chars.len()).any(|i| {
        if !numeral(chars[i]) {
            return false;
        }
        let rest: String = chars[i + 1..].iter().collect();
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '–' || c == '-' || c == '~');
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('个').unwrap_or(rest);
        let rest = rest.strip_prefix("business ").or_else(|| rest.strip_prefix("working ")).unwrap_or(rest);
        units.iter().any(|u| rest.starts_with(u))
    })
}

/// Whether `clause` (lower-case) says what `asked` asks for.
fn says(clause: &str, asked: Asked) -> bool {
    let any = |ws: &[&str]| ws.iter().any(|w| clause.contains(w));
    match asked {
        Asked::Time => {
            number_before_unit(clause, TIME_UNITS_ZH)
                || number_before_unit(clause, TIME_UNITS_EN)
                || any(TIME_WORDS_ZH)
                || any(TIME_WORDS_EN)
        }
        Asked::Cost => any(COST_WORDS_ZH) || any(COST_WORDS_EN),
        Asked::Place => any(PLACE_WORDS_ZH) || any(PLACE_WORDS_EN),
    }
}

/// The clauses of `answer` that say what `asked` asks for, in their order, as one sentence:
/// Chinese answers are cut at commas and stops ("审核通过后 5 个工作日内寄出。"), English ones at
/// sentence ends (a comma there often splits a number from what it counts). `None` when no
/// clause says it, or when every clause does (saying the whole answer again adds nothing).
pub fn clauses_answering(answer: &str, asked: Asked) -> Option<String> {
    let chinese = answer.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let clauses: Vec<&str> = if chinese {
        answer.split(['，', '；', '。', '！', '？', ';', '\n']).map(str::trim).filter(|c| !c.is_empty()).collect()
    } else {
        split_sentences(answer)
    };
    let found: Vec<&str> =
        clauses.iter().copied().filter(|c| says(&format!(" {} ", c.to_lowercase()), asked)).collect();
    if found.is_empty() || found.len() == clauses.len() {
        return None;
    }
    Some(if chinese {
        format!("{}。", found.join("，"))
    } else {
        found.iter().map(|s| s.trim_end_matches(['.', ';'])).collect::<Vec<_>>().join(". ") + "."
    })
}

/// English sentences: cut after ". ", "; ", "! ", "? " and at line ends.
fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end_mark = matches!(b, b'.' | b';' | b'!' | b'?') && bytes.get(i + 1).is_none_or(|n| *n == b' ');
        if end_mark || b == b'\n' {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_asked_is_read_in_both_languages() {
        for (q, kind) in [
            ("要多久", Some(Asked::Time)),
            ("几天能到账", Some(Asked::Time)),
            ("how long does it take?", Some(Asked::Time)),
            ("when?", Some(Asked::Time)),
            ("多少钱", Some(Asked::Cost)),
            ("要收费吗", Some(Asked::Cost)),
            ("那运费谁出", Some(Asked::Cost)),
            ("is it free?", Some(Asked::Cost)),
            ("在哪里申请", Some(Asked::Place)),
            ("where do i do that", Some(Asked::Place)),
            ("有什么好处", None),
            ("what about the battery", None),
            ("whenever", None),
        ] {
            assert_eq!(asks_for(q), kind, "{q:?}");
        }
    }

    #[test]
    fn the_clause_that_says_it_is_kept() {
        let invoice =
            "可以开具增值税专用发票，请在申请时选择“专票”并上传营业执照和开户行信息，审核通过后 5 个工作日内寄出。";
        assert_eq!(clauses_answering(invoice, Asked::Time).as_deref(), Some("审核通过后 5 个工作日内寄出。"));
        let repair = "过保设备仍可寄修，检测免费，维修按配件价格加人工费报价，确认后再维修。";
        assert_eq!(clauses_answering(repair, Asked::Cost).as_deref(), Some("检测免费，维修按配件价格加人工费报价。"));
        let filter = "滤芯建议每 6–12 个月更换（视使用环境而定），可在官方商城购买原装滤芯；换好后长按“滤芯”键 3 秒即可清除提醒。";
        assert_eq!(clauses_answering(filter, Asked::Place).as_deref(), Some("可在官方商城购买原装滤芯。"));
        let en = "Click \"Request invoice\" in the order details and enter your billing name and tax ID. The PDF invoice is emailed within 24 hours of delivery.";
        assert_eq!(
            clauses_answering(en, Asked::Time).as_deref(),
            Some("The PDF invoice is emailed within 24 hours of delivery.")
        );
        assert_eq!(
            clauses_answering(en, Asked::Place).as_deref(),
            Some("Click \"Request invoice\" in the order details and enter your billing name and tax ID.")
        );
        let returns = "签收后 7 天内可无理由退货，质量问题运费由我们承担，其他情况运费由您承担。";
        assert_eq!(
            clauses_answering(returns, Asked::Cost).as_deref(),
            Some("质量问题运费由我们承担，其他情况运费由您承担。")
        );
        let warranty = "整机保修 1 年，电池保修 6 个月，金卡会员延长 6 个月；保修期从签收之日起计算。";
        assert_eq!(
            clauses_answering(warranty, Asked::Time).as_deref(),
            Some("整机保修 1 年，电池保修 6 个月，金卡会员延长 6 个月。")
        );
    }

    #[test]
    fn nothing_is_restated_when_no_clause_or_every_clause_says_it() {
        assert_eq!(clauses_answering("请在订单详情页点击“申请售后”，选择退货原因。", Asked::Time), None);
        assert_eq!(clauses_answering("退款 1–3 个工作日到账。", Asked::Time), None);
        assert_eq!(clauses_answering("", Asked::Cost), None);
        assert_eq!(clauses_answering("We ship in 2 days. Shipping is free.", Asked::Place), None);
    }
}
