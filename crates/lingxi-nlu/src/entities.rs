//! Entities in normalised text: order and tracking numbers, phones, e-mail, money, dates and times,
//! catalogue products, Chinese places, and sensitive numbers (ID and bank cards) with masking.
//!
//! Every detector proposes candidates; overlaps are resolved by a fixed priority (tenant order
//! patterns, e-mail, ID card, phone, tracking, bank card, order number, date/time, amount, product,
//! place), longer first within a priority. Spans are byte offsets into the text given, always on
//! character boundaries. Patterns are best-effort and documented at each detector.
//!
//! Tracking-number shapes (after lower-casing): SF Express `sf` + 12–15 digits; JD `jd` + up to two
//! letters + 9–15 digits; YTO `yt` + 13–15 digits; UPS `1z` + 16 alphanumerics; UPU S10 (EMS, China
//! Post and other posts) two letters, 9 digits, two letters (`ea123456789cn`). Digit-only numbers are
//! carrier numbers only when the carrier is named in the message: ZTO (中通) 12–15 digits starting
//! with 7; Yunda (韵达) 13 or 15 digits; STO (申通) 12–15 digits; Best/J&T/Deppon/FedEx/DHL 10–15
//! digits; any carrier-less 10–20 digit run next to 快递单号/运单号/物流单号/tracking is a tracking
//! number of unknown carrier.

mod amount;
mod datetime;

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

pub use amount::{Currency, Money};
pub use datetime::{Date, DateTimeValue, Now};

use crate::normalize::fold_chars;

const REGIONS_DATA: &str = include_str!("../data/regions.txt");

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// Order number (tenant pattern or default shape).
    OrderNumber,
    /// Phone number.
    Phone,
    /// E-mail address.
    Email,
    /// Parcel tracking number.
    TrackingNumber,
    /// Money amount.
    Amount,
    /// Date, time, or both.
    DateTime,
    /// Product or model from the tenant catalogue.
    Product,
    /// Chinese province or city.
    Location,
    /// Chinese resident ID card number (sensitive).
    IdCard,
    /// Bank card number (sensitive).
    BankCard,
}

/// Parcel carriers recognised in tracking numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// 顺丰 SF Express.
    SfExpress,
    /// 中通 ZTO.
    Zto,
    /// 圆通 YTO.
    Yto,
    /// 韵达 Yunda.
    Yunda,
    /// 申通 STO.
    Sto,
    /// 京东物流 JD Logistics.
    Jd,
    /// EMS / China Post (UPU S10 numbers ending in CN).
    ChinaPost,
    /// Another national post (UPU S10 number).
    Post,
    /// UPS.
    Ups,
    /// FedEx.
    FedEx,
    /// DHL.
    Dhl,
    /// 百世, 极兔, 德邦 and other carriers named in the message.
    Other,
    /// A tracking number whose carrier is not known.
    Unknown,
}

/// A phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// Country calling code without `+` (`86`).
    pub country_code: String,
    /// National number, digits only (`13812345678`, `1012345678` for a Beijing landline).
    pub national: String,
}

/// A province or city.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// Canonical name (`广东省`, `深圳`).
    pub name: String,
    /// Province it belongs to (full name).
    pub province: String,
    /// Province or city.
    pub kind: PlaceKind,
}

/// Level of a [`Place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaceKind {
    /// Province, municipality, autonomous region or SAR.
    Province,
    /// City.
    City,
}

/// The parsed value of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityValue {
    /// Order number as written (lower-cased by normalisation): separators removed for the
    /// default shape, kept for a tenant pattern's match (its shape includes them).
    OrderNumber(String),
    /// Phone number.
    Phone(PhoneNumber),
    /// E-mail address.
    Email(String),
    /// Tracking number (upper-case) and carrier.
    Tracking {
        /// Carrier.
        carrier: Carrier,
        /// Tracking number, upper-case, no separators.
        number: String,
    },
    /// Money amount.
    Amount(Money),
    /// Date and/or time.
    DateTime(DateTimeValue),
    /// Catalogue product: its name as given in the catalogue and its index there.
    Product {
        /// Catalogue name.
        name: String,
        /// Index in the catalogue list.
        catalogue_idx: usize,
    },
    /// Province or city.
    Location(Place),
    /// ID card number (upper-case X) and birth date.
    IdCard {
        /// The 18 characters.
        number: String,
        /// Birth date encoded in it.
        birth_date: Date,
    },
    /// Bank card number, digits only.
    BankCard(String),
}

