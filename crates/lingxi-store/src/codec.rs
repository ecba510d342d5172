//! Conversions between domain values and their stored form (JSON text columns).

use lingxi_domain::{ButtonAction, Content};
use serde_json::{json, Value};

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) fn content_to_json(c: &Content) -> String {
    content_body(c).to_string()
}

/// A message's content as stored in its row's JSON column (and as the API and live events show
/// it): the kind's fields, without the `type` tag, which has a column of its own.
pub fn content_body(c: &Content) -> Value {
    match c {
        Content::Text { text } => json!({ "text": text }),
        Content::Image { url, mime, size_bytes, caption } => {
            json!({ "url": url, "mime": mime, "size_bytes": size_bytes, "caption": caption })
        }
        Content::File { url, name, mime, size_bytes } => {
            json!({ "url": url, "name": name, "mime": mime, "size_bytes": size_bytes })
        }
        Content::Location { latitude, longitude, label } => {
            json!({ "latitude": latitude, "longitude": longitude, "label": label })
        }
        Content::Rich(r) => json!({
            "text": r.text(),
            "buttons": r.buttons().iter().map(|b| match &b.action {
                ButtonAction::Reply(payload) => json!({ "label": b.label, "payload": payload }),
                ButtonAction::Open(url) => json!({ "label": b.label, "url": url }),
            }).collect::<Vec<_>>(),
            "links": r.links().iter().map(|l| json!({ "title": l.title, "url": l.url })).collect::<Vec<_>>(),
            "images": r.images().iter().map(|i| json!({ "url": i.url, "alt": i.alt })).collect::<Vec<_>>(),
        }),
    }
}

pub(crate) fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub(crate) fn string_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
