//! Opaque identifiers. Each is a short prefixed string (`cus_…`) so that logs and URLs say
//! what an id names; parsing checks the prefix so an order id can never pass as a customer id.

use std::fmt;

/// Error for an id that does not have the right shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} id")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
}

macro_rules! id_type {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Builds an id from random bits supplied by the caller (the core draws no randomness).
            pub fn from_random(bits: u128) -> Self {
                Self(format!("{}_{:026x}", $prefix, bits & ((1u128 << 104) - 1)))
            }

            /// Parses an id received from outside (URL, body, database).
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let ok = raw.len() <= 64
                    && raw.strip_prefix($prefix).and_then(|r| r.strip_prefix('_')).is_some_and(|rest| {
                        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if ok {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError { what: $what, value: raw.chars().take(80).collect() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(TenantId, "ten", "tenant");
id_type!(UserId, "usr", "user");
id_type!(TeamId, "team", "team");
id_type!(ChannelId, "chn", "channel");
id_type!(CustomerId, "cus", "customer");
id_type!(ConversationId, "cnv", "conversation");
id_type!(MessageId, "msg", "message");
id_type!(NoteId, "note", "note");
id_type!(CannedId, "cnd", "canned response");
id_type!(GapId, "gap", "knowledge gap");
id_type!(CandidateId, "kbc", "knowledge candidate");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_prefix_checked() {
        let id = CustomerId::from_random(0xdead_beef);
        assert_eq!(CustomerId::parse(id.as_str()).unwrap(), id);
        assert!(ConversationId::parse(id.as_str()).is_err());
        assert!(CustomerId::parse("cus_").is_err());
        assert!(CustomerId::parse("cus_a b").is_err());
        assert!(CustomerId::parse("").is_err());
    }
}
