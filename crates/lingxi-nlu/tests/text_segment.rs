//! Data-driven tests of segmentation, tenant dictionaries and lexical units.

use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::{char_bigrams, Segmenter, TokenKind};

/// Normalises `input`, segments it and compares the token texts (whitespace dropped).
fn check(segmenter: &Segmenter, input: &str, expected: &[&str]) {
    let text = Normalizer::default().normalize(input).text;
    let tokens = segmenter.tokens(&text);
    for t in &tokens {
        assert_eq!(&text[t.span.clone()], t.text, "span of {t:?}");
    }
    let got: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(got, expected, "tokens of {input:?}");
}

#[test]
fn chinese_english_and_numbers() {
    let s = Segmenter::new();
    check(&s, "我要退款", &["我要", "退款"]);
    // English service words in Chinese become Chinese words (normalisation); others stay.
    check(&s, "这个order怎么cancel", &["这个", "订单", "怎么", "取消"]);
    check(&s, "这个iphone怎么reset", &["这个", "iphone", "怎么", "reset"]);
    check(&s, "三百五十块", &["350", "块"]);
    check(&s, "Where is my ORDER", &["where", "is", "my", "order"]);
    check(&s, "", &[]);
    check(&s, "快递到哪了？", &["快递", "到", "哪", "了", "?"]);
}

#[test]
fn tenant_words_stay_whole_and_stay_in_their_tenant() {
    let plain = Segmenter::new();
    let tenant = Segmenter::with_user_words(["灵犀音箱", "Pro Max"]);
    let text = "灵犀音箱没声音";
    let plain_words: Vec<String> = plain.tokens(text).into_iter().map(|t| t.text).collect();
    assert!(!plain_words.contains(&"灵犀音箱".to_owned()), "{plain_words:?}");
    check(&tenant, text, &["灵犀音箱", "没", "声音"]);
    check(&tenant, "iphone pro max坏了", &["iphone", "pro max", "坏", "了"]);
    // The overlay needs word edges for ASCII words.
    check(&tenant, "promaxx", &["promaxx"]);
}

#[test]
fn token_kinds() {
    let s = Segmenter::new();
    let kinds: Vec<TokenKind> = s.tokens("退款 refund 350 😀 !").into_iter().map(|t| t.kind).collect();
    assert_eq!(kinds, vec![TokenKind::Han, TokenKind::Latin, TokenKind::Number, TokenKind::Emoji, TokenKind::Punct]);
}

#[test]
fn lexical_units_and_bigrams() {
    assert_eq!(char_bigrams("退款申请"), vec!["退款", "款申", "申请"]);
    assert_eq!(char_bigrams("我 要"), vec!["我", "要"]);
    assert_eq!(char_bigrams("abc"), Vec::<String>::new());
    let units = Segmenter::new().lexical_units("退款!refund");
    assert_eq!(units.words, vec!["退款", "refund"]);
    assert_eq!(units.bigrams, vec!["退款"]);
}
