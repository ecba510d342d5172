//! The life cycle of a conversation as an explicit state machine: every change of state is a
//! named transition that is checked here, never inferred from message text.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationState {
    /// The AI first line is talking to the customer.
    Bot,
    /// Waiting in a queue for a person.
    Queued,
    /// Owned by one agent.
    Assigned,
    /// Done; a new customer message within the reopen window brings it back.
    Resolved,
    /// Final; a new customer message starts a new conversation.
    Closed,
}

impl ConversationState {
    pub const ALL: [ConversationState; 5] = [Self::Bot, Self::Queued, Self::Assigned, Self::Resolved, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Queued => "queued",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Open conversations receive new customer messages without reopening.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Bot | Self::Queued | Self::Assigned)
    }
}

/// A requested change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The bot hands the customer to people: bot → queued.
    HandOff,
    /// An agent takes (or is given) the conversation: queued or assigned → assigned.
    Assign,
    /// Back to the queue (agent away, transfer to a team): assigned → queued.
    Requeue,
    /// An agent gives the conversation back to the bot: queued or assigned → bot.
    HandBack,
    /// Bot, queued or assigned → resolved.
    Resolve,
    /// A customer wrote again within the reopen window: resolved → bot.
    Reopen,
    /// Any state but closed → closed.
    Close,
}

impl Transition {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "hand_off" => Self::HandOff,
            "assign" => Self::Assign,
            "requeue" => Self::Requeue,
            "hand_back" => Self::HandBack,
            "resolve" => Self::Resolve,
            "reopen" => Self::Reopen,
            "close" => Self::Close,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HandOff => "hand_off",
            Self::Assign => "assign",
            Self::Requeue => "requeue",
            Self::HandBack => "hand_back",
            Self::Resolve => "resolve",
            Self::Reopen => "reopen",
            Self::Close => "close",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} conversation cannot {}", from.as_str(), transition.as_str())]
pub struct TransitionError {
    pub from: ConversationState,
    pub transition: Transition,
}

impl ConversationState {
    /// Applies a transition, or says why it is not allowed.
    pub fn apply(self, transition: Transition) -> Result<ConversationState, TransitionError> {
        use ConversationState as S;
        use Transition as T;
        let next = match (self, transition) {
            (S::Bot, T::HandOff) => S::Queued,
            (S::Queued | S::Assigned, T::Assign) => S::Assigned,
            (S::Assigned, T::Requeue) => S::Queued,
            (S::Queued | S::Assigned, T::HandBack) => S::Bot,
            (S::Bot | S::Queued | S::Assigned, T::Resolve) => S::Resolved,
            (S::Resolved, T::Reopen) => S::Bot,
            (S::Bot | S::Queued | S::Assigned | S::Resolved, T::Close) => S::Closed,
            (from, transition) => return Err(TransitionError { from, transition }),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationState as S;
    use Transition as T;

    #[test]
    fn transition_table() {
        let allowed = [
            (S::Bot, T::HandOff, S::Queued),
            (S::Queued, T::Assign, S::Assigned),
            (S::Assigned, T::Assign, S::Assigned),
            (S::Assigned, T::Requeue, S::Queued),
            (S::Assigned, T::HandBack, S::Bot),
            (S::Queued, T::HandBack, S::Bot),
            (S::Bot, T::Resolve, S::Resolved),
            (S::Assigned, T::Resolve, S::Resolved),
            (S::Resolved, T::Reopen, S::Bot),
            (S::Resolved, T::Close, S::Closed),
            (S::Bot, T::Close, S::Closed),
        ];
        for (from, t, to) in allowed {
            assert_eq!(from.apply(t), Ok(to), "{from:?} {t:?}");
        }
        // Everything else is refused; closed is final.
        let mut n_refused = 0;
        for from in S::ALL {
            for t in [T::HandOff, T::Assign, T::Requeue, T::HandBack, T::Resolve, T::Reopen, T::Close] {
                if !allowed.iter().any(|(f, tt, _)| *f == from && *tt == t)
                    && !(from == S::Queued && (t == T::Resolve || t == T::Close))
                    && !(from == S::Assigned && t == T::Close)
                {
                    assert!(from.apply(t).is_err(), "{from:?} {t:?} should be refused");
                    n_refused += 1;
                }
            }
        }
        assert!(n_refused >= 20);
        for t in [T::HandOff, T::Assign, T::Reopen, T::Resolve, T::Close] {
            assert!(S::Closed.apply(t).is_err());
        }
    }
}
