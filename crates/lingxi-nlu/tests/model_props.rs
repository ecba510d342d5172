//! Property tests: arbitrary input never panics and always yields a defined result.

use lingxi_nlu::intent::{default_model, DefaultLanguage};
use lingxi_nlu::sentiment::analyze;
use proptest::prelude::*;

fn assert_defined(text: &str) {
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let r = default_model(lang).classify(text);
        assert!(r.best_guess.confidence.is_finite());
        assert!((0.0..=1.0).contains(&r.best_guess.confidence));
        assert_eq!(r.out_of_scope, r.top.is_none());
    }
    let s = analyze(text);
    assert!(s.score.is_finite() && (-1.0..=1.0).contains(&s.score));
    assert!((0.0..=1.0).contains(&s.intensity));
    for e in [s.emotions.anger, s.emotions.anxiety, s.emotions.disappointment, s.emotions.satisfaction] {
        assert!((0.0..=1.0).contains(&e));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_string(text in any::<String>()) {
        assert_defined(&text);
    }

    #[test]
    fn control_chars_and_emoji(text in "[\\x00-\\x1f\u{7f}😡🙂👍🤬\u{200d}\u{fe0f}！!？?]{0,64}") {
        assert_defined(&text);
    }

    #[test]
    fn mixed_chinese_english(text in "[a-zA-Z0-9 \u{4e00}-\u{4e80}，。]{0,80}") {
        assert_defined(&text);
    }
}

#[test]
fn edge_cases() {
    assert_defined("");
    assert_defined("😡😡😡😡");
    assert_defined("\u{0}\u{1}\u{2}\t\r\n");
    let big: String = "我要退货 where is my refund 😡 ".repeat(100_000 / 40);
    assert!(big.len() >= 90_000);
    assert_defined(&big);
}
