//! Domain model of Lingxi: ids, value objects parsed at the edge, customers, identities,
//! conversations, messages, roles. Pure: no I/O, no clock, no serialization.

pub mod access;
pub mod channel;
pub mod conversation;
pub mod identity;
pub mod ids;
pub mod message;
pub mod rich;
pub mod time;

pub use access::{Permission, Role};
pub use channel::ChannelKind;
pub use conversation::{ConversationState, Transition, TransitionError};
pub use identity::{Identifier, IdentifierError, IdentifierKind, MergePolicy, Resolution};
pub use ids::{
    CandidateId, CannedId, ChannelId, ConversationId, CustomerId, GapId, MessageId, NoteId, TeamId, TenantId, UserId,
};
pub use message::{Content, ContentError, Sender};
pub use rich::{Button, ButtonAction, Link, RichContent, RichImage};
pub use time::Timestamp;
