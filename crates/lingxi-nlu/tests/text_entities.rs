//! Data-driven tests of entity extraction, masking and the whole normalise-then-extract path.

use lingxi_nlu::entities::{
    mask, mask_sensitive, Carrier, Currency, Date, EntityConfig, EntityExtractor, EntityKind, EntityValue, Now,
    PlaceKind,
};
use lingxi_nlu::normalize::Normalizer;

/// Wednesday 2026-03-04 10:00 in China (UTC+8).
const NOW: Now = Now { unix_secs: 1_772_589_600, utc_offset_secs: 8 * 3600 };

/// A compact rendering of one entity: `Kind(raw)=value`.
fn render(kind: EntityKind, raw: &str, value: &EntityValue) -> String {
    let v = match value {
        EntityValue::OrderNumber(n) => n.clone(),
        EntityValue::Phone(p) => format!("+{} {}", p.country_code, p.national),
        EntityValue::Email(e) => e.clone(),
        EntityValue::Tracking { carrier, number } => format!("{carrier:?} {number}"),
        EntityValue::Amount(m) => format!("{:?} {}", m.currency, m.minor_units),
        EntityValue::DateTime(dt) => {
            let d = dt.date;
            match dt.time {
                Some((h, m)) => format!("{:04}-{:02}-{:02} {h:02}:{m:02}", d.year, d.month, d.day),
                None => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
            }
        }
        EntityValue::Product { name, .. } => name.clone(),
        EntityValue::Location(p) => format!("{}/{}", p.name, p.province),
        EntityValue::IdCard { number, birth_date } => {
            format!("{number} {}-{}-{}", birth_date.year, birth_date.month, birth_date.day)
        }
        EntityValue::BankCard(n) => n.clone(),
    };
    format!("{kind:?}({raw})={v}")
}

fn extractor() -> EntityExtractor {
    EntityExtractor::new(&EntityConfig {
        order_patterns: vec![],
        catalogue: vec!["iPhone 15 Pro".into(), "iPhone 15".into(), "小米14".into(), "灵犀音箱".into()],
    })
    .expect("config is valid")
}

/// Normalises `input`, extracts entities and compares their rendering.
fn check(input: &str, expected: &[&str]) {
    let text = Normalizer::default().normalize(input).text;
    let got: Vec<String> = extractor()
        .extract(&text, NOW)
        .iter()
        .map(|e| {
            assert_eq!(&text[e.span.clone()], e.raw);
            render(e.kind, &e.raw, &e.value)
        })
        .collect();
    assert_eq!(got, expected, "entities of {input:?} (normalised {text:?})");
}

#[test]
fn phones() {
    check("我的手机13812345678", &["Phone(13812345678)=+86 13812345678"]);
    check("电话 138-1234-5678", &["Phone(138-1234-5678)=+86 13812345678"]);
    check("+86 138 1234 5678", &["Phone(+86 138 1234 5678)=+86 13812345678"]);
    check("008613812345678", &["Phone(008613812345678)=+86 13812345678"]);
    check("call +44 20 7946 0958", &["Phone(+44 20 7946 0958)=+44 2079460958"]);
    check("座机010-12345678", &["Phone(010-12345678)=+86 1012345678"]);
    check("12345678901", &["OrderNumber(12345678901)=12345678901"]);
    check("手机号一三八一二三四五六七八", &["Phone(13812345678)=+86 13812345678"]);
}

#[test]
fn emails() {
    check("邮箱是Zhang.San@Example.com谢谢", &["Email(zhang.san@example.com)=zhang.san@example.com"]);
    check("mail me at a_b+c@mail.qq.com.", &["Email(a_b+c@mail.qq.com)=a_b+c@mail.qq.com"]);
    check("not an email @ here", &[]);
}

