//! Customer identifiers (phone, e-mail, WeChat ids, member ids …), their normalisation, and
//! the pure decision of which customer a set of identifiers resolves to.

use crate::CustomerId;

/// What an identifier is. Channels may also send custom kinds (`loyalty_card`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentifierKind {
    Phone,
    Email,
    WechatOpenid,
    WechatUnionid,
    MemberId,
    DeviceId,
    Custom(String),
}

impl IdentifierKind {
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        Ok(match raw {
            "phone" => Self::Phone,
            "email" => Self::Email,
            "wechat_openid" => Self::WechatOpenid,
            "wechat_unionid" => Self::WechatUnionid,
            "member_id" => Self::MemberId,
            "device_id" => Self::DeviceId,
            other => {
                let ok = !other.is_empty()
                    && other.len() <= 32
                    && other.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && other.as_bytes()[0].is_ascii_lowercase();
                if !ok {
                    return Err(IdentifierError::BadKind(other.chars().take(40).collect()));
                }
                Self::Custom(other.to_owned())
            }
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::WechatOpenid => "wechat_openid",
            Self::WechatUnionid => "wechat_unionid",
            Self::MemberId => "member_id",
            Self::DeviceId => "device_id",
            Self::Custom(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("identifier kind `{0}` is not valid (use lower-case letters, digits and `_`)")]
    BadKind(String),
    #[error("`{0}` is not a phone number")]
    BadPhone(String),
    #[error("`{0}` is not an e-mail address")]
    BadEmail(String),
    #[error("identifier value must be 1 to 128 printable characters")]
    BadValue,
}

/// A normalised identifier: two raw spellings of the same phone number or e-mail compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    kind: IdentifierKind,
    value: String,
}

impl Identifier {
    pub fn parse(kind: IdentifierKind, raw: &str) -> Result<Self, IdentifierError> {
        let value = match kind {
            IdentifierKind::Phone => normalise_phone(raw)?,
            IdentifierKind::Email => normalise_email(raw)?,
            _ => {
                let v = raw.trim();
                if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
                    return Err(IdentifierError::BadValue);
                }
                v.to_owned()
            }
        };
        Ok(Self { kind, value })
    }

    pub fn kind(&self) -> &IdentifierKind {
        &self.kind
    }
    pub fn value(&self) -> &str {
        &self.value
    }
}

fn short(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// Normalises to E.164. Numbers without a country code are taken as Chinese (+86), the
/// default region of most tenants: 11-digit mobiles and 0-prefixed landlines with area code.
fn normalise_phone(raw: &str) -> Result<String, IdentifierError> {
    let bad = || IdentifierError::BadPhone(short(raw));
    let trimmed = raw.trim();
    let mut digits = String::with_capacity(trimmed.len());
    let mut plus = false;
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '+' | '＋' if i == 0 => plus = true,
            ' ' | '-' | '(' | ')' | '.' | '\u{a0}' => {}
            _ => return Err(bad()),
        }
    }
    if !plus {
        if let Some(rest) = digits.strip_prefix("00") {
            digits = rest.to_owned();
            plus = true;
        }
    }
    let e164 = if plus {
        digits
    } else if digits.len() == 11 && digits.starts_with('1') {
        format!("86{digits}")
    } else if digits.len() == 13 && digits.starts_with("861") {
        digits
    } else if (10..=12).contains(&digits.len()) && digits.starts_with('0') && !digits.starts_with("00") {
        format!("86{}", &digits[1..])
    } else {
        return Err(bad());
    };
    if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
        return Err(bad());
    }
    if let Some(national) = e164.strip_prefix("86") {
        // A Chinese mobile is 1[3-9] + 9 digits; anything else must look like a landline.
        let is_mobile_shape = national.len() == 11 && national.starts_with('1');
        let mobile_ok = is_mobile_shape && matches!(national.as_bytes()[1], b'3'..=b'9');
        let landline_ok = !is_mobile_shape && (9..=11).contains(&national.len());
        if !(mobile_ok || landline_ok) {
            return Err(bad());
        }
    }
    Ok(format!("+{e164}"))
}

fn normalise_email(raw: &str) -> Result<String, IdentifierError> {
    let v = raw.trim().to_lowercase();
    let bad = || IdentifierError::BadEmail(short(raw));
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && v.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(v)
    } else {
        Err(bad())
    }
}

