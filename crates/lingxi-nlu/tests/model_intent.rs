//! Behaviour of the shipped default intent models and of tenant-trained intent models.

use std::sync::Arc;

use lingxi_nlu::intent::{
    default_model, default_training_data, DefaultLanguage, IntentConfig, IntentModel, IntentTrainingData, OUT_OF_SCOPE,
};

fn check(lang: DefaultLanguage, text: &str, expected: &str) {
    let r = default_model(lang).classify(text);
    let top = r.top.as_ref().map(|m| m.intent.as_str());
    assert_eq!(top, Some(expected), "{text}: {r:?}");
}

#[test]
fn shipped_data_has_twenty_intents_of_fifteen_examples_and_out_of_scope_ones() {
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let d = default_training_data(lang);
        assert_eq!(d.intents().len(), 21, "{lang:?}");
        assert!(d.intents().iter().all(|(_, ex)| ex.len() >= 15), "{lang:?}");
        let oos = d.intents().iter().find(|(n, _)| n == OUT_OF_SCOPE).map(|(_, ex)| ex.len());
        assert!(oos.is_some_and(|n| n >= 60), "{lang:?}: {oos:?}");
    }
}

/// The held-out probe set (tests/data/intent_probe.tsv, never trained on): the defaults must
/// reject most out-of-domain questions. Before the `out_of_scope` examples they rejected 30 %
/// (zh) and 35 % (en), and read "洗衣机的烘干功能怎么用" as `coupon` at 0.94.
#[test]
fn the_default_models_reject_out_of_domain_questions_of_the_probe_set() {
    let items = lingxi_nlu::probe::parse(include_str!("data/intent_probe.tsv"));
    let normalizer = lingxi_nlu::normalize::Normalizer::default();
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let model = default_model(lang);
        let mut score = lingxi_nlu::probe::ProbeScore::default();
        for item in items.iter().filter(|i| i.lang == lang) {
            score.add(item, &model.classify(&normalizer.normalize(&item.text).text));
        }
        println!("{lang:?}: {}", score.summary());
        assert_eq!((score.in_domain, score.out_of_domain), (60, 40), "{lang:?}");
        assert!(score.out_of_domain_rejection() >= 0.7, "{lang:?}: {}", score.summary());
        // A floor, not the target: before the negatives 85.0 % (zh) and 83.3 % (en); the
        // lexical model now loses some in-domain paraphrases to `out_of_scope` (the fused
        // model does not: crates/lingxi-server/tests/semantic.rs).
        assert!(score.in_domain_accuracy() >= 0.7, "{lang:?}: {}", score.summary());
    }
    let r = default_model(DefaultLanguage::Chinese).classify("洗衣机的烘干功能怎么用");
    assert!(r.out_of_scope && r.top.is_none() && r.best_guess.intent != OUT_OF_SCOPE, "{r:?}");
}

#[test]
fn chinese_default_intents() {
    use DefaultLanguage::Chinese as Zh;
    check(Zh, "我的快递怎么还没到", "logistics");
    check(Zh, "我想退货", "return_request");
    check(Zh, "帮我转人工客服", "human_agent");
    check(Zh, "发票怎么开", "invoice");
    check(Zh, "忘记登录密码了", "account_login");
    check(Zh, "退款什么时候到账啊", "refund_status");
    check(Zh, "刚买完就降价了", "price_protection");
    // A robot vacuum (扫地机器人) is a product, not a wish to leave the bot (机器人).
    check(Zh, "我家扫地机器人充不上电", "product_troubleshooting");
    check(Zh, "不要机器人，给我找个人", "human_agent");
}

#[test]
fn english_default_intents() {
    use DefaultLanguage::English as En;
    check(En, "where is my parcel?", "logistics");
    check(En, "I want to talk to a real person", "human_agent");
    check(En, "my coupon code is not working", "coupon");
    check(En, "please cancel my order", "cancel_order");
    check(En, "I forgot my password", "account_login");
}

#[test]
fn two_intents_in_one_message() {
    let m = default_model(DefaultLanguage::Chinese);
    let r = m.classify("我要退货，顺便问下发票怎么开");
    let top = r.top.expect("in scope").intent;
    let second = r.second.expect("second intent").intent;
    let mut got = [top.as_str(), second.as_str()];
    got.sort();
    assert_eq!(got, ["invoice", "return_request"]);

    let m = default_model(DefaultLanguage::English);
    let r = m.classify("where is my package? also I need an invoice");
    let mut got = [r.top.unwrap().intent, r.second.expect("second intent").intent];
    got.sort();
    assert_eq!(got, ["invoice".to_string(), "logistics".to_string()]);
}

#[test]
fn gibberish_is_out_of_scope() {
    for (lang, text) in [
        (DefaultLanguage::English, "qwzx vbnm plok"),
        (DefaultLanguage::English, ""),
        (DefaultLanguage::Chinese, "🙂🙂🙂"),
        (DefaultLanguage::Chinese, "量子色动力学的渐近自由"),
    ] {
        let r = default_model(lang).classify(text);
        assert!(r.out_of_scope, "{text:?}: {r:?}");
        assert!(r.top.is_none());
    }
}

#[test]
fn confidences_are_calibrated_probabilities() {
    let r = default_model(DefaultLanguage::Chinese).classify("我要取消订单");
    let top = r.top.unwrap();
    assert_eq!(top.intent, "cancel_order");
    assert!(top.confidence > 0.5 && top.confidence <= 1.0, "{top:?}");
    let total: f32 = r.alternatives.iter().map(|a| a.confidence).sum::<f32>() + top.confidence;
    assert!(total <= 1.0001);
    assert!(r.alternatives.windows(2).all(|w| w[0].confidence >= w[1].confidence));
}

#[test]
fn tenant_model_is_versioned_immutable_and_round_trips() {
    let mut data = IntentTrainingData::new();
    data.add(
        "open_account",
        ["how do I open an account", "sign me up", "create an account", "register a new account", "I want to join"],
    );
    data.add(
        "close_account",
        [
            "close my account",
            "delete my account please",
            "I want to leave",
            "terminate my membership",
            "cancel my account",
        ],
    );
    data.add(
        "opening_hours",
        ["when are you open", "opening hours", "what time do you close", "are you open on sunday", "business hours"],
    );
    let m = IntentModel::train(&data, &IntentConfig::default()).unwrap();
    let again = IntentModel::train(&data, &IntentConfig::default()).unwrap();
    assert_eq!(m.version(), again.version(), "training is deterministic");
    assert!(m.version().starts_with("intent-"));
    assert_eq!(m.classify("what are your opening hours").top.unwrap().intent, "opening_hours");
    let shared = Arc::new(m);
    let back = IntentModel::from_bytes(&shared.to_bytes()).unwrap();
    assert_eq!(back.version(), shared.version());
    assert_eq!(back.classify("please delete my account").top.unwrap().intent, "close_account");
    data.add("opening_hours", ["is the branch open late"]);
    let newer = IntentModel::train(&data, &IntentConfig::default()).unwrap();
    assert_ne!(newer.version(), shared.version());
    assert!(IntentModel::from_bytes(b"garbage").is_err());
}
