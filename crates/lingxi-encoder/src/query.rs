//! The token budget of a search query: how many tokens of a customer's message the encoder reads.

use std::fmt;

/// At most this many tokens per query, `<s>`, the `"query: "` prefix (3 tokens) and `</s>`
/// included; parsed once with [`QueryTokens::new`], so the encoder never sees a budget
/// that leaves no room for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryTokens(usize);

impl QueryTokens {
    /// The smallest budget: the specials and the prefix take 5 tokens, so 3 are left for the message.
    pub const MIN: usize = 8;
    /// The encoder's longest sequence (one window).
    pub const MAX: usize = 512;

    /// `n` tokens, if within [`QueryTokens::MIN`]`..=`[`QueryTokens::MAX`].
    pub fn new(n: usize) -> Result<QueryTokens, InvalidQueryTokens> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(QueryTokens(n))
        } else {
            Err(InvalidQueryTokens(n))
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// A token budget outside [`QueryTokens::MIN`]`..=`[`QueryTokens::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidQueryTokens(pub usize);

impl fmt::Display for InvalidQueryTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} tokens is not a query budget (must be {}..={})", self.0, QueryTokens::MIN, QueryTokens::MAX)
    }
}

impl std::error::Error for InvalidQueryTokens {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_outside_the_range_are_refused() {
        assert_eq!(QueryTokens::new(7), Err(InvalidQueryTokens(7)));
        assert_eq!(QueryTokens::new(513), Err(InvalidQueryTokens(513)));
        assert_eq!(QueryTokens::new(8).map(QueryTokens::get), Ok(8));
        assert_eq!(QueryTokens::new(512).map(QueryTokens::get), Ok(512));
    }
}