/// One entity found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// Byte range in the text given to [`EntityExtractor::extract`].
    pub span: Range<usize>,
    /// The matched text.
    pub raw: String,
    /// Parsed value.
    pub value: EntityValue,
    /// Personal data that must be masked in logs and before LLM calls.
    pub sensitive: bool,
}

/// Per-tenant entity settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityConfig {
    /// Regular expressions (`regex` crate syntax, matched case-insensitively) of the tenant's order
    /// numbers; empty for the default shape (10–24 digits, optionally after up to 4 letters).
    pub order_patterns: Vec<String>,
    /// Product and model names of the tenant's catalogue.
    pub catalogue: Vec<String>,
}

/// Errors building an [`EntityExtractor`].
#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    /// A tenant order-number pattern does not compile.
    #[error("order-number pattern {pattern:?} is invalid: {reason}")]
    OrderPattern {
        /// The pattern.
        pattern: String,
        /// Why the regex engine refused it.
        reason: String,
    },
}

/// Finds entities; build one per tenant and share it.
#[derive(Debug, Clone, Default)]
pub struct EntityExtractor {
    order_patterns: Vec<Regex>,
    catalogue: Option<AhoCorasick>,
    catalogue_names: Vec<String>,
}

struct Candidate {
    priority: u8,
    entity: Entity,
}

struct Patterns {
    email: Regex,
    cn_mobile: Regex,
    cn_landline: Regex,
    intl_phone: Regex,
    id_card: Regex,
    card: Regex,
    tracking_prefixed: Regex,
    digits: Regex,
    default_order: Regex,
    carrier_mention: Regex,
    tracking_context: Regex,
    order_context: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("entity pattern compiles");
        Patterns {
            email: re(r"(?i)[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}"),
            cn_mobile: re(r"(?:(?:\+|00)86[\s\-]?|\(\+86\)\s?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}"),
            cn_landline: re(r"(?:(?:\+|00)86[\s\-]?)?\(?0[1-9]\d{1,2}\)?[\s\-]\d{7,8}"),
            intl_phone: re(r"(?:\+|00)[1-9]\d{0,2}[\s\-]?\(?\d{1,4}\)?(?:[\s\-]?\d{2,4}){2,4}"),
            id_card: re(r"[1-9]\d{16}[\dxX]"),
            card: re(r"\d{4}(?:[\s\-]?\d{4}){3}(?:[\s\-]?\d{1,3})?"),
            tracking_prefixed: re(r"(?i)sf\d{12,15}|jd[a-z]{0,2}\d{9,15}|yt\d{13,15}|1z[0-9a-z]{16}|[a-z]{2}\d{9}[a-z]{2}"),
            digits: re(r"\d{10,20}"),
            default_order: re(r"(?i)(?:[a-z]{1,4}[\-_]?)?\d{10,24}"),
            carrier_mention: re(r"(?i)顺丰|中通|圆通|韵达|申通|京东|邮政|ems|百世|极兔|德邦|fedex|联邦|dhl|ups|zto|yto|sto|yunda"),
            tracking_context: re(r"(?i)快递单号|运单号|物流单号|快递号|单号是?.{0,3}$|tracking|waybill"),
            order_context: re(r"(?i)订单|order|下单"),
        }
    })
}

/// A digit or ASCII letter just outside the span would mean the match is part of a longer token.
fn ascii_bounded(text: &str, span: &Range<usize>) -> bool {
    let before = text[..span.start].chars().next_back();
    let after = text[span.end..].chars().next();
    !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
}

fn digits_only(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Luhn checksum (bank cards).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    matches!(sum % 10, 0)
}

/// Checks an 18-character Chinese resident ID (GB 11643: region, valid birth date, ISO 7064 MOD 11-2
/// check character) and returns the birth date.
pub fn parse_id_card(number: &str) -> Option<Date> {
    let bytes = number.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    if CHECK[(sum % 11) as usize] != bytes[17].to_ascii_uppercase() {
        return None;
    }
    let year: i32 = number.get(6..10)?.parse().ok()?;
    let month: u8 = number.get(10..12)?.parse().ok()?;
    let day: u8 = number.get(12..14)?.parse().ok()?;
    ((1900..=2100).contains(&year) && datetime::valid_date(year, month, day)).then_some(Date { year, month, day })
}

struct RegionTable {
    matcher: AhoCorasick,
    places: Vec<Place>,
}

