//! Sentence-encoder vectors of knowledge-base phrasings, kept across restarts: keyed by the
//! model that made them and the digest of what was encoded (never the text), stored as
//! little-endian f32 bytes. The store does not know the encoder: a model id is an opaque
//! string and a digest 32 bytes.

use crate::{codec::now_millis, get, Backend, Result, Store};
use std::collections::HashMap;

/// Digests per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters, and a
/// chunk of vectors (256 × 1.5 KB) is a modest result set.
const CHUNK: usize = 256;

/// SHA-256 (or any 32-byte digest) of an encoded text.
pub type TextDigest = [u8; 32];

fn hex(d: &TextDigest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<TextDigest> {
    let mut out = [0u8; 32];
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `None` for a blob that cannot be a vector (empty or a length not a multiple of 4).
fn from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    Some(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Store {
    /// `$first, $first+1, …` on PostgreSQL; `?` on SQLite, where sqlx binds numbered parameters
    /// by a linear search over their names (see `ingest_fast`).
    fn params(&self, first: usize, n: usize) -> String {
        let one = |i: usize| match self.backend {
            Backend::Postgres => format!("${}", first + i),
            Backend::Sqlite => "?".to_owned(),
        };
        (0..n).map(one).collect::<Vec<_>>().join(",")
    }

    /// The stored vectors of `model` among `digests` (absent ones are simply missing from the
    /// map; a damaged blob counts as absent, and the next [`Store::put_embeddings`] replaces it).
    pub async fn embeddings(&self, model: &str, digests: &[TextDigest]) -> Result<HashMap<TextDigest, Vec<f32>>> {
        let mut out = HashMap::with_capacity(digests.len());
        for chunk in digests.chunks(CHUNK) {
            let sql = format!(
                "SELECT digest, vector FROM kb_embeddings WHERE model = {} AND digest IN ({})",
                self.params(1, 1),
                self.params(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(model);
            for d in chunk {
                q = q.bind(hex(d));
            }
            for row in q.fetch_all(&self.read).await? {
                let digest: String = get(&row, "digest")?;
                let vector: Vec<u8> = get(&row, "vector")?;
                if let (Some(d), Some(v)) = (unhex(&digest), from_bytes(&vector)) {
                    out.insert(d, v);
                }
            }
        }
        Ok(out)
    }

    /// Stores vectors of `model` (replacing any stored under the same digest), in one
    /// transaction of multi-row statements.
    pub async fn put_embeddings(&self, model: &str, vectors: &[(TextDigest, Vec<f32>)]) -> Result<()> {
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        for chunk in vectors.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len()).map(|i| format!("({})", self.params(1 + 4 * i, 4))).collect();
            let sql = format!(
                "INSERT INTO kb_embeddings (model, digest, vector, created_at) VALUES {} \
                 ON CONFLICT (model, digest) DO UPDATE SET vector = excluded.vector, created_at = excluded.created_at",
                rows.join(",")
            );
            let mut q = sqlx::query(&sql);
            for (d, v) in chunk {
                q = q.bind(model).bind(hex(d)).bind(to_bytes(v)).bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_vectors_round_trip_through_their_stored_form() {
        let d: TextDigest = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(unhex(&hex(&d)), Some(d));
        assert_eq!(unhex("zz"), None);
        let v = vec![0.25f32, -1.5, f32::MIN_POSITIVE, 3.0e-8];
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
        assert_eq!(from_bytes(&[]), None);
    }
}
