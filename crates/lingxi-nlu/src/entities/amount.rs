//! Money amounts with their currency (`¥199`, `199元`, `200块`, `1块5`, `$20`, `20 dollars`, `3.5万`).
//!
//! Amounts are exact: minor units (cents, fen) in an `i64`, never floats. A bare `3.5万` is read as
//! yuan, since that is what it means in a customer-service message.

use std::ops::Range;
use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Currency of an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    /// Chinese yuan (元, 块, ¥, RMB).
    Cny,
    /// US dollar.
    Usd,
    /// Euro.
    Eur,
    /// Pound sterling.
    Gbp,
    /// Hong Kong dollar.
    Hkd,
    /// Japanese yen.
    Jpy,
}

/// An amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Amount in hundredths of the currency unit (fen, cents).
    pub minor_units: i64,
    /// Currency.
    pub currency: Currency,
}

fn currency_of(word: &str) -> Option<Currency> {
    Some(match word {
        "¥" | "rmb" | "cny" | "元" | "块" | "块钱" | "人民币" | "元钱" => Currency::Cny,
        "$" | "us$" | "usd" | "美元" | "美金" | "dollar" | "dollars" | "bucks" => Currency::Usd,
        "€" | "eur" | "欧元" | "euro" | "euros" => Currency::Eur,
        "£" | "gbp" | "英镑" | "pound" | "pounds" => Currency::Gbp,
        "hk$" | "hkd" | "港币" | "港元" => Currency::Hkd,
        "日元" | "jpy" | "yen" | "円" => Currency::Jpy,
        _ => return None,
    })
}

fn patterns() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(
            r"(?ix)
            (?P<pre>(?P<psym>us\$|hk\$|¥|\$|€|£|rmb|cny|usd|eur|gbp|hkd)\s*(?P<pint>\d{1,3}(?:,\d{3})+|\d+)(?P<pfrac>\.\d+)?(?:\s*(?P<pscale>万|千|(?:k|w)(?-u:\b)))?)
            |(?P<suf>(?P<sint>\d{1,3}(?:,\d{3})+|\d+)(?P<sfrac>\.\d+)?\s*(?P<sscale>万|千|k|w)?\s*(?P<ssym>块钱|元钱|块|元|rmb|cny|人民币|美元|美金|dollars|dollar|bucks|usd|欧元|euros|euro|eur|英镑|pounds|gbp|港币|港元|hkd|日元|円|jpy|yen)(?P<jiao>[1-9](?:毛|角)?)?)
            |(?P<bare>(?P<bint>\d+)(?P<bfrac>\.\d+)?万)
            ",
        )
        .expect("amount pattern compiles")
    })
}

/// Minor units of `int.frac × scale`, exactly.
fn minor_units(int: &str, frac: Option<&str>, scale: i64) -> Option<i64> {
    let int: i64 = int.replace(',', "").parse().ok()?;
    let frac_digits = frac.map(|f| f.trim_start_matches('.')).unwrap_or("");
    // Keep enough fraction digits for the scale (3.5万 needs one, ¥1.99 two).
    let mut value = int.checked_mul(100)?.checked_mul(scale)?;
    let mut unit = 100 * scale;
    for d in frac_digits.bytes().take(8) {
        unit /= 10;
        if unit == 0 {
            break;
        }
        value = value.checked_add(i64::from(d - b'0') * unit)?;
    }
    Some(value)
}

fn scale_of(word: Option<&str>) -> i64 {
    match word.map(str::to_ascii_lowercase).as_deref() {
        Some("万" | "w") => 10_000,
        Some("千" | "k") => 1_000,
        _ => 1,
    }
}

fn amount(caps: &Captures<'_>) -> Option<Money> {
    let get = |name: &str| caps.name(name).map(|m| m.as_str());
    if caps.name("pre").is_some() {
        let currency = currency_of(&get("psym")?.to_ascii_lowercase())?;
        let minor = minor_units(get("pint")?, get("pfrac"), scale_of(get("pscale")))?;
        return Some(Money { minor_units: minor, currency });
    }
    if caps.name("suf").is_some() {
        let symbol = get("ssym")?.to_ascii_lowercase();
        let currency = currency_of(&symbol)?;
        let mut minor = minor_units(get("sint")?, get("sfrac"), scale_of(get("sscale")))?;
        if let Some(jiao) = get("jiao") {
            // 1块5 is 1.50 yuan.
            if currency == Currency::Cny && symbol.starts_with('块') && get("sfrac").is_none() {
                let d = jiao.bytes().next().map_or(0, |b| i64::from(b - b'0'));
                minor = minor.checked_add(d * 10)?;
            }
        }
        return Some(Money { minor_units: minor, currency });
    }
    let minor = minor_units(get("bint")?, get("bfrac"), 10_000)?;
    Some(Money { minor_units: minor, currency: Currency::Cny })
}

/// All amounts in `text`.
pub(crate) fn extract(text: &str) -> Vec<(Range<usize>, Money)> {
    patterns()
        .captures_iter(text)
        .filter_map(|caps| {
            let whole = caps.get(0)?;
            let before = text[..whole.start()].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
                return None;
            }
            // "1块5" keeps its jiao digit only when it is not glued to more digits.
            Some((whole.range(), amount(&caps)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_minor_units() {
        assert_eq!(minor_units("3", Some(".5"), 10_000), Some(3_500_000));
        assert_eq!(minor_units("1", Some(".99"), 1), Some(199));
        assert_eq!(minor_units("1,299", None, 1), Some(129_900));
        assert_eq!(minor_units("99999999999999999999", None, 1), None);
    }
}
