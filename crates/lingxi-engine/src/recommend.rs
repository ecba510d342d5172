//! Recommendations: after the bot answered a question, at most one relevant suggestion chosen
//! by a tenant's rules over its product catalogue and the customer's purchases and membership
//! (an accessory they lack, an extended warranty before theirs ends, a membership renewal).
//!
//! Rules are data (`RuleSpec`, deserialised by the adapter, checked whole by
//! [`Rules::compile`]); the first rule in order that applies wins. Whether a suggestion may be
//! made at all (the tenant turned it off, the customer is unhappy, one was made already) is the
//! caller's to decide. Dates are days since the Unix epoch, passed in.

use lingxi_nlu::entities::Date;
use serde::Deserialize;

/// The demo tenant's rules, shipped with the binary.
pub const DEMO_RULES: &str = include_str!("../data/recommendations.json");

/// One product of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub category: String,
    /// As shown to customers (`¥49`).
    pub price: String,
    /// Skus of accessories made for it.
    pub accessories: Vec<String>,
    /// Manufacturer warranty from the day of purchase; 0 for none.
    pub warranty_months: u32,
}

/// Something the customer bought, on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub sku: String,
    pub day: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub level: String,
    /// The last day it is valid.
    pub expires_day: i64,
}

/// A rule as written (JSON): an id, a condition, and the suggestion in Chinese and English.
/// Texts may use `{owned}` (the product the customer has), `{offer}` and `{price}` (what is
/// suggested), `{days}` (days left) and `{level}` (membership level).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub when: Condition,
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Owns a product of `category` and none of its accessories of `accessory_category`: the
    /// first such accessory of the catalogue.
    MissingAccessory { category: String, accessory_category: String },
    /// A product's warranty ends within `days` (and has not ended): the `offer` product (an
    /// extended warranty), unless they bought it already.
    WarrantyEnding { days: u32, offer: String },
    /// The membership expires within `days` (and has not expired).
    MembershipExpiring { days: u32 },
}

/// A rule set that passed [`Rules::compile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<RuleSpec>,
}

const PLACEHOLDERS: &[&str] = &["owned", "offer", "price", "days", "level"];