fn regions() -> &'static RegionTable {
    static TABLE: OnceLock<RegionTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut names: Vec<String> = Vec::new();
        let mut places: Vec<Place> = Vec::new();
        let mut add = |name: String, place: Place| {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
                places.push(place);
            }
        };
        let lines: Vec<Vec<&str>> = REGIONS_DATA
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split('\t').collect())
            .collect();
        for fields in &lines {
            let (full, short) = (fields[0], fields.get(1).copied().unwrap_or(""));
            let province = Place { name: full.to_owned(), province: full.to_owned(), kind: PlaceKind::Province };
            add(full.to_owned(), province.clone());
            add(short.to_owned(), province.clone());
            if full.ends_with('市') {
                add(format!("{short}市"), province);
            }
        }
        for fields in &lines {
            let full = fields[0];
            for city in fields.get(2).copied().unwrap_or("").split_whitespace() {
                let place = Place { name: city.to_owned(), province: full.to_owned(), kind: PlaceKind::City };
                add(format!("{city}市"), place.clone());
                add(city.to_owned(), place);
            }
        }
        let matcher =
            AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&names).expect("region table builds");
        RegionTable { matcher, places }
    })
}

impl EntityExtractor {
    /// An extractor with the tenant's order-number patterns and catalogue.
    pub fn new(config: &EntityConfig) -> Result<Self, EntityError> {
        let order_patterns = config
            .order_patterns
            .iter()
            .map(|pattern| {
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| EntityError::OrderPattern { pattern: pattern.clone(), reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let folded: Vec<String> = config.catalogue.iter().map(|n| fold_chars(n)).collect();
        let mut names = Vec::new();
        let mut folded_names = Vec::new();
        for (name, f) in config.catalogue.iter().zip(folded) {
            if !f.is_empty() {
                names.push(name.clone());
                folded_names.push(f);
            }
        }
        let catalogue = if folded_names.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&folded_names)
                .ok()
        };
        Ok(EntityExtractor { order_patterns, catalogue, catalogue_names: names })
    }

    /// All entities of `text` (normalised text is expected), in text order, without overlaps.
    pub fn extract(&self, text: &str, now: Now) -> Vec<Entity> {
        let mut candidates = Vec::new();
        self.sensitive_candidates(text, &mut candidates);
        self.other_candidates(text, now, &mut candidates);
        resolve(candidates)
    }

    fn sensitive_candidates(&self, text: &str, out: &mut Vec<Candidate>) {
        let p = patterns();
        let push = |out: &mut Vec<Candidate>, priority, kind, span: Range<usize>, value, sensitive| {
            out.push(Candidate {
                priority,
                entity: Entity { kind, raw: text[span.clone()].to_owned(), span, value, sensitive },
            });
        };
        for (k, re) in self.order_patterns.iter().enumerate() {
            for m in re.find_iter(text) {
                if m.is_empty() {
                    continue;
                }
                // The tenant's pattern defines its numbers' shape, separators included: the
                // number is looked up as written (its systems know `LX-123456`, not `LX123456`).
                let value = EntityValue::OrderNumber(m.as_str().trim().to_owned());
                push(out, k.min(9) as u8, EntityKind::OrderNumber, m.range(), value, false);
            }
        }
        let has_digit = text.bytes().any(|b| b.is_ascii_digit());
        let emails = if text.contains('@') { p.email.find_iter(text).collect() } else { Vec::new() };
        for m in emails {
            let value = EntityValue::Email(m.as_str().to_lowercase());
            push(out, 10, EntityKind::Email, m.range(), value, true);
        }
        if !has_digit {
            return;
        }
        for m in p.id_card.find_iter(text) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            if let Some(birth_date) = parse_id_card(m.as_str()) {
                let value = EntityValue::IdCard { number: m.as_str().to_ascii_uppercase(), birth_date };
                push(out, 11, EntityKind::IdCard, m.range(), value, true);
            }
        }
        for m in p.cn_mobile.find_iter(text) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let digits = digits_only(m.as_str());
            let national = digits[digits.len().saturating_sub(11)..].to_owned();
            let value = EntityValue::Phone(PhoneNumber { country_code: "86".into(), national });
            push(out, 12, EntityKind::Phone, m.range(), value, true);
        }
        for m in p.cn_landline.find_iter(text) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let digits = digits_only(m.as_str());
            let national = digits.strip_prefix("0086").or_else(|| digits.strip_prefix("86")).unwrap_or(&digits);
            let national = national.strip_prefix('0').unwrap_or(national).to_owned();
            let value = EntityValue::Phone(PhoneNumber { country_code: "86".into(), national });
            push(out, 13, EntityKind::Phone, m.range(), value, true);
        }
        for m in p.intl_phone.find_iter(text) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let s = m.as_str();
            let body = s.strip_prefix('+').or_else(|| s.strip_prefix("00")).unwrap_or(s);
            let digits = digits_only(body);
            if !(8..=15).contains(&digits.len()) {
                continue;
            }
            // The country code is the first group before a separator, else 1–3 digits by table-free guess.
            let cc_len = body
                .find([' ', '-', '('])
                .filter(|&i| (1..=3).contains(&i))
                .unwrap_or(if digits.starts_with('1') || digits.starts_with('7') { 1 } else { 2 });
            let (cc, national) = digits.split_at(cc_len.min(digits.len()));
            let value = EntityValue::Phone(PhoneNumber { country_code: cc.to_owned(), national: national.to_owned() });
            push(out, 14, EntityKind::Phone, m.range(), value, true);
        }
        for m in p.card.find_iter(text).chain(p.digits.find_iter(text)) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let digits = digits_only(m.as_str());
            if !(16..=19).contains(&digits.len()) || !luhn_valid(&digits) {
                continue;
            }
            // Next to 订单/order a long number is an order number, not a card.
            let before = &text[..m.start()];
            let context_start = before.char_indices().rev().nth(7).map_or(0, |(i, _)| i);
            if p.order_context.is_match(&before[context_start..]) {
                continue;
            }
            push(out, 16, EntityKind::BankCard, m.range(), EntityValue::BankCard(digits), true);
        }
    }

    fn other_candidates(&self, text: &str, now: Now, out: &mut Vec<Candidate>) {
        let p = patterns();
        let push = |out: &mut Vec<Candidate>, priority, kind, span: Range<usize>, value| {
            out.push(Candidate {
                priority,
                entity: Entity { kind, raw: text[span.clone()].to_owned(), span, value, sensitive: false },
            });
        };
        let has_digit = text.bytes().any(|b| b.is_ascii_digit());
        let digit_matches = |re: &Regex| -> Vec<regex::Match<'_>> {
            if has_digit {
                re.find_iter(text).collect()
            } else {
                Vec::new()
            }
        };
        for m in digit_matches(&p.tracking_prefixed) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let number = m.as_str().to_ascii_uppercase();
            let carrier = if number.starts_with("SF") {
                Carrier::SfExpress
            } else if number.starts_with("JD") {
                Carrier::Jd
            } else if number.starts_with("YT") {
                Carrier::Yto
            } else if number.starts_with("1Z") {
                Carrier::Ups
            } else if number.ends_with("CN") {
                Carrier::ChinaPost
            } else {
                Carrier::Post
            };
            push(out, 15, EntityKind::TrackingNumber, m.range(), EntityValue::Tracking { carrier, number });
        }
        let mentioned = p.carrier_mention.find(text).map(|m| m.as_str().to_ascii_lowercase());
        for m in digit_matches(&p.digits) {
            if !ascii_bounded(text, &m.range()) {
                continue;
            }
            let number = m.as_str();
            let n = number.len();
            let carrier = match mentioned.as_deref() {
                Some("中通" | "zto") if number.starts_with('7') && (12..=15).contains(&n) => Some(Carrier::Zto),
                Some("韵达" | "yunda") if n == 13 || n == 15 => Some(Carrier::Yunda),
                Some("申通" | "sto") if (12..=15).contains(&n) => Some(Carrier::Sto),
                Some("顺丰") if (12..=15).contains(&n) => Some(Carrier::SfExpress),
                Some("圆通" | "yto") if (12..=15).contains(&n) => Some(Carrier::Yto),
                Some("fedex" | "联邦") if n == 12 || n == 15 => Some(Carrier::FedEx),
                Some("dhl") if n == 10 => Some(Carrier::Dhl),
                Some("百世" | "极兔" | "德邦") if (10..=15).contains(&n) => Some(Carrier::Other),
                Some("ems" | "邮政") if n == 13 => Some(Carrier::ChinaPost),
                _ => None,
            };
            let before = &text[..m.start()];
            let context_start = before.char_indices().rev().nth(9).map_or(0, |(i, _)| i);
            let carrier =
                carrier.or_else(|| p.tracking_context.is_match(&before[context_start..]).then_some(Carrier::Unknown));
            if let Some(carrier) = carrier {
                let value = EntityValue::Tracking { carrier, number: number.to_owned() };
                push(out, 17, EntityKind::TrackingNumber, m.range(), value);
            }
        }
        if self.order_patterns.is_empty() {
            for m in digit_matches(&p.default_order) {
                if !ascii_bounded(text, &m.range()) {
                    continue;
                }
                let before = &text[..m.start()];
                let context_start = before.char_indices().rev().nth(7).map_or(0, |(i, _)| i);
                // Next to 订单/order the default shape outranks cards and carrier-less tracking.
                let priority = if p.order_context.is_match(&before[context_start..]) { 14 } else { 18 };
                let value = EntityValue::OrderNumber(m.as_str().replace(['-', '_'], ""));
                push(out, priority, EntityKind::OrderNumber, m.range(), value);
            }
        }
        for (span, value) in datetime::extract(text, now) {
            push(out, 19, EntityKind::DateTime, span, EntityValue::DateTime(value));
        }
        let amounts = if has_digit { amount::extract(text) } else { Vec::new() };
        for (span, money) in amounts {
            push(out, 20, EntityKind::Amount, span, EntityValue::Amount(money));
        }
        if let Some(catalogue) = &self.catalogue {
            for m in catalogue.find_iter(text) {
                let span = m.start()..m.end();
                if !crate_word_bounded(text, &span) {
                    continue;
                }
                let idx = m.pattern().as_usize();
                let Some(name) = self.catalogue_names.get(idx) else {
                    continue;
                };
                let value = EntityValue::Product { name: name.clone(), catalogue_idx: idx };
                push(out, 21, EntityKind::Product, span, value);
            }
        }
        let regions = regions();
        for m in regions.matcher.find_iter(text) {
            let Some(place) = regions.places.get(m.pattern().as_usize()) else {
                continue;
            };
            push(out, 22, EntityKind::Location, m.start()..m.end(), EntityValue::Location(place.clone()));
        }
    }
}

