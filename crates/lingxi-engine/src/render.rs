//! Renders a bot message for the channel it goes out on: rich (buttons, links, images) where the
//! channel can show them, plain text elsewhere. The input is a [`Draft`], the richest form of
//! the message (a knowledge-base answer, a "did you mean" list, a flow choice); the output is
//! the `Content` to store and deliver. Every rich element has a plain-text form (numbered
//! options with "reply with the number", titled URLs, image URLs), so a plain channel loses
//! nothing but the looks.

use lingxi_domain::rich::{MAX_BUTTONS, MAX_IMAGES, MAX_LABEL_CHARS, MAX_LINKS, MAX_PAYLOAD_CHARS};
use lingxi_domain::{Button, ButtonAction, ChannelKind, Content, Link, RichContent, RichImage};
use lingxi_knowledge::model::{Answer, Rich};

/// What a channel can show besides text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Quick-reply and link buttons the customer can press.
    pub buttons: bool,
    /// Images shown inline.
    pub images: bool,
    /// Links as titled elements (otherwise "title: URL" lines in the text).
    pub links: bool,
}

impl Capabilities {
    pub const RICH: Capabilities = Capabilities { buttons: true, images: true, links: true };
    pub const PLAIN: Capabilities = Capabilities { buttons: false, images: false, links: false };

    /// The table of channel kinds. Web chat and the app (and API integrators, who get the
    /// structure and its text) show everything. WeChat official accounts, mini-program customer
    /// service and WeCom send text (URLs in it are clickable there): options become numbered
    /// lines. E-mail is text with URLs. Phone transcripts and in-store notes are read out or
    /// printed: plain text, URLs only.
    pub fn of(kind: ChannelKind) -> Capabilities {
        match kind {
            ChannelKind::WebChat | ChannelKind::MobileApp | ChannelKind::GenericApi => Capabilities::RICH,
            ChannelKind::WechatOfficial
            | ChannelKind::WechatMiniProgram
            | ChannelKind::Wecom
            | ChannelKind::Email
            | ChannelKind::PhoneTranscript
            | ChannelKind::InStore => Capabilities::PLAIN,
        }
    }

    fn any(self) -> bool {
        self.buttons || self.images || self.links
    }
}

/// A bot message in its richest form, before a channel is chosen. Unchecked: [`render`] trims
/// what exceeds the limits of rich content rather than failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub text: String,
    pub buttons: Vec<Button>,
    pub links: Vec<Link>,
    pub images: Vec<RichImage>,
}

impl Draft {
    /// Just text.
    pub fn text(text: impl Into<String>) -> Draft {
        Draft { text: text.into(), ..Draft::default() }
    }

    /// A knowledge-base answer (already picked for channel and language) with its rich items.
    pub fn answer(a: &Answer) -> Draft {
        let mut d = Draft::text(a.text());
        for r in a.rich() {
            match r {
                Rich::Link { title, url } => d.links.push(Link { title: title.clone(), url: url.clone() }),
                Rich::Image { url } => d.images.push(RichImage { url: url.clone(), alt: None }),
                Rich::Button { title, payload } => {
                    d.buttons.push(Button { label: title.clone(), action: ButtonAction::Reply(payload.clone()) })
                }
            }
        }
        d
    }

    /// A question with options to pick (suggested questions, a flow's choice, which order):
    /// each option is a button that sends its own label back.
    pub fn choice(text: impl Into<String>, options: &[String]) -> Draft {
        let buttons = options.iter().map(|o| Button { label: o.clone(), action: ButtonAction::Reply(o.clone()) });
        Draft { text: text.into(), buttons: buttons.collect(), ..Draft::default() }
    }

