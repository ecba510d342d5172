// Lingxi console: every user-visible string, in one dictionary per language (zh and en),
// plus the helpers that pick the language and translate. Loaded before api.js and app.js.
"use strict";

const I18N = {
  en: {
    "app.title": "Lingxi console",
    "brand": "Lingxi",
    "lang.toggle": "中文",
    "lang.toggle.label": "Switch language to Chinese",
    "login.heading": "Sign in to the console",
    "login.subtitle": "Omnichannel customer service",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.failed": "Sign-in failed: {message}",
    "logout": "Log out",
    "conn.live": "Live",
    "conn.connecting": "Connecting…",
    "conn.offline": "Reconnecting in {secs}s",
    "conn.label": "Live updates status",
    "list.label": "Conversations",
    "list.filters": "Conversation filters",
    "list.empty": "No conversations here.",
    "list.new": "new",
    "list.new.label": "New activity",
    "filter.all": "All",
    "filter.mine": "Mine",
    "filter.bot": "Bot",
    "filter.queued": "Queued",
    "filter.assigned": "Assigned",
    "filter.resolved": "Resolved",
    "state.bot": "Bot",
    "state.queued": "Queued",
    "state.assigned": "Assigned",
    "state.resolved": "Resolved",
    "state.closed": "Closed",
    "state.assigned_to_me": "Assigned to me",
    "conv.none": "Select a conversation to start.",
    "conv.label": "Conversation",
    "conv.messages": "Messages",
    "conv.empty": "No messages yet.",
    "handoff.title": "Hand-off summary",
    "conv.actions": "Conversation actions",
    "action.take": "Take",
    "action.take.label": "Assign this conversation to me",
    "action.resolve": "Resolve",
    "action.hand_back": "Hand back to bot",
    "action.requeue": "Return to queue",
    "action.close": "Close",
    "action.reopen": "Reopen",
    "reply.label": "Reply to the customer",
    "reply.placeholder": "Type a reply… (Enter to send, Shift+Enter for a new line)",
    "reply.send": "Send",
    "reply.closed": "This conversation is closed.",
    "sender.customer": "Customer",
    "sender.agent": "Agent",
    "sender.you": "You",
    "sender.bot": "Bot",
    "sender.system": "System",
    "via": "via {channel}",
    "customer.label": "Customer",
    "customer.none": "No customer selected.",
    "customer.identifiers": "Identifiers",
    "customer.tags": "Tags",
    "customer.attributes": "Attributes",
    "customer.none_listed": "None",
    "customer.unnamed": "Unnamed customer",
    "timeline.heading": "Timeline across channels",
    "timeline.label": "Cross-channel timeline",
    "timeline.empty": "No messages yet.",
    "timeline.conversation": "Conversation on {channel}",
    "timeline.this": "This conversation · {channel}",
    "timeline.earlier": "Earlier on {channel}",
    "content.image": "[image]",
    "content.file": "[file] {name}",
    "content.location": "[location] {label}",
    "time.just_now": "just now",
    "time.min": "{n} min",
    "time.hour": "{n} h",
    "error.generic": "Something went wrong: {message}",
    "error.network": "The server cannot be reached.",
    "channel.web_chat": "Web chat",
    "channel.mobile_app": "App",
    "channel.wechat_official": "WeChat",
    "channel.wechat_mini_program": "Mini Program",
    "channel.wecom": "WeCom",
    "channel.email": "Email",
    "channel.phone_transcript": "Phone",
    "channel.in_store": "In store",
    "channel.generic_api": "API",
    "ident.phone": "Phone",
    "ident.email": "Email",
    "ident.wechat_openid": "WeChat OpenID",
    "ident.wechat_unionid": "WeChat UnionID",
    "ident.member_id": "Member ID",
    "ident.device_id": "Device ID",
  },
  zh: {
    "app.title": "灵犀客服台",
    "brand": "灵犀",
    "lang.toggle": "English",
    "lang.toggle.label": "切换到英文",
    "login.heading": "登录客服台",
    "login.subtitle": "全渠道智能客服",
    "login.email": "邮箱",
    "login.password": "密码",
    "login.submit": "登录",
    "login.busy": "正在登录…",
    "login.failed": "登录失败：{message}",
    "logout": "退出登录",
    "conn.live": "实时",
    "conn.connecting": "连接中…",
    "conn.offline": "{secs} 秒后重连",
    "conn.label": "实时更新状态",
    "list.label": "会话",
    "list.filters": "会话筛选",
    "list.empty": "这里还没有会话。",
    "list.new": "新",
    "list.new.label": "有新动态",
    "filter.all": "全部",
    "filter.mine": "我的",
    "filter.bot": "机器人",
    "filter.queued": "排队中",
    "filter.assigned": "已分配",
    "filter.resolved": "已解决",
    "state.bot": "机器人",
    "state.queued": "排队中",
    "state.assigned": "已分配",
    "state.resolved": "已解决",
    "state.closed": "已关闭",
    "state.assigned_to_me": "分配给我",
    "conv.none": "请选择一个会话。",
    "conv.label": "会话",
    "conv.messages": "消息",
    "conv.empty": "还没有消息。",
    "handoff.title": "转人工摘要",
    "conv.actions": "会话操作",
    "action.take": "接手",
    "action.take.label": "把此会话分配给我",
    "action.resolve": "标记已解决",
    "action.hand_back": "交还机器人",
    "action.requeue": "退回队列",
    "action.close": "关闭",
    "action.reopen": "重新打开",
    "reply.label": "回复客户",
    "reply.placeholder": "输入回复…（Enter 发送，Shift+Enter 换行）",
    "reply.send": "发送",
    "reply.closed": "此会话已关闭。",
    "sender.customer": "客户",
    "sender.agent": "客服",
    "sender.you": "我",
    "sender.bot": "机器人",
    "sender.system": "系统",
    "via": "来自{channel}",
    "customer.label": "客户",
    "customer.none": "未选择客户。",
    "customer.identifiers": "身份标识",
    "customer.tags": "标签",
    "customer.attributes": "属性",
    "customer.none_listed": "无",
    "customer.unnamed": "未命名客户",
    "timeline.heading": "跨渠道时间线",
    "timeline.label": "跨渠道时间线",
    "timeline.empty": "还没有消息。",
    "timeline.conversation": "{channel}会话",
    "timeline.this": "当前会话 · {channel}",
    "timeline.earlier": "此前在{channel}",
    "content.image": "[图片]",
    "content.file": "[文件] {name}",
    "content.location": "[位置] {label}",
    "time.just_now": "刚刚",
    "time.min": "{n} 分钟前",
    "time.hour": "{n} 小时前",
    "error.generic": "出错了：{message}",
    "error.network": "无法连接服务器。",
    "channel.web_chat": "网页聊天",
    "channel.mobile_app": "App",
    "channel.wechat_official": "微信公众号",
    "channel.wechat_mini_program": "小程序",
    "channel.wecom": "企业微信",
    "channel.email": "邮件",
    "channel.phone_transcript": "电话",
    "channel.in_store": "门店",
    "channel.generic_api": "API",
    "ident.phone": "手机",
    "ident.email": "邮箱",
    "ident.wechat_openid": "微信 OpenID",
    "ident.wechat_unionid": "微信 UnionID",
    "ident.member_id": "会员号",
    "ident.device_id": "设备号",
  },
};

