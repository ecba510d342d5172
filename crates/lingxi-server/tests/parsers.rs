//! Property tests: every parser at the edge takes arbitrary bytes and Unicode without
//! panicking, and what it accepts satisfies the invariants of the parsed type.

use lingxi_domain::{ChannelKind, Content, ConversationId, CustomerId, Identifier, IdentifierKind, Transition};
use lingxi_server::api::inbound::{parse_body, parse_identifier, parse_time, InboundBody};
use lingxi_server::config::{Config, Overrides};
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9+\\-() ]{0,24}",
        "[a-zA-Z0-9._%+@-]{0,40}",
        "\\PC{0,60}",
        Just("１３８１２３４５６７８".to_owned()),
        Just("\u{0}\u{7}\u{202e}😡🙏".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn inbound_body_from_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(body) = serde_json::from_slice::<InboundBody>(&bytes) {
            let _ = parse_body(body);
        }
    }

    #[test]
    fn inbound_body_from_arbitrary_fields(id in any_text(), kind in any_text(), value in any_text(), text in any_text(),
                                          name in proptest::option::of(any_text()), sent in proptest::option::of(any_text())) {
        let json = serde_json::json!({ "message_id": id, "sent_at": sent,
            "customer": { "identifiers": [{ "kind": kind, "value": value }], "display_name": name },
            "content": { "type": "text", "text": text } });
        let body: InboundBody = serde_json::from_value(json).unwrap();
        if let Ok(parsed) = parse_body(body) {
            prop_assert!(!parsed.identifiers.is_empty());
            prop_assert!(!parsed.external_id.is_empty() && parsed.external_id.chars().count() <= 128);
        }
    }

    #[test]
    fn identifiers_normalise_idempotently(kind in prop_oneof![Just("phone".to_owned()), Just("email".to_owned()), Just("member_id".to_owned()), Just("wechat_openid".to_owned()), "[a-z_]{1,8}"], raw in any_text()) {
        if let Ok(id) = parse_identifier(&kind, &raw) {
            // Normalising a normalised value changes nothing.
            let again = Identifier::parse(id.kind().clone(), id.value()).unwrap();
            prop_assert_eq!(&again, &id);
            if *id.kind() == IdentifierKind::Phone {
                prop_assert!(id.value().starts_with('+') && id.value()[1..].bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn other_parsers_never_panic(raw in any_text(), lat in any::<f64>(), lon in any::<f64>()) {
        let _ = Content::text(&raw);
        let _ = Content::image(&raw, None, None, None);
        let _ = Content::file(&raw, &raw, None, None);
        if let Ok(Content::Location { latitude, longitude, .. }) = Content::location(lat, lon, None) {
            prop_assert!(latitude.is_finite() && longitude.is_finite());
        }
        let _ = CustomerId::parse(&raw);
        let _ = ConversationId::parse(&raw);
        let _ = ChannelKind::parse(&raw);
        let _ = Transition::parse(&raw);
        let _ = parse_time(&raw);
        let _ = IdentifierKind::parse(&raw);
    }

    #[test]
    fn config_from_arbitrary_environment(listen in any_text(), url in any_text(), ttl in any_text()) {
        let env = |k: &str| match k {
            "LINGXI_LISTEN" => Some(listen.clone()),
            "LINGXI_DATABASE_URL" => Some(url.clone()),
            "LINGXI_SESSION_TTL_SECS" => Some(ttl.clone()),
            _ => None,
        };
        if let Ok(c) = Config::load_from(&Overrides::default(), env) {
            prop_assert!(c.session_ttl_secs >= 60);
        }
    }
}
