//! Understanding customer text in Chinese and English: normalisation, segmentation,
//! language, entities, intent (with out-of-scope) and sentiment. Pure and synchronous.

// Text processing.
pub mod entities;
pub mod language;
pub mod normalize;
pub mod segment;

// Learned models.
pub mod adapt;
pub mod classifier;
pub mod cv;
pub mod eval;
pub mod features;
pub mod followup;
pub mod fused;
pub mod intent;
pub mod intent_fused;
pub mod mahalanobis;
pub mod mlp;
pub mod probe;
pub mod restate;
pub mod sentiment;
pub mod smalltalk;
pub mod subject;
