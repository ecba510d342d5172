//! Extra pooled views of a text, taken from the same forward pass as its embedding.
//!
//! The embedding is the last layer's mean, trained (contrastively) for similarity. A linear
//! classifier on top of a frozen encoder often gains from earlier layers too, which keep more
//! of the surface form, and from the first token's state: these views cost a few additions per
//! token when asked for and nothing when not.

use std::fmt;

/// Which views [`crate::Encoder::encode_batch_features`] returns besides the embedding.
/// Parsed once with [`FeatureSpec::new`] against the model's depth, so encoding cannot meet
/// a layer that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureSpec {
    layer_means: Vec<usize>,
    first_token: bool,
}

impl FeatureSpec {
    /// Mean-pooled hidden states after each listed layer (1 = the first transformer layer,
    /// `n_layers` = the last, whose mean is the embedding before normalisation; 0 = the
    /// embedding layer's output), plus the last layer's first-token (`<s>`) state when
    /// `first_token`. `n_layers` is [`crate::Encoder::n_layers`].
    pub fn new(layer_means: &[usize], first_token: bool, n_layers: usize) -> Result<Self, InvalidLayer> {
        if let Some(&layer) = layer_means.iter().find(|l| **l > n_layers) {
            return Err(InvalidLayer { layer, n_layers });
        }
        Ok(Self { layer_means: layer_means.to_vec(), first_token })
    }

    /// The layers whose means are returned, in the order given.
    pub fn layer_means(&self) -> &[usize] {
        &self.layer_means
    }

    /// Whether the last layer's first-token state is returned.
    pub fn first_token(&self) -> bool {
        self.first_token
    }

    /// Nothing beyond the embedding is asked for.
    pub(crate) fn is_empty(&self) -> bool {
        self.layer_means.is_empty() && !self.first_token
    }
}

/// A layer index past the model's depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidLayer {
    pub layer: usize,
    pub n_layers: usize,
}

impl fmt::Display for InvalidLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {} does not exist (the model has layers 0..={})", self.layer, self.n_layers)
    }
}

impl std::error::Error for InvalidLayer {}

/// One text's embedding and the views of its [`FeatureSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct TextFeatures {
    /// Exactly what [`crate::Encoder::encode_batch`] returns (L2-normalised).
    pub embedding: Vec<f32>,
    /// One mean per layer of [`FeatureSpec::layer_means`], in its order, not normalised (a
    /// text longer than one window gets the window means weighted by their token counts, as
    /// the embedding does).
    pub layer_means: Vec<Vec<f32>>,
    /// The last layer's `<s>` state when asked for, not normalised (weighted over windows
    /// like the means).
    pub first_token: Option<Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_past_the_model_are_refused() {
        assert_eq!(FeatureSpec::new(&[11, 13], false, 12), Err(InvalidLayer { layer: 13, n_layers: 12 }));
        let spec = FeatureSpec::new(&[0, 12, 9], true, 12).unwrap();
        assert_eq!(spec.layer_means(), &[0, 12, 9]);
        assert!(spec.first_token() && !spec.is_empty());
        assert!(FeatureSpec::default().is_empty());
    }
}
