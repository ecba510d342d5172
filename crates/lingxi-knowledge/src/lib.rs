//! Knowledge base for Lingxi: FAQ and article model, import/export, hybrid retrieval and answer decisions.
//!
//! Pure and synchronous: no I/O, time is an argument (`now_ms`), embeddings are supplied by the caller
//! (from `lingxi-encoder`); without them everything works lexically and [`Ranking::semantic_used`] says so.

pub mod article;
pub mod candidate;
pub mod decision;
pub mod demo;
pub mod eval;
pub mod gaps;
pub mod grounding;
pub mod index;
pub mod intro;
pub mod io;
pub mod json;
pub mod model;
pub mod numerals;
pub mod pair;
pub mod products;
pub mod text;

pub use decision::{Calibrator, Decision, Thresholds};
pub use index::{Filter, Hit, KnowledgeIndex, Ranking, RetrievalConfig};
pub use model::{EntryId, FaqEntry, Lang, Status};
