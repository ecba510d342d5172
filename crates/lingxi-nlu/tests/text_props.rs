//! Property tests: normalisation, segmentation, language and entities never panic on any string, and
//! every span they return is in bounds and on character boundaries.

use lingxi_nlu::entities::{mask_sensitive, EntityConfig, EntityExtractor, Now};
use lingxi_nlu::language::detect;
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::Segmenter;
use proptest::prelude::*;

fn span_ok(text: &str, span: &std::ops::Range<usize>) -> bool {
    span.start <= span.end
        && span.end <= text.len()
        && text.is_char_boundary(span.start)
        && text.is_char_boundary(span.end)
}

/// Strings biased toward what the pipeline looks at: Chinese, numerals, digits, punctuation, emoji.
fn messy() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<String>(),
        "[一二三四五六七八九十百千万亿零两块元号月点周]{1,8}",
        "[0-9 +\\-.,@xX:/]{1,24}",
        "[a-zA-Z0-9]{1,12}",
        "[！？!?。~…]{1,6}",
        "[😀😡👍🏽‍❤️️\u{200D}\u{FE0F}]{1,4}",
        "(退宽|发漂|快第|木有|肿么|亲|明天下午|上周|sf|订单|¥|\\$|tomorrow|next monday|3pm)",
        "[\u{0}-\u{1F}\u{3000}\u{FF01}-\u{FF5E}]{1,6}",
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pipeline_never_panics_and_spans_are_valid(raw in messy(), unix in -4_000_000_000i64..8_000_000_000, offset in -50_400i32..50_400) {
        let normalizer = Normalizer::new(["灵犀音箱"]);
        let normalized = normalizer.normalize(&raw);
        let text = &normalized.text;
        let _ = detect(&raw);
        let segmenter = Segmenter::with_user_words(["灵犀音箱", "pro"]);
        for token in segmenter.tokens(text) {
            prop_assert!(span_ok(text, &token.span));
        }
        let extractor = EntityExtractor::new(&EntityConfig {
            order_patterns: vec![],
            catalogue: vec!["iPhone 15".into(), "小米14".into()],
        }).unwrap();
        for entity in extractor.extract(text, Now { unix_secs: unix, utc_offset_secs: offset }) {
            prop_assert!(span_ok(text, &entity.span));
            prop_assert_eq!(&text[entity.span.clone()], entity.raw.as_str());
        }
        let _ = mask_sensitive(&raw);
        // Normalising twice changes nothing more than once (on the folded form).
        let again = normalizer.normalize(text);
        prop_assert!(again.text.len() <= text.len() + 8);
    }

    #[test]
    fn arbitrary_unicode_is_safe(raw in any::<String>()) {
        let normalized = Normalizer::default().normalize(&raw);
        prop_assert!(!normalized.text.starts_with(' ') && !normalized.text.ends_with(' '));
        let _ = EntityExtractor::default().extract(&normalized.text, Now::china(0));
        let _ = mask_sensitive(&raw);
    }
}

#[test]
fn large_and_degenerate_inputs() {
    let normalizer = Normalizer::default();
    let big = "我要退款！！！😀 order 13812345678 ".repeat(3_000);
    assert!(big.len() > 100_000);
    let n = normalizer.normalize(&big);
    assert!(!n.text.is_empty());
    let entities = EntityExtractor::default().extract(&n.text, Now::china(1_772_589_600));
    assert!(!entities.is_empty());
    let _ = Segmenter::new().tokens(&n.text);
    for raw in
        ["", "😀", "\u{0}", "\u{FEFF}", "\u{200D}", "！", "一", "万", "亿亿亿", "十十十", "[微笑", "]", "\u{10FFFF}"]
    {
        let n = normalizer.normalize(raw);
        let _ = EntityExtractor::default().extract(&n.text, Now::china(0));
        let _ = Segmenter::new().tokens(&n.text);
    }
    let zeros = "零".repeat(50_000);
    let _ = normalizer.normalize(&zeros);
    let digits = "9".repeat(50_000);
    let _ = EntityExtractor::default().extract(&digits, Now::china(0));
}