/// ASCII edges of a catalogue match must not be glued to ASCII letters or digits (`pro` in `product`).
fn crate_word_bounded(text: &str, span: &Range<usize>) -> bool {
    let inner_first = text[span.clone()].chars().next();
    let inner_last = text[span.clone()].chars().next_back();
    let before = text[..span.start].chars().next_back();
    let after = text[span.end..].chars().next();
    let glued = |a: Option<char>, b: Option<char>| {
        a.is_some_and(|c| c.is_ascii_alphanumeric()) && b.is_some_and(|c| c.is_ascii_alphanumeric())
    };
    !glued(inner_first, before) && !glued(inner_last, after)
}

/// Keeps the best candidates that do not overlap, in text order.
fn resolve(mut candidates: Vec<Candidate>) -> Vec<Entity> {
    candidates.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| b.entity.span.len().cmp(&a.entity.span.len()))
            .then_with(|| a.entity.span.start.cmp(&b.entity.span.start))
    });
    let mut kept: Vec<Entity> = Vec::new();
    for c in candidates {
        let span = &c.entity.span;
        if span.is_empty() || kept.iter().any(|k| k.span.start < span.end && span.start < k.span.end) {
            continue;
        }
        kept.push(c.entity);
    }
    kept.sort_by_key(|e| e.span.start);
    kept
}

