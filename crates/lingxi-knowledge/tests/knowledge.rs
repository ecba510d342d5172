//! Integration tests: demo knowledge base retrieval cases, import/export round trips and rejections, robustness.

use std::sync::OnceLock;

use lingxi_knowledge::io::{export_csv, export_markdown, import_csv, import_markdown, ImportPolicy, RowError};
use lingxi_knowledge::json::{import_dtos, FaqDto};
use lingxi_knowledge::model::{ChannelName, Label, ModelError};
use lingxi_knowledge::text::Analyzer;
use lingxi_knowledge::{Calibrator, Decision, Filter, KnowledgeIndex, Lang, RetrievalConfig, Status, Thresholds};

fn demo_index() -> &'static KnowledgeIndex {
    static INDEX: OnceLock<KnowledgeIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let report = lingxi_knowledge::demo::demo_entries();
        KnowledgeIndex::build(report.entries, Analyzer::default(), None, RetrievalConfig::default())
    })
}

/// The top entry for each query (lexical only, all live entries) must be the expected one.
#[track_caller]
fn check(cases: &[(&str, &str)]) {
    let index = demo_index();
    let mut failures = Vec::new();
    for (query, expected) in cases {
        let ranking = index.search(query, None, &Filter::at(0), 3);
        let got: Vec<&str> = ranking.hits.iter().map(|h| index.entries()[h.entry].id().as_str()).collect();
        if got.first() != Some(expected) {
            failures.push(format!("{query:?}: expected {expected}, ranked {got:?}"));
        }
        assert!(!ranking.semantic_used);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn demo_kb_is_valid_and_large_enough() {
    let report = lingxi_knowledge::demo::demo_entries();
    assert!(report.is_clean(), "{:?}", report.rejected);
    assert!(report.entries.len() >= 150, "{}", report.entries.len());
    let zh = report.entries.iter().filter(|e| e.lang() == Lang::Zh).count();
    let en = report.entries.iter().filter(|e| e.lang() == Lang::En).count();
    assert!(zh >= 75 && en >= 75, "zh {zh} en {en}");
    for e in &report.entries {
        assert!(e.similar().len() >= 3, "{} has {} similar phrasings", e.id(), e.similar().len());
    }
}

#[test]
fn chinese_queries() {
    check(&[
        ("我想退货该怎么弄", "zh-return-how"),
        ("退款多久能到账啊", "zh-return-refund-time"),
        ("退宽多久到账", "zh-return-refund-time"),  // typo 退宽
        ("怎麼開發票", "zh-order-invoice-request"), // traditional characters
        ("快遞到哪裡了", "zh-ship-track"),
        ("肿么取消订单", "zh-order-cancel"), // colloquial
        ("我的包裹到哪了", "zh-ship-track"),
        ("摄像头offline了咋办", "zh-cam-offline"), // mixed text
        ("扫地机器人不回充", "zh-vac-not-charging"),
        ("耳机左边没声音", "zh-ear-one-side"),
        ("门锁没电了进不去家", "zh-lock-battery"),
        ("积分可以抵现吗", "zh-points-use"),
        ("专票", "zh-invoice-vat"),
        ("转人工客服", "zh-human-agent"),
    ]);
}

#[test]
fn english_queries() {
    check(&[
        ("how do I return something", "en-return-how"),
        ("how long until my refund comes through", "en-refund-time"),
        ("refnud not recieved", "en-refund-time"), // typos
        ("Where is my parcel???", "en-ship-track"),
        ("wanna cancel my order", "en-order-cancel"),
        ("camera keeps going offline", "en-cam-offline"),
        ("earbuds wont pair with my phone", "en-ear-pair"),
        ("robot vacuum not charging", "en-vac-charging"),
        ("do points expire", "en-points-expire"),
        ("talk to a real person", "en-human"),
    ]);
}

#[test]
fn filters_language_product_status_and_time() {
    let report = lingxi_knowledge::demo::demo_entries();
    let mut entries = report.entries;
    // archive one entry, time-limit another
    let i = entries.iter().position(|e| e.id().as_str() == "zh-order-cancel").unwrap();
    entries[i] = entries[i].with_status(Status::Archived);
    assert_eq!(entries[i].version(), 2);
    let index = KnowledgeIndex::build(entries, Analyzer::default(), None, RetrievalConfig::default());
    let r = index.search("怎么取消订单", None, &Filter::at(0), 5);
    assert!(r.hits.iter().all(|h| index.entries()[h.entry].id().as_str() != "zh-order-cancel"));
    let en_only = Filter { lang: Some(Lang::En), ..Filter::at(0) };
    let r = index.search("退款", None, &en_only, 5);
    assert!(r.hits.iter().all(|h| index.entries()[h.entry].lang() == Lang::En));
    let lock = Label::parse("smart_lock").unwrap();
    let f = Filter { product: Some(&lock), ..Filter::at(0) };
    let r = index.search("怎么配网", None, &f, 5);
    for h in &r.hits {
        let p = index.entries()[h.entry].products();
        assert!(p.is_empty() || p.contains(&lock));
    }
    let web = ChannelName::parse("web_chat").unwrap();
    assert!(!index.search("发票", None, &Filter { channel: Some(&web), ..Filter::at(0) }, 3).hits.is_empty());
}

#[test]
fn decisions_answer_suggest_not_understood() {
    let index = demo_index();
    let cal = Calibrator::default();
    let th = Thresholds::default();
    let d = th.decide(&index.search("退款多久到账", None, &Filter::at(0), 3), &cal);
    assert!(matches!(d, Decision::Answer { .. }), "{d:?}");
    let d = th.decide(&index.search("今天天气怎么样", None, &Filter::at(0), 3), &cal);
    assert!(matches!(d, Decision::NotUnderstood { .. } | Decision::Suggest { .. }), "{d:?}");
    let d = th.decide(&index.search("", None, &Filter::at(0), 3), &cal);
    assert!(matches!(d, Decision::NotUnderstood { .. }), "{d:?}");
}

const GOOD_CSV: &str = "id,lang,question,similar,answer,rich,answer_variants,tags,products,channels,valid_from_ms,valid_to_ms,status,version
faq-1,zh,怎么退款,退款流程 | 如何退钱,在订单中申请售后。,link:售后入口=https://example.com/after-sales | button:转人工=human,wechat_official@zh: 点击菜单“售后”。,退换,,,,,published,3
faq-2,en,How do I get a refund?,refund please | money back,Request it in the order.,,,returns,earbuds,web_chat,1000,2000,draft,1
";

#[test]
fn csv_round_trip() {
    let r = import_csv(GOOD_CSV, ImportPolicy::AllOrNothing);
    assert!(r.is_clean(), "{:?}", r.rejected);
    assert_eq!(r.entries.len(), 2);
    let e = &r.entries[0];
    assert_eq!(e.similar().len(), 2);
    assert_eq!(e.answer().rich().len(), 2);
    assert_eq!(e.version(), 3);
    let wechat = ChannelName::parse("wechat_official").unwrap();
    assert_eq!(e.answer_for(Some(&wechat), Some(Lang::Zh)).text(), "点击菜单“售后”。");
    assert_eq!(e.answer_for(None, Some(Lang::Zh)).text(), "在订单中申请售后。");
    let e2 = &r.entries[1];
    assert!(!e2.is_live(1500), "draft is not live");
    assert!(e2.validity().contains(1500) && !e2.validity().contains(2000));
    let again = import_csv(&export_csv(&r.entries), ImportPolicy::AllOrNothing);
    assert_eq!(again.entries, r.entries);
    let md = import_markdown(&export_markdown(&r.entries), ImportPolicy::AllOrNothing);
    assert_eq!(md.entries, r.entries, "{:?}", md.rejected);
    let dtos: Vec<FaqDto> = r.entries.iter().map(FaqDto::from).collect();
    let json = serde_json::to_string(&dtos).unwrap();
    let back: Vec<FaqDto> = serde_json::from_str(&json).unwrap();
    assert_eq!(import_dtos(&back, ImportPolicy::AllOrNothing).entries, r.entries);
}

#[test]
fn import_rejects_bad_rows_with_reasons() {
    let csv = "id,lang,question,similar,answer,status,valid_from_ms,valid_to_ms,rich
ok-1,zh,怎么退款,,可以退。,published,,,
bad id!,zh,怎么退款,,可以退。,published,,,
ok-2,fr,How?,,Yes.,published,,,
ok-3,en,,,Yes.,published,,,
ok-4,en,Why?,,,published,,,
ok-5,en,Why?,,Because.,live,,,
ok-6,en,Why?,,Because.,published,2000,1000,
ok-7,en,Why?,why?,Because.,published,,,
ok-8,en,Why?,,Because.,published,,,image:not-a-url
ok-1,en,Again?,,Yes.,published,,,
";
    let r = import_csv(csv, ImportPolicy::AllOrNothing);
    assert!(r.entries.is_empty(), "all-or-nothing stores nothing");
    assert_eq!(r.n_rows, 10);
    let rows: Vec<(usize, &RowError)> = r.rejected.iter().map(|x| (x.row, &x.reason)).collect();
    assert_eq!(rows.len(), 9, "{rows:?}");
    assert!(matches!(rows[0], (3, RowError::Field { column: "id", source: ModelError::InvalidId(_) })));
    assert!(matches!(rows[1], (4, RowError::Field { column: "lang", .. })));
    assert!(matches!(rows[2], (5, RowError::Missing("question"))));
    assert!(matches!(rows[3], (6, RowError::Missing("answer"))));
    assert!(matches!(rows[4], (7, RowError::Field { column: "status", .. })));
    assert!(matches!(rows[5], (8, RowError::Field { source: ModelError::InvalidWindow { .. }, .. })));
    assert!(matches!(rows[6], (9, RowError::Field { source: ModelError::DuplicatePhrasing(_), .. })));
    assert!(matches!(rows[7], (10, RowError::Field { column: "rich", .. })));
    assert!(matches!(rows[8], (11, RowError::DuplicateId(_))));
    assert!(rows[0].1.to_string().contains("invalid entry id"));
    let kept = import_csv(csv, ImportPolicy::KeepValid);
    assert_eq!(kept.entries.len(), 1);
    assert_eq!(kept.rejected.len(), 9);
}

/// An entry whose channel and language variants carry their own links, images and buttons.
const VARIANTS_CSV: &str = "id,lang,question,answer,rich,answer_variants,answer_variants_rich
faq-v,zh,怎么退货,在订单中申请退货。,link:退货政策=https://example.com/returns,wechat_official@: 公众号菜单“售后”里申请。 || @en: Request it in the order. || web_chat@zh: 点下方按钮申请。,wechat_official@: link:售后入口=https://example.com/wx | image:https://cdn.example.com/wx.png || web_chat@zh: button:申请退货=我要退货 | button:退款多久=退款多久到账
";

#[test]
fn answer_variants_keep_their_rich_items_through_every_format() {
    let r = import_csv(VARIANTS_CSV, ImportPolicy::AllOrNothing);
    assert!(r.is_clean(), "{:?}", r.rejected);
    let e = &r.entries[0];
    let (wechat, web) = (ChannelName::parse("wechat_official").unwrap(), ChannelName::parse("web_chat").unwrap());
    let wx = e.answer_for(Some(&wechat), Some(Lang::Zh));
    assert_eq!(wx.text(), "公众号菜单“售后”里申请。");
    let wx_rich: Vec<String> = wx.rich().iter().map(ToString::to_string).collect();
    assert_eq!(wx_rich, ["link:售后入口=https://example.com/wx", "image:https://cdn.example.com/wx.png"]);
    let web_rich: Vec<String> =
        e.answer_for(Some(&web), Some(Lang::Zh)).rich().iter().map(ToString::to_string).collect();
    assert_eq!(web_rich, ["button:申请退货=我要退货", "button:退款多久=退款多久到账"]);
    assert!(e.answer_for(None, Some(Lang::En)).rich().is_empty(), "a variant does not inherit the default's items");
    assert_eq!(e.answer_for(None, Some(Lang::Zh)).rich().len(), 1, "the default keeps its own");
    // Each format gives back the same entry, variants' items included.
    let csv = export_csv(&r.entries);
    assert!(csv.contains("web_chat@zh: button:申请退货=我要退货 | button:退款多久=退款多久到账"), "{csv}");
    assert_eq!(import_csv(&csv, ImportPolicy::AllOrNothing).entries, r.entries);
    let md = export_markdown(&r.entries);
    assert!(
        md.contains("~ wechat_official@: 公众号菜单“售后”里申请。\n@ link:售后入口=https://example.com/wx\n"),
        "{md}"
    );
    let back = import_markdown(&md, ImportPolicy::AllOrNothing);
    assert_eq!(back.entries, r.entries, "{:?}", back.rejected);
    let dtos: Vec<FaqDto> = r.entries.iter().map(FaqDto::from).collect();
    assert_eq!(dtos[0].answer_variants[2].rich, ["button:申请退货=我要退货", "button:退款多久=退款多久到账"]);
    let json = serde_json::to_string(&dtos).unwrap();
    let back: Vec<FaqDto> = serde_json::from_str(&json).unwrap();
    assert_eq!(import_dtos(&back, ImportPolicy::AllOrNothing).entries, r.entries);
    // A variant text over several lines survives Markdown too (`~|` lines), as it does CSV.
    let two_lines = r#"[{"id":"m","lang":"zh","question":"怎么退货","answer":"可以退。","answer_variants":[{"channel":"email","answer":"第一行\n第二行","rich":["link:政策=https://example.com/p"]}]}]"#;
    let two_lines = import_dtos(&serde_json::from_str::<Vec<FaqDto>>(two_lines).unwrap(), ImportPolicy::AllOrNothing);
    let md = export_markdown(&two_lines.entries);
    assert!(md.contains("~ email@: 第一行\n~| 第二行\n@ link:政策=https://example.com/p\n"), "{md}");
    assert_eq!(import_markdown(&md, ImportPolicy::AllOrNothing).entries, two_lines.entries);
    assert_eq!(import_csv(&export_csv(&two_lines.entries), ImportPolicy::AllOrNothing).entries, two_lines.entries);
    // A variant written without items (the JSON of earlier versions) still reads.
    let old = r#"[{"id":"o","lang":"en","question":"Why?","answer":"Because.","answer_variants":[{"channel":"email","answer":"By mail."}]}]"#;
    let old: Vec<FaqDto> = serde_json::from_str(old).unwrap();
    assert!(import_dtos(&old, ImportPolicy::AllOrNothing).is_clean());
}

#[test]
fn bad_rich_items_in_a_variant_reject_the_row_in_every_format() {
    let csv = "id,lang,question,answer,answer_variants,answer_variants_rich
ok-1,zh,怎么退货,可以退。,email@: 邮件版。,email@: link:政策=https://example.com/p
bad-1,zh,怎么退货,可以退。,email@: 邮件版。,email@: image:javascript:alert(1)
bad-2,zh,怎么退货,可以退。,email@: 邮件版。,wecom@: button:转人工=human
bad-3,zh,怎么退货,可以退。,email@: 邮件版。,email@ link:政策
bad-4,zh,怎么退货,可以退。,email@: 邮件版。 || email@: 又一版。,
";
    let r = import_csv(csv, ImportPolicy::KeepValid);
    assert_eq!(r.entries.len(), 1, "{:?}", r.rejected);
    let rows: Vec<(usize, String)> = r.rejected.iter().map(|x| (x.row, x.reason.to_string())).collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(matches!(
        r.rejected[0].reason,
        RowError::Field { column: "answer_variants.rich", source: ModelError::InvalidRich(_) }
    ));
    assert_eq!(r.rejected[0].row, 3);
    assert!(rows[1].1.contains("no answer variant for \"wecom@\""), "{rows:?}");
    assert!(
        rows[2].1.contains("no answer variant for \"email@link\""),
        "a missing ':' reads as another scope: {rows:?}"
    );
    assert!(matches!(
        r.rejected[3].reason,
        RowError::Field { column: "answer_variants", source: ModelError::DuplicateVariant(_) }
    ));
    let md = "## md-1 zh\n? 怎么退货\n> 可以退。\n~ email@: 邮件版。\n@ button:=payload\n";
    let r = import_markdown(md, ImportPolicy::AllOrNothing);
    assert!(r.entries.is_empty());
    assert!(matches!(r.rejected[0].reason, RowError::Field { column: "answer_variants.rich", .. }), "{:?}", r.rejected);
    let dto: Vec<FaqDto> = serde_json::from_str(
        r#"[{"id":"j","lang":"en","question":"Why?","answer":"Because.","answer_variants":[{"channel":"email","answer":"By mail.","rich":["link:Policy=ftp://x"]}]}]"#,
    )
    .unwrap();
    let r = import_dtos(&dto, ImportPolicy::AllOrNothing);
    assert_eq!(r.rejected.len(), 1);
    assert!(r.rejected[0].reason.to_string().starts_with("column answer_variants.rich: invalid rich content"));
}

#[test]
fn articles_split_into_bounded_passages() {
    let md = "# 扫地机使用手册\n\n## 配网\n\n打开 App。按住电源键和回充键三秒。\n\n连接 2.4G Wi-Fi。\n\n## 清洁\n\n"
        .to_owned()
        + &"主刷每周清理一次。".repeat(30);
    let a = lingxi_knowledge::article::Article::parse(&md, 120).unwrap();
    assert_eq!(a.title(), "扫地机使用手册");
    assert!(a.passages().len() >= 3);
    assert!(a.passages().iter().all(|p| p.text.chars().count() <= 120));
    assert_eq!(a.passages()[0].heading, "扫地机使用手册 > 配网");
    assert!(lingxi_knowledge::article::Article::parse("  \n", 100).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_queries_never_panic(q in "\\PC{0,60}", v in proptest::collection::vec(-1.0f32..1.0, 0..8)) {
        let index = demo_index();
        let r = index.search(&q, Some(&v), &Filter::at(0), 3);
        proptest::prop_assert!(r.hits.len() <= 3);
        let c = Calibrator::default().confidence(&r);
        proptest::prop_assert!((0.0..=1.0).contains(&c));
    }

    #[test]
    fn arbitrary_csv_never_panics(s in "\\PC{0,200}") {
        let _ = import_csv(&s, ImportPolicy::KeepValid);
        let _ = import_markdown(&s, ImportPolicy::KeepValid);
    }

    /// Texts holding `|` and `\` — phrasings, rich items, a variant's text and its rich items —
    /// come back from a CSV export and import as they were.
    #[test]
    fn csv_round_trip_keeps_pipes_and_backslashes(
        similar in proptest::collection::vec("[a-z退货 |\\\\:@=]{1,12}", 0..3),
        variant in "[a-z退货 |\\\\:@=]{1,16}",
        title in "[a-z退货 |\\\\:@]{1,10}",
        payload in "[a-z退货 |\\\\:@=]{1,10}",
    ) {
        use lingxi_knowledge::io::{RawEntry, RawVariant};
        let raw = RawEntry {
            id: "faq-p".into(),
            lang: "zh".into(),
            questions: std::iter::once("怎么退货".to_owned()).chain(similar).collect(),
            answer: "可以退。".into(),
            rich: vec![format!("button:{title}={payload}")],
            answer_variants: vec![RawVariant {
                channel: "email".into(),
                lang: String::new(),
                text: variant,
                rich: vec![format!("link:{title}=https://example.com/a|b\\c"), format!("button:{payload}=x")],
            }],
            ..RawEntry::default()
        };
        let Ok(entry) = raw.parse() else { return Err(proptest::test_runner::TestCaseError::reject("not an entry")) };
        let csv = export_csv(std::slice::from_ref(&entry));
        let back = import_csv(&csv, ImportPolicy::AllOrNothing);
        proptest::prop_assert!(back.is_clean(), "{:?}\n{}", back.rejected, csv);
        proptest::prop_assert_eq!(&back.entries, &vec![entry], "{}", csv);
    }
}

#[test]
fn a_pipe_in_a_variant_text_stays_in_it_and_old_cells_read_as_before() {
    let csv = r#"id,lang,question,similar,answer,answer_variants,answer_variants_rich
faq-e,zh,怎么退货,退货 \| 换货怎么弄 | C:\docs,可以退。,email@: 选“退货 \| 换货”，路径 C:\\售后,email@: button:退 \| 换=退货
faq-o,zh,怎么换货,换货流程 | 换货 C:\docs,可以换。,email@: 邮件里说 \n 也行,
"#;
    let r = import_csv(csv, ImportPolicy::AllOrNothing);
    assert!(r.is_clean(), "{:?}", r.rejected);
    let e = &r.entries[0];
    let similar: Vec<&str> = e.phrasings().skip(1).map(|q| q.as_str()).collect();
    assert_eq!(similar, ["退货 | 换货怎么弄", "C:\\docs"]);
    let email = ChannelName::parse("email").unwrap();
    let v = e.answer_for(Some(&email), None);
    assert_eq!(v.text(), "选“退货 | 换货”，路径 C:\\售后");
    assert_eq!(v.rich().iter().map(ToString::to_string).collect::<Vec<_>>(), ["button:退 | 换=退货"]);
    // Written before escaping: no `\|` or `\\`, so a backslash stays and `|` splits as ever.
    let o = &r.entries[1];
    assert_eq!(o.phrasings().skip(1).map(|q| q.as_str()).collect::<Vec<_>>(), ["换货流程", "换货 C:\\docs"]);
    assert_eq!(o.answer_for(Some(&email), None).text(), "邮件里说 \\n 也行");
    // And the export escapes, so the import gives the same entries back.
    let out = export_csv(&r.entries);
    assert!(out.contains("退货 \\| 换货怎么弄 | C:\\\\docs"), "{out}");
    assert_eq!(import_csv(&out, ImportPolicy::AllOrNothing).entries, r.entries);
}

#[test]
fn review_workflow_allows_only_its_moves() {
    use lingxi_knowledge::Status::*;
    let all = [Draft, InReview, Published, Archived];
    let allowed: Vec<(lingxi_knowledge::Status, lingxi_knowledge::Status)> =
        all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).filter(|(a, b)| a.can_become(*b)).collect();
    assert_eq!(
        allowed,
        [
            (Draft, InReview),
            (Draft, Archived),
            (InReview, Draft),
            (InReview, Published),
            (InReview, Archived),
            (Published, Draft),
            (Published, Archived),
            (Archived, Draft),
        ]
    );
}
