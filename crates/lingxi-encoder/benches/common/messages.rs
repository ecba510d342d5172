//! The eight short messages the encoder's latency is measured on (the criterion bench and the
//! `embed` example share them, so their numbers are comparable).

/// Short messages typical of a support chat, Chinese and English.
pub const MESSAGES: [&str; 8] = [
    "怎么退款",
    "我的订单什么时候发货？",
    "快递三天没更新了",
    "可以开发票吗",
    "How do I get a refund?",
    "Where is my package?",
    "I want to cancel my order",
    "谢谢！👍",
];