#[test]
fn tracking_numbers() {
    check("顺丰单号SF1234567890123", &["TrackingNumber(SF1234567890123)=SfExpress SF1234567890123"]);
    check("中通快递 731234567890", &["TrackingNumber(731234567890)=Zto 731234567890"]);
    check("圆通YT1234567890123", &["TrackingNumber(YT1234567890123)=Yto YT1234567890123"]);
    check("韵达 4312345678901", &["TrackingNumber(4312345678901)=Yunda 4312345678901"]);
    check("京东JDVA01234567890", &["TrackingNumber(JDVA01234567890)=Jd JDVA01234567890"]);
    check("ems EA123456789CN", &["TrackingNumber(EA123456789CN)=ChinaPost EA123456789CN"]);
    check("ups 1Z999AA10123456784", &["TrackingNumber(1Z999AA10123456784)=Ups 1Z999AA10123456784"]);
    check("快递单号 9876543210123", &["TrackingNumber(9876543210123)=Unknown 9876543210123"]);
}

#[test]
fn order_numbers() {
    check("订单号 202603041234567", &["OrderNumber(202603041234567)=202603041234567"]);
    check("order DD2026030412345 not arrived", &["OrderNumber(DD2026030412345)=DD2026030412345"]);
    // As the customer wrote it (the lookup folds case; `/nlu/parse` shows what was typed).
    check("order dd2026030412345", &["OrderNumber(dd2026030412345)=dd2026030412345"]);
    check("订单6222021234567890128", &["OrderNumber(6222021234567890128)=6222021234567890128"]);
    let tenant = EntityExtractor::new(&EntityConfig { order_patterns: vec![r"LX-\d{6}".into()], catalogue: vec![] })
        .expect("valid pattern");
    let got = tenant.extract("我的订单lx-123456还没到", NOW);
    assert_eq!(got.len(), 1);
    // Kept in the tenant's own shape (separators are part of it).
    assert_eq!(got[0].value, EntityValue::OrderNumber("lx-123456".into()));
    let got = tenant.extract(&Normalizer::default().normalize("我的订单LX-123456还没到").text, NOW);
    assert_eq!(got[0].value, EntityValue::OrderNumber("LX-123456".into()));
    assert!(EntityExtractor::new(&EntityConfig { order_patterns: vec!["(".into()], catalogue: vec![] }).is_err());
}

#[test]
fn amounts() {
    check("两百块", &["Amount(200块)=Cny 20000"]);
    check("三百五十块", &["Amount(350块)=Cny 35000"]);
    check("¥199", &["Amount(¥199)=Cny 19900"]);
    check("￥１９９.５", &["Amount(¥199.5)=Cny 19950"]);
    check("199元", &["Amount(199元)=Cny 19900"]);
    check("1,299元", &["Amount(1,299元)=Cny 129900"]);
    check("$20", &["Amount($20)=Usd 2000"]);
    check("20 dollars", &["Amount(20 dollars)=Usd 2000"]);
    check("3.5万", &["Amount(3.5万)=Cny 3500000"]);
    check("一块五", &["Amount(1块5)=Cny 150"]);
    check("退我50欧元", &["Amount(50欧元)=Eur 5000"]);
    check("5k rmb", &["Amount(5k rmb)=Cny 500000"]);
    // A scale letter is a scale only as its own word: the w of "with" is not 万.
    check("¥399 with a case", &["Amount(¥399)=Cny 39900"]);
    check("¥3w", &["Amount(¥3w)=Cny 3000000"]);
    check("$2k budget", &["Amount($2k)=Usd 200000"]);
}

#[test]
fn dates_and_times() {
    check("明天下午三点", &["DateTime(明天下午3点)=2026-03-05 15:00"]);
    check("上周五买的", &["DateTime(上周五)=2026-02-27"]);
    check("下周一送到", &["DateTime(下周一)=2026-03-09"]);
    check("周日", &["DateTime(周日)=2026-03-08"]);
    check("3月5号", &["DateTime(3月5号)=2026-03-05"]);
    check("三月五号", &["DateTime(3月5号)=2026-03-05"]);
    check("2026-03-05", &["DateTime(2026-03-05)=2026-03-05"]);
    check("2025年12月31日晚上8点半", &["DateTime(2025年12月31日晚上8点半)=2025-12-31 20:30"]);
    check("昨天", &["DateTime(昨天)=2026-03-03"]);
    check("大后天", &["DateTime(大后天)=2026-03-07"]);
    check("3天前", &["DateTime(3天前)=2026-03-01"]);
    check("两个小时后", &["DateTime(2个小时后)=2026-03-04 12:00"]);
    check("今晚8点", &["DateTime(今晚8点)=2026-03-04 20:00"]);
    check("15:30", &["DateTime(15:30)=2026-03-04 15:30"]);
    check("5号楼", &[]);
    check("next Monday", &["DateTime(next monday)=2026-03-09"]);
    check("tomorrow 3pm", &["DateTime(tomorrow 3pm)=2026-03-05 15:00"]);
    check("tomorrow at 3:30 pm", &["DateTime(tomorrow at 3:30 pm)=2026-03-05 15:30"]);
    check("last friday", &["DateTime(last friday)=2026-02-27"]);
    check("March 5th, 2026", &["DateTime(march 5th, 2026)=2026-03-05"]);
    check("5 March", &["DateTime(5 march)=2026-03-05"]);
    check("in 3 days", &["DateTime(in 3 days)=2026-03-07"]);
    check("2 hours ago", &["DateTime(2 hours ago)=2026-03-04 08:00"]);
    check("yesterday", &["DateTime(yesterday)=2026-03-03"]);
    check("2月30号", &[]);
}