    /// The payloads of the quick-reply buttons, in the order a plain channel numbers them.
    pub fn reply_payloads(&self) -> Vec<String> {
        self.buttons
            .iter()
            .filter_map(|b| match &b.action {
                ButtonAction::Reply(p) => Some(p.clone()),
                ButtonAction::Open(_) => None,
            })
            .collect()
    }
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The message as the channel shows it. Elements the channel cannot show are written into the
/// text; if the rich form would still break a limit, the whole message goes out as text.
/// `None` when there is nothing to say (an empty draft).
pub fn render(d: &Draft, caps: Capabilities, chinese: bool) -> Option<Content> {
    // A message with nothing but text stays a text message everywhere.
    let has_elements = !(d.buttons.is_empty() && d.links.is_empty() && d.images.is_empty());
    if caps.any() && has_elements {
        if let Some(c) = rich(d, caps, chinese) {
            return Some(c);
        }
    }
    let text = plain(d, chinese, 1);
    Content::text(&text).or_else(|_| Content::text(&shorten(&text, lingxi_domain::message::MAX_TEXT_CHARS))).ok()
}

fn rich(d: &Draft, caps: Capabilities, chinese: bool) -> Option<Content> {
    let take = |on: bool, max: usize| if on { max } else { 0 };
    let buttons: Vec<Button> = d
        .buttons
        .iter()
        .take(take(caps.buttons, MAX_BUTTONS))
        .map(|b| Button {
            label: shorten(&b.label, MAX_LABEL_CHARS),
            action: match &b.action {
                ButtonAction::Reply(p) => ButtonAction::Reply(shorten(p, MAX_PAYLOAD_CHARS)),
                open => open.clone(),
            },
        })
        .collect();
    let links: Vec<Link> = d
        .links
        .iter()
        .take(take(caps.links, MAX_LINKS))
        .map(|l| Link { title: shorten(&l.title, MAX_LABEL_CHARS), url: l.url.clone() })
        .collect();
    let images: Vec<RichImage> = d.images.iter().take(take(caps.images, MAX_IMAGES)).cloned().collect();
    // What did not fit (or the channel cannot show) stays readable in the text.
    let rest = Draft {
        text: d.text.clone(),
        buttons: d.buttons[buttons.len()..].to_vec(),
        links: d.links[links.len()..].to_vec(),
        images: d.images[images.len()..].to_vec(),
    };
    let text = plain(&rest, chinese, buttons.len() + 1);
    RichContent::new(&text, buttons, links, images).ok().map(Content::Rich)
}

/// The text form: the message, numbered options with how to pick one, then URLs.
/// Options are numbered from `first` (after the ones shown as buttons, if any).
fn plain(d: &Draft, chinese: bool, first: usize) -> String {
    let mut out = d.text.trim().to_owned();
    let sep = if chinese { "：" } else { ": " };
    let mut n = first - 1;
    let mut opened = Vec::new();
    for b in &d.buttons {
        match &b.action {
            ButtonAction::Reply(_) => {
                n += 1;
                out.push_str(&format!("\n{n}. {}", b.label.trim()));
            }
            ButtonAction::Open(url) => opened.push(format!("{}{sep}{url}", b.label.trim())),
        }
    }
    if n >= first {
        out.push_str(if chinese { "\n（回复数字即可选择）" } else { "\n(Reply with a number to choose.)" });
    }
    for l in &d.links {
        opened.push(format!("{}{sep}{}", l.title.trim(), l.url));
    }
    for i in &d.images {
        let what = i.alt.as_deref().map(str::trim).filter(|a| !a.is_empty());
        opened.push(match (what, chinese) {
            (Some(a), _) => format!("{a}{sep}{}", i.url),
            (None, true) => format!("图片{sep}{}", i.url),
            (None, false) => format!("Image{sep}{}", i.url),
        });
    }
    if !opened.is_empty() {
        out.push('\n');
        for o in opened {
            out.push('\n');
            out.push_str(&o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq() -> Draft {
        let answer = Answer::parse(
            "签收 7 天内可申请退货。",
            vec![
                Rich::parse("link:退货政策=https://shop.example.com/returns").unwrap(),
                Rich::parse("image:https://cdn.example.com/return.png").unwrap(),
                Rich::parse("button:退款多久到账=退款多久到账？").unwrap(),
            ],
        )
        .unwrap();
        Draft::answer(&answer)
    }

    fn text_of(c: &Option<Content>) -> &str {
        match c.as_ref().expect("something to say") {
            Content::Text { text } => text,
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn rich_channels_get_every_element() {
        for kind in [ChannelKind::WebChat, ChannelKind::MobileApp, ChannelKind::GenericApi] {
            let Some(Content::Rich(r)) = render(&faq(), Capabilities::of(kind), true) else {
                panic!("{kind:?}: not rich")
            };
            assert_eq!(r.text(), "签收 7 天内可申请退货。", "{kind:?}: nothing duplicated into the text");
            assert_eq!(r.links(), [Link { title: "退货政策".into(), url: "https://shop.example.com/returns".into() }]);
            assert_eq!(r.images().len(), 1);
            assert_eq!(r.buttons()[0].action, ButtonAction::Reply("退款多久到账？".into()));
        }
    }

    #[test]
    fn plain_channels_get_numbered_options_and_urls() {
        let want = "签收 7 天内可申请退货。\n1. 退款多久到账\n（回复数字即可选择）\n\n退货政策：https://shop.example.com/returns\n图片：https://cdn.example.com/return.png";
        for kind in [
            ChannelKind::WechatOfficial,
            ChannelKind::WechatMiniProgram,
            ChannelKind::Wecom,
            ChannelKind::Email,
            ChannelKind::PhoneTranscript,
            ChannelKind::InStore,
        ] {
            assert_eq!(text_of(&render(&faq(), Capabilities::of(kind), true)), want, "{kind:?}");
        }
    }

    #[test]
    fn suggestions_are_buttons_or_numbered_lines() {
        let qs = vec!["退款多久到账？".to_owned(), "怎么开发票？".to_owned()];
        let d = Draft::choice("Did you mean one of these?", &qs);
        assert_eq!(d.reply_payloads(), qs);
        let Some(Content::Rich(r)) = render(&d, Capabilities::RICH, false) else { panic!("not rich") };
        let labels: Vec<&str> = r.buttons().iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["退款多久到账？", "怎么开发票？"]);
        assert_eq!(
            text_of(&render(&d, Capabilities::of(ChannelKind::Email), false)),
            "Did you mean one of these?\n1. 退款多久到账？\n2. 怎么开发票？\n(Reply with a number to choose.)"
        );
    }

    #[test]
    fn what_a_channel_cannot_show_stays_in_the_text() {
        // Links only: buttons become numbered lines, the image its URL, the link stays a link.
        let caps = Capabilities { buttons: false, images: false, links: true };
        let Some(Content::Rich(r)) = render(&faq(), caps, false) else { panic!("not rich") };
        assert!(r.buttons().is_empty() && r.images().is_empty());
        assert_eq!(r.links().len(), 1);
        assert!(
            r.text().contains("\n1. 退款多久到账\n") && r.text().contains("Image: https://cdn.example.com/return.png")
        );
        assert!(!r.text().contains("shop.example.com"), "the link is not repeated");
        // More options than a message may carry: the rest are numbered on after the buttons, so
        // a reply "11" means the same whichever way the options were shown.
        let many: Vec<String> = (1..=12).map(|i| format!("问题{i}")).collect();
        let Some(Content::Rich(r)) = render(&Draft::choice("选一个", &many), Capabilities::RICH, true) else {
            panic!()
        };
        assert_eq!(r.buttons().len(), MAX_BUTTONS);
        assert!(r.text().contains("\n11. 问题11\n12. 问题12"), "{}", r.text());
    }

    #[test]
    fn over_long_labels_are_shortened_and_bad_urls_fall_back_to_text() {
        let long = "很".repeat(MAX_LABEL_CHARS + 20);
        let Some(Content::Rich(r)) =
            render(&Draft::choice("选", std::slice::from_ref(&long)), Capabilities::RICH, true)
        else {
            panic!()
        };
        assert_eq!(r.buttons()[0].label.chars().count(), MAX_LABEL_CHARS);
        assert_eq!(r.buttons()[0].action, ButtonAction::Reply(long), "the payload is sent back whole");
        let bad = Draft {
            links: vec![Link { title: "x".into(), url: "https://a.example/\u{7}".into() }],
            ..Draft::text("hi")
        };
        assert_eq!(text_of(&render(&bad, Capabilities::RICH, false)), "hi\n\nx: https://a.example/\u{7}");
        assert_eq!(render(&Draft::text(" "), Capabilities::RICH, true), None);
        assert_eq!(
            render(&Draft::choice("hi", &[]), Capabilities::RICH, true),
            Some(Content::Text { text: "hi".into() })
        );
    }
}
