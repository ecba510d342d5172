//! The kinds of channel a customer can reach a tenant through.

/// A channel kind, parsed from its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    WebChat,
    MobileApp,
    WechatOfficial,
    WechatMiniProgram,
    Wecom,
    Email,
    PhoneTranscript,
    InStore,
    GenericApi,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 9] = [
        ChannelKind::WebChat,
        ChannelKind::MobileApp,
        ChannelKind::WechatOfficial,
        ChannelKind::WechatMiniProgram,
        ChannelKind::Wecom,
        ChannelKind::Email,
        ChannelKind::PhoneTranscript,
        ChannelKind::InStore,
        ChannelKind::GenericApi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::WebChat => "web_chat",
            ChannelKind::MobileApp => "mobile_app",
            ChannelKind::WechatOfficial => "wechat_official",
            ChannelKind::WechatMiniProgram => "wechat_mini_program",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Email => "email",
            ChannelKind::PhoneTranscript => "phone_transcript",
            ChannelKind::InStore => "in_store",
            ChannelKind::GenericApi => "generic_api",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether the channel is synchronous chat (counts against chat capacity) rather than
    /// asynchronous mail-like work.
    pub fn is_live_chat(self) -> bool {
        !matches!(self, ChannelKind::Email | ChannelKind::PhoneTranscript)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChannelKind::parse("fax"), None);
    }
}