/// Masks one sensitive value for display: phone `1381234****`, bank card `6222 **** **** 1234`,
/// ID card `110101********123X`, e-mail `z***@example.com`. Other kinds come back unchanged.
pub fn mask(kind: EntityKind, raw: &str) -> String {
    match kind {
        EntityKind::Phone => {
            // Hide the last four digits, keeping the layout.
            let mut remaining = 4;
            let mut chars: Vec<char> = raw.chars().collect();
            for c in chars.iter_mut().rev() {
                if remaining == 0 {
                    break;
                }
                if c.is_ascii_digit() {
                    *c = '*';
                    remaining -= 1;
                }
            }
            chars.into_iter().collect()
        }
        EntityKind::BankCard => {
            let digits = digits_only(raw);
            if digits.len() < 9 {
                return "*".repeat(digits.len());
            }
            let hidden = "*".repeat(digits.len() - 8);
            let groups: Vec<&str> =
                hidden.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("****")).collect();
            format!("{} {} {}", &digits[..4], groups.join(" "), &digits[digits.len() - 4..])
        }
        EntityKind::IdCard => {
            raw.chars().enumerate().map(|(i, c)| if (6..14).contains(&i) { '*' } else { c }).collect()
        }
        EntityKind::Email => match raw.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        },
        _ => raw.to_owned(),
    }
}

/// Masks every phone, e-mail, ID-card and bank-card number in `text` (for logs and LLM prompts).
/// Works on raw or normalised text; other characters are left untouched.
pub fn mask_sensitive(text: &str) -> String {
    let extractor = EntityExtractor::default();
    let mut candidates = Vec::new();
    extractor.sensitive_candidates(text, &mut candidates);
    let entities = resolve(candidates);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for e in entities.iter().filter(|e| e.sensitive) {
        out.push_str(&text[last..e.span.start]);
        out.push_str(&mask(e.kind, &e.raw));
        last = e.span.end;
    }
    out.push_str(&text[last..]);
    out
}