#[test]
fn products_and_places() {
    check("我的iPhone 15 Pro坏了", &["Product(iphone 15 pro)=iPhone 15 Pro"]);
    check("小米14怎么样", &["Product(小米14)=小米14"]);
    check("寄到广东省深圳市", &["Location(广东省)=广东省/广东省", "Location(深圳市)=深圳/广东省"]);
    check("发往北京", &["Location(北京)=北京市/北京市"]);
    check("杭州到上海", &["Location(杭州)=杭州/浙江省", "Location(上海)=上海市/上海市"]);
    let place = extractor().extract("吉林", NOW);
    assert!(matches!(&place[0].value, EntityValue::Location(p) if p.kind == PlaceKind::Province));
}

#[test]
fn sensitive_numbers() {
    check("身份证11010519491231002X", &["IdCard(11010519491231002X)=11010519491231002X 1949-12-31"]);
    check("身份证110105194912310021", &["OrderNumber(110105194912310021)=110105194912310021"]);
    check("卡号6222021234567890128", &["BankCard(6222021234567890128)=6222021234567890128"]);
    check("卡号 6222 0212 3456 7890 128", &["BankCard(6222 0212 3456 7890 128)=6222021234567890128"]);
    let got = extractor().extract("13812345678 11010519491231002X 4111111111111111 a@b.cn", NOW);
    assert!(got.iter().all(|e| e.sensitive), "{got:?}");
    assert_eq!(got.len(), 4);
}

#[test]
fn masking() {
    assert_eq!(mask(EntityKind::Phone, "13812345678"), "1381234****");
    assert_eq!(mask(EntityKind::Phone, "+86 138-1234-5678"), "+86 138-1234-****");
    assert_eq!(mask(EntityKind::BankCard, "6222021234561234"), "6222 **** **** 1234");
    assert_eq!(mask(EntityKind::BankCard, "6222021234567890128"), "6222 **** **** *** 0128");
    assert_eq!(mask(EntityKind::IdCard, "11010519491231002X"), "110105********002X");
    assert_eq!(mask(EntityKind::Email, "zhang@example.com"), "z***@example.com");
    assert_eq!(
        mask_sensitive("我是张三,电话13812345678,邮箱zhang@example.com,卡号6222021234561236 谢谢"),
        "我是张三,电话1381234****,邮箱z***@example.com,卡号6222 **** **** 1236 谢谢"
    );
    assert_eq!(mask_sensitive("身份证11010519491231002X"), "身份证110105********002X");
    assert_eq!(mask_sensitive("订单202603041234567 明天到"), "订单202603041234567 明天到");
    assert_eq!(mask_sensitive(""), "");
}

#[test]
fn mixed_message() {
    check(
        "我上周五买的iPhone 15，花了¥5999，訂單號12345678901234，能退嗎？電話13812345678",
        &[
            "DateTime(上周五)=2026-02-27",
            "Product(iphone 15)=iPhone 15",
            "Amount(¥5999)=Cny 599900",
            "OrderNumber(12345678901234)=12345678901234",
            "Phone(13812345678)=+86 13812345678",
        ],
    );
    let _ = Date { year: 2026, month: 3, day: 4 };
    let _ = Carrier::Unknown;
    let _ = Currency::Cny;
}