const LANG_KEY = "lingxi.lang";

/** The language in use: a saved choice, else the browser's preference (Chinese or English). */
function initialLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && I18N[saved]) return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  return String(prefs[0]).toLowerCase().startsWith("zh") ? "zh" : "en";
}

let currentLang = initialLang();

/** Translates a key, filling `{name}` placeholders from `vars`; unknown keys show as themselves. */
function t(key, vars) {
  const table = I18N[currentLang] || I18N.en;
  let s = table[key] !== undefined ? table[key] : (I18N.en[key] !== undefined ? I18N.en[key] : key);
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, name) => (vars[name] !== undefined ? String(vars[name]) : m));
  return s;
}

/** A channel kind's display name, e.g. `wechat_official` → "WeChat". */
function channelName(kind) {
  const key = "channel." + kind;
  return I18N.en[key] ? t(key) : kind;
}

function setLang(lang) {
  currentLang = I18N[lang] ? lang : "en";
  localStorage.setItem(LANG_KEY, currentLang);
}

/** Fills every element marked with data-i18n (text), data-i18n-label (aria-label) or data-i18n-placeholder. */
function translateStatic(root) {
  document.documentElement.lang = currentLang === "zh" ? "zh-CN" : "en";
  document.title = t("app.title");
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder)); });
}
