//! Behaviour of the shipped sentiment artifacts (embedded) and the emotion/trend layer.

use lingxi_nlu::sentiment::{analyze, default_model, Polarity, SentimentTrend};

fn check(text: &str, expected: Polarity) {
    let r = analyze(text);
    assert_eq!(r.polarity, expected, "{text}: {r:?}");
}

#[test]
fn shipped_artifacts_are_embedded() {
    assert_eq!(default_model().has_models(), (true, true));
}

#[test]
fn obvious_chinese_examples() {
    check("质量很好，物流也快，非常满意！", Polarity::Positive);
    check("东西很好吃，送餐速度快，好评", Polarity::Positive);
    check("太差了，用了两天就坏了，再也不买了", Polarity::Negative);
    check("垃圾商家，骗子，我要投诉！！", Polarity::Negative);
    check("送餐慢，饭都凉了，难吃", Polarity::Negative);
}

#[test]
fn obvious_english_examples() {
    check("Thank you so much, the crew was amazing!", Polarity::Positive);
    check("This is ridiculous, my flight was cancelled again and nobody helps", Polarity::Negative);
    check("worst customer service ever, I want a refund asap", Polarity::Negative);
}

#[test]
fn emotions_and_intensity() {
    let r = analyze("气死我了！！！你们这群骗子😡");
    assert!(r.emotions.anger > 0.8, "{r:?}");
    assert!(r.intensity > 0.8);
    let r = analyze("麻烦赶紧帮我处理一下，急用");
    assert!(r.emotions.anxiety > 0.6, "{r:?}");
    let calm = analyze("好的");
    assert!(calm.emotions.anger < 0.1);
}

#[test]
fn conversation_trend_raises_handoff_signals() {
    let msgs = ["你好，我的订单到哪了", "怎么还没发货？", "都一个星期了！！", "你们就是骗子，垃圾，我要投诉😡"];
    let results: Vec<_> = msgs.iter().map(|m| analyze(m)).collect();
    let trend = SentimentTrend::from_results(&results);
    let s = trend.signals();
    assert!(s.angry && s.anger_rising, "{trend:?}");
    assert!(trend.average_score < 0.0);
    let happy: Vec<_> = ["谢谢", "好的，非常满意"].iter().map(|m| analyze(m)).collect();
    assert!(!SentimentTrend::from_results(&happy).signals().any());
}