/// How a message carrying identifiers of two different customers is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergePolicy {
    /// Merge the customers at once (recorded, and undoable by a split).
    Automatic,
    /// Keep them apart and record a merge suggestion for an agent to review.
    Review,
}

impl MergePolicy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "automatic" => Some(Self::Automatic),
            "review" => Some(Self::Review),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Review => "review",
        }
    }
}

/// The outcome of resolving a message's identifiers against known customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No identifier is known: a new customer is created.
    New,
    /// Every known identifier belongs to this customer.
    Existing(CustomerId),
    /// Several customers matched and the policy merges them into `survivor`.
    Merge { survivor: CustomerId, absorbed: Vec<CustomerId> },
    /// Several customers matched; the message goes to `chosen`, a merge is suggested.
    Review { chosen: CustomerId, others: Vec<CustomerId> },
}

/// Decides the customer for a message. `matches` are the distinct customers owning any of the
/// message's identifiers, oldest first: the oldest survives a merge because it carries the
/// longest history and the ids agents already know.
pub fn resolve(matches: &[CustomerId], policy: MergePolicy) -> Resolution {
    match matches {
        [] => Resolution::New,
        [one] => Resolution::Existing(one.clone()),
        [first, rest @ ..] => match policy {
            MergePolicy::Automatic => Resolution::Merge { survivor: first.clone(), absorbed: rest.to_vec() },
            MergePolicy::Review => Resolution::Review { chosen: first.clone(), others: rest.to_vec() },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, raw: &str, expected: Result<&str, ()>) {
        let got = Identifier::parse(IdentifierKind::parse(kind).unwrap(), raw);
        match (got, expected) {
            (Ok(id), Ok(want)) => assert_eq!(id.value(), want, "{kind} {raw}"),
            (Err(_), Err(())) => {}
            (got, want) => panic!("{kind} {raw:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn phones_normalise_to_e164() {
        check("phone", "13812345678", Ok("+8613812345678"));
        check("phone", "138-1234-5678", Ok("+8613812345678"));
        check("phone", "+86 138 1234 5678", Ok("+8613812345678"));
        check("phone", "008613812345678", Ok("+8613812345678"));
        check("phone", "8613812345678", Ok("+8613812345678"));
        check("phone", "１３８１２３４５６７８", Ok("+8613812345678"));
        check("phone", "010-12345678", Ok("+861012345678"));
        check("phone", "+1 (415) 555-2671", Ok("+14155552671"));
        check("phone", "+44 20 7946 0958", Ok("+442079460958"));
        check("phone", "12345678901", Err(()));
        check("phone", "1381234567", Err(()));
        check("phone", "abc", Err(()));
        check("phone", "", Err(()));
        check("phone", "+", Err(()));
        check("phone", "13812345678x", Err(()));
    }

    #[test]
    fn emails_lower_cased_and_checked() {
        check("email", "  Li.Lei@Example.COM ", Ok("li.lei@example.com"));
        check("email", "a@b", Err(()));
        check("email", "@b.com", Err(()));
        check("email", "a@@b.com", Err(()));
        check("email", "a b@c.com", Err(()));
    }

    #[test]
    fn other_kinds_trimmed() {
        check("wechat_unionid", " oUnion123 ", Ok("oUnion123"));
        check("member_id", "", Err(()));
        check("loyalty_card", "LC-1", Ok("LC-1"));
        assert!(IdentifierKind::parse("Bad Kind").is_err());
        assert!(IdentifierKind::parse("").is_err());
    }

    #[test]
    fn resolution_merges_into_oldest() {
        let a = CustomerId::from_random(1);
        let b = CustomerId::from_random(2);
        assert_eq!(resolve(&[], MergePolicy::Automatic), Resolution::New);
        assert_eq!(resolve(std::slice::from_ref(&a), MergePolicy::Review), Resolution::Existing(a.clone()));
        assert_eq!(
            resolve(&[a.clone(), b.clone()], MergePolicy::Automatic),
            Resolution::Merge { survivor: a.clone(), absorbed: vec![b.clone()] }
        );
        assert_eq!(
            resolve(&[a.clone(), b.clone()], MergePolicy::Review),
            Resolution::Review { chosen: a, others: vec![b] }
        );
    }
}
