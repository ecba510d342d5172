//! Typed errors for loading the encoder model: missing, unreadable, corrupt or unsupported files.

use std::path::PathBuf;

/// Everything that can go wrong while loading an encoder model.
///
/// Encoding itself never fails: once a model is loaded every input string
/// produces an embedding.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// No model file was found in any of the searched places.
    #[error("encoder model not found (searched: {}); run scripts/fetch-model.sh or set LINGXI_MODEL_DIR", display_paths(.searched))]
    NotFound {
        /// Every path that was tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The file exists but could not be read.
    #[error("cannot read encoder model {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the `E5S1` magic.
    #[error("not an e5 model file (bad magic {found:02x?})")]
    BadMagic {
        /// The first bytes found instead.
        found: Vec<u8>,
    },
    /// A format version this crate does not understand.
    #[error("unsupported e5 model format version {0} (supported: 1)")]
    UnsupportedVersion(u32),
    /// Hyper-parameters this implementation does not support.
    #[error("unsupported model configuration: {0}")]
    Unsupported(String),
    /// The file ended before a structure was complete.
    #[error("truncated model file while reading {what} (offset {offset}, need {need} bytes, file has {len})")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where the read started.
        offset: usize,
        /// How many bytes were needed.
        need: usize,
        /// The file length.
        len: usize,
    },
    /// A structural inconsistency (bad offsets, ids out of range, ...).
    #[error("corrupt model file: {0}")]
    Corrupt(String),
    /// A tensor the forward pass needs is absent from the directory.
    #[error("model file lacks tensor {0:?}")]
    MissingTensor(String),
    /// A tensor has the wrong type or element count.
    #[error("tensor {name:?} has {found}, expected {expected}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// What the forward pass needs.
        expected: String,
        /// What the file has.
        found: String,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
