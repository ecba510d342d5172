//! Data-driven tests of normalisation and language detection.

use lingxi_nlu::language::{detect, Language};
use lingxi_nlu::normalize::{CorrectionKind, Normalizer};

fn check(input: &str, expected: &str) {
    let normalizer = Normalizer::default();
    let got = normalizer.normalize(input);
    assert_eq!(got.text, expected, "normalising {input:?}: {got:?}");
}

#[test]
fn width_case_and_whitespace() {
    check("ＡＢＣ１２３", "abc123");
    check("  Hello   World \t\n", "hello world");
    check("我的iPhone坏了", "我的iphone坏了");
    check("", "");
    check("   ", "");
    check("a\u{0}b\u{7}c", "abc");
    check("零\u{200B}宽", "零宽");
    check("订单号：１２３４５", "订单号:12345");
    check("ORDER  #A123", "order #a123");
}

#[test]
fn traditional_to_simplified() {
    check("我要退貨", "我要退货");
    check("這個訂單什麼時候發貨", "这个订单什么时候发货");
    check("請問運費怎麼算", "请问运费怎么算");
    check("發票開錯了", "发票开错了");
    check("謝謝", "谢谢");
}

#[test]
fn colloquial_variants() {
    check("木有收到货", "没有收到货");
    check("肿么还没发货", "怎么还没发货");
    check("神马情况", "什么情况");
    check("酱紫啊", "这样子啊");
    check("童鞋你好", "同学你好");
    check("亲,在吗", "在吗");
    check("亲，在吗", "在吗");
    check("我亲自去拿", "我亲自去拿");
    check("父亲的订单", "父亲的订单");
    check("啥时候到", "什么时候到");
    check("thx a lot", "thanks a lot");
    check("pls refund asap", "please refund as soon as possible");
    check("u盘坏了", "u盘坏了");
    check("can u help", "can you help");
    check("ubuntu", "ubuntu");
}

#[test]
fn english_service_words_in_chinese_text() {
    check("这个order怎么cancel", "这个订单怎么取消");
    check("我想refund", "我想退款");
    check("order号lx20261101001的invoice开了吗", "订单号lx20261101001的发票开了吗");
    check("帮我查下tracking", "帮我查下物流");
    check("我的 orders 呢", "我的 订单 呢");
    // Not in English text, not inside longer Latin words, not product names.
    check("cancel my order", "cancel my order");
    check("orderly退款", "orderly退款");
    check("我的iphone坏了", "我的iphone坏了");
    check("u盘坏了", "u盘坏了");
}

#[test]
fn pinyin_typos() {
    check("我要退宽", "我要退款");
    check("发漂开错了", "发票开错了");
    check("快第到哪了", "快递到哪了");
    check("我要偷诉", "我要投诉");
    check("今年收获很大", "今年收获很大");
    check("我只付了一半", "我只付了一半");
    check("一块地", "1块地");
    check("我想退款", "我想退款");
}

#[test]
fn tenant_terms_fix_tenant_typos() {
    let plain = Normalizer::default();
    let tenant = Normalizer::new(["灵犀音箱"]);
    assert_eq!(plain.normalize("灵西音箱坏了").text, "灵西音箱坏了");
    assert_eq!(tenant.normalize("灵西音箱坏了").text, "灵犀音箱坏了");
    let got = tenant.normalize("灵西音箱坏了");
    assert_eq!(got.corrections[0].kind, CorrectionKind::Typo);
    assert_eq!(got.corrections[0].from, "灵西音箱");
}

#[test]
fn chinese_numerals() {
    check("三百五十块", "350块");
    check("两百", "200");
    check("一千二", "1200");
    check("三万五", "35000");
    check("一百零五元", "105元");
    check("十五天", "15天");
    check("两个", "2个");
    check("明天下午三点", "明天下午3点");
    check("三点半", "3点半");
    check("下午一点", "下午1点");
    check("三月五号", "3月5号");
    check("二〇二六年", "2026年");
    check("一块五", "1块5");
    check("百分之五十", "50%");
    check("一千万", "10000000");
    check("一个月", "1个月");
    check("等了十分钟", "等了10分钟");
    // Words and idioms whose numerals are not numbers.
    check("一样", "一样");
    check("一起", "一起");
    check("等一下", "等一下");
    check("有一点贵", "有一点贵");
    check("十分满意", "十分满意");
    check("万一丢了", "万一丢了");
    check("千万别发", "千万别发");
    check("乱七八糟", "乱七八糟");
    check("一五一十", "一五一十");
    check("三番五次", "三番五次");
    check("星期三", "星期三");
    check("周一", "周一");
    check("第一次", "第一次");
    check("十几块", "十几块");
    check("五星好评", "五星好评");
    check("三星手机", "三星手机");
    check("一个", "一个");
    check("统一", "统一");
    check("七八个", "七八个");
}

#[test]
fn punctuation_and_emphasis() {
    let n = Normalizer::default();
    let got = n.normalize("怎么还没到！！！");
    assert_eq!(got.text, "怎么还没到!");
    assert_eq!(got.emphasis, 2);
    let got = n.normalize("what???!!");
    assert_eq!(got.text, "what?!");
    assert_eq!(got.emphasis, 3);
    let got = n.normalize("好吧。。。");
    assert_eq!(got.text, "好吧。");
    assert_eq!(got.emphasis, 0);
    check("价格1.5元", "价格1.5元");
    check("hmm......", "hmm.");
}

#[test]
fn emoji_are_kept_and_listed() {
    let n = Normalizer::default();
    let got = n.normalize("太慢了😡😡");
    assert_eq!(got.text, "太慢了😡😡");
    assert_eq!(got.emojis, vec!["😡", "😡"]);
    let got = n.normalize("👍🏽好评");
    assert_eq!(got.emojis, vec!["👍🏽"]);
    let got = n.normalize("👨‍👩‍👧");
    assert_eq!(got.emojis, vec!["👨‍👩‍👧"]);
    let got = n.normalize("收到了[微笑][捂脸]");
    assert_eq!(got.emojis, vec!["[微笑]", "[捂脸]"]);
    assert_eq!(got.text, "收到了[微笑][捂脸]");
    let got = n.normalize("❤️");
    assert_eq!(got.emojis, vec!["❤️"]);
    assert_eq!(got.language, Language::Unknown);
}

fn check_language(input: &str, expected: Language) {
    assert_eq!(detect(input), expected, "language of {input:?}");
}

#[test]
fn languages() {
    check_language("我要退款", Language::Chinese);
    check_language("我的iphone坏了", Language::Chinese);
    check_language("where is my order", Language::English);
    check_language("I want a 退款", Language::Mixed);
    check_language("这个order怎么cancel", Language::Mixed);
    check_language("12345", Language::Unknown);
    check_language("😀😀", Language::Unknown);
    check_language("", Language::Unknown);
    check_language("!!!", Language::Unknown);
    check_language("こんにちはありがとう", Language::Unknown);
    check_language("please refund 谢谢", Language::Mixed);
    check_language("don't ship it", Language::English);
}