impl Rules {
    /// Checks a rule set whole and reports every problem with the rule it is in.
    pub fn compile(specs: Vec<RuleSpec>) -> Result<Rules, Vec<String>> {
        let mut problems = Vec::new();
        for (i, r) in specs.iter().enumerate() {
            let at = format!("rules[{i}] ({})", r.id);
            if r.id.trim().is_empty() {
                problems.push(format!("rules[{i}]: empty id"));
            }
            if specs[..i].iter().any(|o| o.id == r.id) {
                problems.push(format!("{at}: the id is used twice"));
            }
            match &r.when {
                Condition::MissingAccessory { category, accessory_category } => {
                    if category.trim().is_empty() || accessory_category.trim().is_empty() {
                        problems.push(format!("{at}: category and accessory_category are required"));
                    }
                }
                Condition::WarrantyEnding { days, offer } => {
                    if !(1..=365).contains(days) {
                        problems.push(format!("{at}: days must be 1 to 365"));
                    }
                    if offer.trim().is_empty() {
                        problems.push(format!("{at}: offer (a sku) is required"));
                    }
                }
                Condition::MembershipExpiring { days } => {
                    if !(1..=365).contains(days) {
                        problems.push(format!("{at}: days must be 1 to 365"));
                    }
                }
            }
            for (lang, text) in [("zh", &r.zh), ("en", &r.en)] {
                if text.trim().is_empty() {
                    problems.push(format!("{at}: {lang} text is empty"));
                }
                for name in placeholders(text) {
                    if !PLACEHOLDERS.contains(&name) {
                        problems.push(format!("{at}: {lang} text uses unknown {{{name}}}"));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Rules { rules: specs })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// What the customer has, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Customer<'a> {
    pub purchases: &'a [Purchase],
    pub membership: Option<&'a Membership>,
}

/// The suggestion to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub rule_id: String,
    /// What is suggested (empty for a renewal).
    pub sku: String,
    pub text: String,
}

/// The first rule that applies to this customer today, as a suggestion in the language asked.
pub fn recommend(
    rules: &Rules,
    catalogue: &[Product],
    customer: Customer<'_>,
    today: i64,
    chinese: bool,
) -> Option<Offer> {
    let product = |sku: &str| catalogue.iter().find(|p| p.sku == sku);
    let owns = |sku: &str| customer.purchases.iter().any(|p| p.sku == sku);
    // Newest purchases first: the suggestion is about what they bought last.
    let mut bought: Vec<(&Purchase, &Product)> =
        customer.purchases.iter().filter_map(|p| product(&p.sku).map(|pr| (p, pr))).collect();
    bought.sort_by(|a, b| b.0.day.cmp(&a.0.day).then_with(|| a.0.sku.cmp(&b.0.sku)));
    for rule in &rules.rules {
        let fill = |owned: &str, offer: Option<&Product>, days: i64, level: &str| {
            let text = if chinese { &rule.zh } else { &rule.en };
            text.replace("{owned}", owned)
                .replace("{offer}", offer.map_or("", |p| p.name.as_str()))
                .replace("{price}", offer.map_or("", |p| p.price.as_str()))
                .replace("{days}", &days.to_string())
                .replace("{level}", level)
        };
        let found = match &rule.when {
            Condition::MissingAccessory { category, accessory_category } => {
                bought.iter().filter(|(_, pr)| &pr.category == category).find_map(|(_, pr)| {
                    let fitting: Vec<&Product> = pr
                        .accessories
                        .iter()
                        .filter_map(|s| product(s))
                        .filter(|a| &a.category == accessory_category)
                        .collect();
                    if fitting.iter().any(|a| owns(&a.sku)) {
                        return None;
                    }
                    fitting.first().map(|a| (a.sku.clone(), fill(&pr.name, Some(a), 0, "")))
                })
            }
            Condition::WarrantyEnding { days, offer } => product(offer).filter(|_| !owns(offer)).and_then(|o| {
                bought.iter().filter(|(_, pr)| pr.warranty_months > 0).find_map(|(p, pr)| {
                    let left = add_months(p.day, pr.warranty_months) - today;
                    (0..=i64::from(*days)).contains(&left).then(|| (o.sku.clone(), fill(&pr.name, Some(o), left, "")))
                })
            }),
            Condition::MembershipExpiring { days } => customer.membership.and_then(|m| {
                let left = m.expires_day - today;
                (0..=i64::from(*days)).contains(&left).then(|| (String::new(), fill("", None, left, &m.level)))
            }),
        };
        if let Some((sku, text)) = found {
            return Some(Offer { rule_id: rule.id.clone(), sku, text });
        }
    }
    None
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the leading ten characters; a time may follow).
pub fn day_of(date: &str) -> Option<i64> {
    let d = date.get(..10)?;
    let mut parts = d.split('-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::new(y, m, day).map(Date::days_since_epoch)
}

/// The same day `months` later (the month's last day when it is shorter): when a warranty bought
/// on 31 January for one month ends.
fn add_months(day: i64, months: u32) -> i64 {
    let d = Date::from_days_since_epoch(day);
    let total = i64::from(d.year) * 12 + i64::from(d.month - 1) + i64::from(months);
    let (year, month) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u8 + 1);
    Date { year, month, day: d.day.min(Date::month_len(year, month)) }.days_since_epoch()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, name: &str, category: &str, accessories: &[&str], warranty_months: u32) -> Product {
        Product {
            sku: sku.into(),
            name: name.into(),
            category: category.into(),
            price: "¥49".into(),
            accessories: accessories.iter().map(|s| s.to_string()).collect(),
            warranty_months,
        }
    }

    fn catalogue() -> Vec<Product> {
        vec![
            product("CAM-C2", "智能摄像头 C2", "camera", &["SD-64", "MOUNT-1"], 12),
            product("SD-64", "64GB 存储卡", "memory_card", &[], 0),
            product("MOUNT-1", "摄像头支架", "mount", &[], 0),
            product("VAC-S1", "扫地机器人 S1", "vacuum", &[], 12),
            product("EXT-1Y", "延保一年", "warranty", &[], 0),
        ]
    }

    fn rules() -> Rules {
        let specs: Vec<RuleSpec> = vec![
            RuleSpec {
                id: "camera-card".into(),
                when: Condition::MissingAccessory {
                    category: "camera".into(),
                    accessory_category: "memory_card".into(),
                },
                zh: "您的{owned}可以搭配{offer}（{price}）".into(),
                en: "Your {owned} pairs with {offer} ({price})".into(),
            },
            RuleSpec {
                id: "warranty".into(),
                when: Condition::WarrantyEnding { days: 30, offer: "EXT-1Y".into() },
                zh: "{owned}的保修还有{days}天到期，可加购{offer}".into(),
                en: "{owned}: warranty ends in {days} days; add {offer}".into(),
            },
            RuleSpec {
                id: "renewal".into(),
                when: Condition::MembershipExpiring { days: 30 },
                zh: "您的{level}还有{days}天到期".into(),
                en: "Your {level} expires in {days} days".into(),
            },
        ];
        Rules::compile(specs).unwrap()
    }

    fn buy(sku: &str, date: &str) -> Purchase {
        Purchase { sku: sku.into(), day: day_of(date).unwrap() }
    }

    fn check(purchases: &[Purchase], membership: Option<&Membership>, today: &str, expected: Option<(&str, &str)>) {
        let customer = Customer { purchases, membership };
        let got = recommend(&rules(), &catalogue(), customer, day_of(today).unwrap(), true);
        assert_eq!(got.as_ref().map(|o| (o.rule_id.as_str(), o.text.as_str())), expected);
    }

    #[test]
    fn a_camera_without_a_card_gets_the_card() {
        check(
            &[buy("CAM-C2", "2026-11-18")],
            None,
            "2026-11-26",
            Some(("camera-card", "您的智能摄像头 C2可以搭配64GB 存储卡（¥49）")),
        );
        // Has a card: the rule does not apply; nothing else does either.
        check(&[buy("CAM-C2", "2026-11-18"), buy("SD-64", "2026-11-18")], None, "2026-11-26", None);
        // A card alone, or another product: no camera to equip.
        check(&[buy("SD-64", "2026-11-18"), buy("VAC-S1", "2026-11-01")], None, "2026-11-26", None);
    }

    #[test]
    fn a_warranty_ending_soon_gets_the_extension_once() {
        let bought = [buy("VAC-S1", "2025-12-20")];
        check(&bought, None, "2026-11-26", Some(("warranty", "扫地机器人 S1的保修还有24天到期，可加购延保一年")));
        check(&bought, None, "2026-11-19", None);
        check(&bought, None, "2026-12-21", None);
        check(&[buy("VAC-S1", "2025-12-20"), buy("EXT-1Y", "2026-01-02")], None, "2026-11-26", None);
    }

    #[test]
    fn membership_expiring_within_the_window_gets_the_renewal() {
        let m = Membership { level: "黄金会员".into(), expires_day: day_of("2026-12-10").unwrap() };
        check(&[], Some(&m), "2026-11-26", Some(("renewal", "您的黄金会员还有14天到期")));
        check(&[], Some(&m), "2026-11-01", None);
        check(&[], Some(&m), "2026-12-11", None);
    }

    #[test]
    fn the_first_rule_that_applies_wins_and_english_is_offered_in_english() {
        let m = Membership { level: "Gold".into(), expires_day: day_of("2026-12-10").unwrap() };
        let customer = Customer { purchases: &[buy("CAM-C2", "2026-11-18")], membership: Some(&m) };
        let o = recommend(&rules(), &catalogue(), customer, day_of("2026-11-26").unwrap(), false).unwrap();
        assert_eq!((o.rule_id.as_str(), o.sku.as_str()), ("camera-card", "SD-64"));
        assert_eq!(o.text, "Your 智能摄像头 C2 pairs with 64GB 存储卡 (¥49)");
    }

    #[test]
    fn bad_rule_sets_report_every_problem() {
        let bad = vec![
            RuleSpec {
                id: "a".into(),
                when: Condition::MembershipExpiring { days: 0 },
                zh: "{nope}".into(),
                en: "".into(),
            },
            RuleSpec {
                id: "a".into(),
                when: Condition::WarrantyEnding { days: 30, offer: " ".into() },
                zh: "x".into(),
                en: "y".into(),
            },
        ];
        let problems = Rules::compile(bad).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("{nope}")));
    }

    #[test]
    fn the_shipped_rules_compile() {
        let specs: Vec<RuleSpec> = serde_json::from_str(DEMO_RULES).unwrap();
        let rules = Rules::compile(specs).unwrap();
        assert!(rules.rules.len() >= 3);
    }

    #[test]
    fn calendar_round_trips() {
        assert_eq!(day_of("1970-01-01"), Some(0));
        assert_eq!(day_of("2026-02-29"), None);
        assert_eq!(day_of("2024-02-29").map(Date::from_days_since_epoch), Some(Date { year: 2024, month: 2, day: 29 }));
        assert_eq!(add_months(day_of("2026-01-31").unwrap(), 1), day_of("2026-02-28").unwrap());
        assert_eq!(add_months(day_of("2025-12-20").unwrap(), 12), day_of("2026-12-20").unwrap());
        for z in (-800_000..800_000).step_by(997) {
            assert_eq!(Date::from_days_since_epoch(z).days_since_epoch(), z);
        }
    }
}
