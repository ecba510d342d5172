// Lingxi console: the agent workspace. Login and logout, the conversation list with filters,
// the open conversation (messages, reply box, state transitions), the customer panel with the
// cross-channel timeline, and live updates from the WebSocket. Uses i18n.js (t, channelName)
// and api.js (api, LiveSocket). Sections: helpers · state · session · list · conversation ·
// customer panel · live events · language · boot.
"use strict";

/* ───────────────────────────── helpers ───────────────────────────── */

const $ = (id) => document.getElementById(id);

/** Builds an element: h("span", {class: "x", dataset: {testid: "y"}}, "text", child…). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function locale() {
  return currentLang === "zh" ? "zh-CN" : "en-GB";
}

/** "just now", "5 min", "3 h", or a short date and time. */
function relativeTime(iso) {
  if (!iso) return "";
  const then = new Date(iso);
  const secs = (Date.now() - then.getTime()) / 1000;
  if (secs < 60 && secs > -60) return t("time.just_now");
  if (secs > 0 && secs < 3600) return t("time.min", { n: Math.floor(secs / 60) });
  if (secs > 0 && secs < 6 * 3600) return t("time.hour", { n: Math.floor(secs / 3600) });
  return shortDateTime(iso);
}

function shortDateTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

function byTime(a, b) {
  return (a.sent_at || "").localeCompare(b.sent_at || "") || (a.received_at || "").localeCompare(b.received_at || "") || a.id.localeCompare(b.id);
}

/** Only http(s) URLs become links or images (the server checks too; this is the second lock). */
function safeUrl(u) {
  return typeof u === "string" && /^https?:\/\//i.test(u) ? u : null;
}

/** A message's bubble: its text, and a rich message's images, links and buttons as the
 * customer sees them (the agent's buttons are shown, not pressed). DOM nodes only. */
function contentView(content) {
  const parts = [contentText(content)];
  if (content && content.type === "rich") {
    for (const img of content.images || []) {
      const src = safeUrl(img.url);
      if (src) parts.push(h("img", { class: "rich-img", src, alt: img.alt || "", loading: "lazy", referrerpolicy: "no-referrer", dataset: { testid: "message-image" } }));
    }
    const links = (content.links || []).map((l) => [l.title, safeUrl(l.url)])
      .concat((content.buttons || []).filter((b) => b.url).map((b) => [b.label, safeUrl(b.url)]))
      .filter(([, url]) => url);
    if (links.length) {
      parts.push(h("div", { class: "rich-links" }, links.map(([title, href]) =>
        h("a", { href, target: "_blank", rel: "noopener noreferrer", dataset: { testid: "message-link" } }, title))));
    }
    const replies = (content.buttons || []).filter((b) => b.payload !== undefined && b.payload !== null);
    if (replies.length) {
      parts.push(h("div", { class: "rich-buttons" }, replies.map((b) =>
        h("span", { class: "rich-button", title: b.payload, dataset: { testid: "message-button" } }, b.label))));
    }
  }
  return parts;
}

/** A message's content as one line of text. */
function contentText(content) {
  if (!content) return "";
  switch (content.type) {
    case "text": return content.text || "";
    case "image": return t("content.image") + (content.caption ? " " + content.caption : "");
    case "file": return t("content.file", { name: content.name || "" });
    case "location": return t("content.location", { label: content.label || `${content.latitude}, ${content.longitude}` });
    case "rich": return content.text || "";
    default: return content.text || "[" + (content.type || "?") + "]";
  }
}

function channelBadge(kind) {
  return h("span", { class: "badge ch ch-" + kind, dataset: { testid: "channel-badge", channel: kind } }, channelName(kind));
}

function statePill(stateName) {
  return h("span", { class: "state st-" + stateName, dataset: { state: stateName } }, t("state." + stateName));
}

function customerName(c) {
  if (!c) return t("customer.unnamed");
  if (c.display_name) return c.display_name;
  const first = (c.identifiers || [])[0];
  return first ? first.value : t("customer.unnamed");
}

let toastTimer = null;
function toast(message) {
  const el = $("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

/** Reports a failed call; a lost session sends the agent back to the login page. */
function handleError(e) {
  if (e && e.status === 401) {
    endSession();
    return;
  }
  toast(t("error.generic", { message: (e && e.message) || String(e) }));
}

/* ───────────────────────────── state ───────────────────────────── */

// Tabs (queue, mine, team, all) then states. "all" is everything the caller may see: the whole
// tenant for supervisors and admins, their teams and unteamed conversations for agents.
const FILTERS = ["queue", "mine", "team", "all", "bot", "assigned", "resolved"];

const state = {
  me: null,               // GET /me: {user, tenant, permissions}
  filter: "all",
  conversations: [],      // the list under the current filter
  customers: new Map(),   // customer id → customer view (names for the list)
  unseen: new Set(),      // conversation ids with activity the agent has not opened
  openId: null,
  open: null,             // GET /conversations/{id}: {conversation, customer, messages}
  timeline: null,         // GET /customers/{id}/timeline
  conn: { status: "connecting", retryMs: 0 },
  live: null,
  listSeq: 0,
  openSeq: 0,
};

function can(permission) {
  return !!(state.me && state.me.permissions && state.me.permissions.includes(permission));
}

/* ───────────────────────────── session ───────────────────────────── */

function showLogin() {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  $("login-submit").disabled = false;
  $("login-submit").textContent = t("login.submit");
  $("login-email").focus();
}

async function showApp(me) {
  state.me = me;
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("me-name").textContent = me.user.name;
  workspaceSession(me);
  knowledgeSession(me);
  nluSession(me);
  renderFilters();
  renderConversation();
  renderCustomer();
  state.live = new LiveSocket({ onEvent: onLiveEvent, onStatus: onConnStatus, onReconnected: refreshAll });
  state.live.start();
  await loadList();
  const fromHash = location.hash.match(/^#\/c\/([\w-]+)$/);
  if (fromHash) openConversation(fromHash[1]);
}

/** Forgets everything about the session and shows the login page. */
function endSession() {
  if (state.live) state.live.stop();
  Object.assign(state, { me: null, conversations: [], openId: null, open: null, timeline: null, live: null });
  state.customers.clear();
  state.unseen.clear();
  $("conversation-list").replaceChildren();
  workspaceSession(null);
  knowledgeSession(null);
  nluSession(null);
  history.replaceState(null, "", location.pathname);
  showLogin();
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const err = $("login-error");
  err.hidden = true;
  $("login-submit").disabled = true;
  $("login-submit").textContent = t("login.busy");
  try {
    await api.login(email, password);
    const me = await api.me();
    $("login-password").value = "";
    await showApp(me);
  } catch (e) {
    err.textContent = t("login.failed", { message: e.message });
    err.hidden = false;
    $("login-submit").disabled = false;
    $("login-submit").textContent = t("login.submit");
  }
}

async function onLogout() {
  try {
    await api.logout();
  } catch (e) {
    /* the session may already be gone: log out locally anyway */
  }
  endSession();
}

/* ───────────────────────────── conversation list ───────────────────────────── */

function renderFilters() {
  const box = $("filters");
  box.replaceChildren(
    ...FILTERS.map((f) =>
      h("button", {
        type: "button", role: "tab", class: "filter" + (f === state.filter ? " active" : ""),
        "aria-selected": f === state.filter ? "true" : "false",
        dataset: { testid: "filter-" + f, filter: f },
        onclick: () => setFilter(f),
      }, t("filter." + f)),
    ),
  );
}

function setFilter(f) {
  if (f === state.filter) return;
  state.filter = f;
  renderFilters();
  state.conversations = [];
  renderList();
  loadList();
}

async function loadList() {
  const seq = ++state.listSeq;
  try {
    const data = await api.conversations(state.filter);
    if (seq !== state.listSeq) return; // a newer load is on its way
    state.conversations = data.conversations;
    renderList();
    await loadCustomers(state.conversations.map((c) => c.customer_id));
  } catch (e) {
    handleError(e);
  }
}
const scheduleListRefresh = debounce(loadList, 120);

/** Fetches the customers the list names but the cache lacks, then redraws the list. */
async function loadCustomers(ids) {
  const missing = [...new Set(ids)].filter((id) => !state.customers.has(id));
  if (!missing.length) return;
  const results = await Promise.allSettled(missing.map((id) => api.customer(id)));
  results.forEach((r) => { if (r.status === "fulfilled") state.customers.set(r.value.customer.id, r.value.customer); });
  renderList();
}

function renderList() {
  const list = $("conversation-list");
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.conversationId : null;
  const rows = state.conversations.map((c) => {
    const selected = c.id === state.openId;
    const unseen = state.unseen.has(c.id);
    const mine = state.me && c.state === "assigned" && c.assignee_id === state.me.user.id;
    return h("li", {},
      h("button", {
        type: "button",
        class: "conv-row" + (selected ? " selected" : "") + (unseen ? " unseen" : ""),
        "aria-current": selected ? "true" : null,
        dataset: { testid: "conversation-row", conversationId: c.id, customerId: c.customer_id, state: c.state, channel: c.channel_kind },
        onclick: () => openConversation(c.id),
      },
        h("span", { class: "row-top" },
          h("span", { class: "row-name", dataset: { testid: "row-customer" } }, customerName(state.customers.get(c.customer_id))),
          h("time", { class: "row-time", datetime: c.last_message_at, title: shortDateTime(c.last_message_at), dataset: { testid: "row-time" } }, relativeTime(c.last_message_at)),
        ),
        h("span", { class: "row-bottom" },
          channelBadge(c.channel_kind),
          statePill(c.state),
          mine ? h("span", { class: "mine-mark", title: t("state.assigned_to_me") }, t("filter.mine")) : null,
          emotionBadge(c),
          h("span", { class: "spacer" }),
          unseen ? h("span", { class: "new-marker", "aria-label": t("list.new.label"), dataset: { testid: "new-marker" } }, t("list.new")) : null,
        ),
      ),
    );
  });
  list.replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
  if (focusedId) {
    const again = list.querySelector(`[data-conversation-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

/* ───────────────────────────── conversation view ───────────────────────────── */

async function openConversation(id) {
  state.openId = id;
  state.unseen.delete(id);
  if (location.hash !== "#/c/" + id) history.replaceState(null, "", "#/c/" + id);
  if (!state.open || state.open.conversation.id !== id) {
    state.open = null;
    state.timeline = null;
    resetWorkspace();
  }
  renderList();
  await refreshOpen();
  if (state.openId === id) $("reply-input").focus();
}

/** Reloads the open conversation and its customer's timeline. */
async function refreshOpen() {
  const id = state.openId;
  if (!id) return;
  const seq = ++state.openSeq;
  try {
    const detail = await api.conversation(id);
    if (seq !== state.openSeq) return;
    state.open = detail;
    state.customers.set(detail.customer.id, detail.customer);
    renderConversation();
    loadWorkspaceExtras(id, seq);
    const tl = await api.timeline(detail.customer.id);
    if (seq !== state.openSeq) return;
    state.timeline = tl;
    renderCustomer();
    renderConversation();
  } catch (e) {
    if (e.status === 404) {
      state.openId = null;
      state.open = null;
      renderConversation();
      renderCustomer();
    }
    handleError(e);
  }
}
const scheduleOpenRefresh = debounce(refreshOpen, 120);

/** Whether an event about this conversation or customer changes what the open view shows. The
 * conversation being opened counts before its first load returns: that load may have been
 * read before the event's change, and nothing else would bring the change in. */
function concernsOpen(conversationId, customerId) {
  if (!state.openId) return false;
  return conversationId === state.openId || (Boolean(state.open) && customerId === state.open.customer.id);
}

/** The buttons offered in each state (the server checks again). */
function allowedActions(conv) {
  const mine = state.me && conv.assignee_id === state.me.user.id;
  const supervise = can("supervise_queues");
  switch (conv.state) {
    case "bot": return ["take", "resolve", "close"];
    case "queued": return supervise ? ["take", "transfer", "hand_back", "resolve", "close"] : ["take", "hand_back", "resolve", "close"];
    case "assigned": return mine ? ["requeue", "transfer", "hand_back", "resolve", "close"]
      : supervise ? ["take", "transfer", "hand_back", "resolve", "close"] : ["take", "hand_back", "resolve", "close"];
    case "resolved": return ["reopen", "close"];
    default: return [];
  }
}

async function runAction(action) {
  const conv = state.open && state.open.conversation;
  if (!conv) return;
  if (action === "transfer") {
    openTransfer();
    return;
  }
  const buttons = $("conv-actions").querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    let res;
    if (action === "take") {
      // Taking from the bot is a hand-off to people followed by the assignment to me.
      if (conv.state === "bot") await api.transition(conv.id, "hand_off", { reason: "taken over by an agent" });
      res = await api.transition(conv.id, "assign", { assignee_id: state.me.user.id });
    } else {
      res = await api.transition(conv.id, action);
    }
    applyConversationUpdate(res.conversation);
  } catch (e) {
    handleError(e);
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** Puts a changed conversation into the list and the open view. */
function applyConversationUpdate(conv) {
  const idx = state.conversations.findIndex((c) => c.id === conv.id);
  if (idx >= 0) state.conversations[idx] = conv;
  renderList();
  if (state.open && state.open.conversation.id === conv.id) {
    state.open.conversation = conv;
    renderConversation();
  }
  scheduleListRefresh(); // membership of the filtered list may have changed
}

async function onReplySubmit(ev) {
  ev.preventDefault();
  const input = $("reply-input");
  const text = input.value.trim();
  if (!text || !state.open) return;
  const conv = state.open.conversation;
  $("reply-send").disabled = true;
  try {
    const res = await api.reply(conv.id, text);
    input.value = "";
    if (state.open && state.open.conversation.id === conv.id && !state.open.messages.some((m) => m.id === res.message.id)) {
      state.open.messages.push(res.message);
      renderMessages();
    }
    scheduleOpenRefresh();
  } catch (e) {
    handleError(e);
  } finally {
    $("reply-send").disabled = false;
    input.focus();
  }
}

function onReplyKey(ev) {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("reply-form").requestSubmit();
  }
}

function renderConversation() {
  const open = state.open;
  $("conv-none").hidden = !!open;
  $("conv-view").hidden = !open;
  if (!open) return;
  const conv = open.conversation;
  $("conv-customer").textContent = customerName(open.customer);
  // replaceChildren would print a missing note as the text "null".
  $("conv-channel").replaceChildren(...[channelBadge(conv.channel_kind), linkedNote(conv)].filter(Boolean));
  const st = $("conv-state");
  st.className = "state st-" + conv.state;
  st.dataset.state = conv.state;
  const mine = state.me && conv.assignee_id === state.me.user.id;
  st.textContent = conv.state === "assigned" && mine ? t("state.assigned_to_me") : t("state." + conv.state);

  const actions = can("change_conversation_state") ? allowedActions(conv) : [];
  $("conv-actions").replaceChildren(
    ...actions.map((a) =>
      h("button", {
        type: "button",
        class: "btn " + (a === "take" || a === "resolve" ? "primary" : "ghost") + (a === "close" ? " danger" : ""),
        "aria-label": a === "take" ? t("action.take.label") : null,
        dataset: { testid: "action-" + a.replace("_", "-"), action: a },
        onclick: () => runAction(a),
      }, t("action." + a)),
    ),
  );
  const closed = conv.state === "closed";
  $("reply-form").hidden = closed || !can("reply_conversations");
  $("note-form").hidden = !can("reply_conversations");
  $("reply-closed").hidden = !closed;
  renderHandoff(conv);
  renderMessages();
  renderSuggestions();
}

/** "Earlier on WeChat": the conversation this one continues, on another channel. */
function linkedNote(conv) {
  if (!conv.linked_conversation_id || !state.timeline) return null;
  const prev = state.timeline.conversations.find((c) => c.id === conv.linked_conversation_id);
  if (!prev) return null;
  return h("button", {
    type: "button", class: "linked-note", dataset: { testid: "linked-conversation", channel: prev.channel_kind },
    onclick: () => openConversation(prev.id),
  }, t("timeline.earlier", { channel: channelName(prev.channel_kind) }));
}

function senderLabel(sender) {
  if (!sender) return "";
  if (sender.kind === "agent") return state.me && sender.user_id === state.me.user.id ? t("sender.you") : t("sender.agent");
  return t("sender." + sender.kind);
}

function renderMessages() {
  const list = $("message-list");
  const open = state.open;
  if (!open) return;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const kind = open.conversation.channel_kind;
  // Internal notes sit in the same time line, styled apart (they never reach the customer).
  const msgs = open.messages.concat(noteItems()).sort(byTime);
  if (!msgs.length) {
    list.replaceChildren(h("li", { class: "empty" }, t("conv.empty")));
    return;
  }
  list.replaceChildren(
    ...msgs.map((m) => {
      if (m.note) return renderNote(m.note);
      const sk = (m.sender && m.sender.kind) || "system";
      return h("li", { class: "msg msg-" + sk, dataset: { testid: "message", sender: sk, messageId: m.id } },
        h("div", { class: "msg-meta" },
          h("span", { class: "sender", dataset: { testid: "message-sender" } }, senderLabel(m.sender)),
          h("span", { class: "via" }, t("via", { channel: channelName(kind) })),
          h("time", { datetime: m.sent_at }, shortDateTime(m.sent_at)),
          // A customer's message the bot read: what it understood then (absent: never read).
          "intent" in m ? h("span", { class: "tag", title: t("msg.intent.title"), dataset: { testid: "message-intent" } },
            m.intent || t("msg.intent.none")) : null,
        ),
        h("div", { class: "bubble", dataset: { testid: "message-text" } }, contentView(m.content)),
      );
    }),
  );
  if (atBottom || list.dataset.conversationId !== open.conversation.id) list.scrollTop = list.scrollHeight;
  list.dataset.conversationId = open.conversation.id;
}

/* ───────────────────────────── customer panel ───────────────────────────── */

function renderCustomer() {
  const c = state.open && state.open.customer;
  $("customer-none").hidden = !!c;
  $("customer-view").hidden = !c;
  if (!c) return;
  $("customer-name").textContent = customerName(c);
  $("customer-identifiers").replaceChildren(
    ...(c.identifiers.length
      ? c.identifiers.map((i) =>
        h("li", { dataset: { testid: "customer-identifier", kind: i.kind } },
          h("span", { class: "ident-kind" }, I18N.en["ident." + i.kind] ? t("ident." + i.kind) : i.kind),
          h("span", { class: "ident-value" }, i.value),
          i.source ? h("span", { class: "ident-source" }, channelName(i.source)) : null))
      : [h("li", { class: "muted" }, t("customer.none_listed"))]),
  );
  $("customer-tags").replaceChildren(
    ...(c.tags && c.tags.length ? c.tags.map((tag) => h("span", { class: "tag" }, tag)) : [h("span", { class: "muted" }, t("customer.none_listed"))]),
  );
  const attrs = Object.entries(c.attributes || {});
  $("customer-attributes").replaceChildren(
    ...(attrs.length
      ? attrs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))])
      : [h("dd", { class: "muted" }, t("customer.none_listed"))]),
  );
  renderTimeline();
}

/**
 * Every message of the customer on every channel, in time order. A boundary row starts each run
 * of one conversation; the conversation the open one continues is marked "Earlier on …".
 */
function renderTimeline() {
  const box = $("timeline");
  const tl = state.timeline;
  if (!tl) {
    box.replaceChildren();
    return;
  }
  const open = state.open && state.open.conversation;
  const convs = new Map(tl.conversations.map((c) => [c.id, c]));
  const msgs = tl.messages.slice().sort(byTime);
  if (!msgs.length) {
    box.replaceChildren(h("li", { class: "empty" }, t("timeline.empty")));
    return;
  }
  const items = [];
  let prev = null;
  for (const m of msgs) {
    const conv = convs.get(m.conversation_id);
    const kind = m.channel_kind || (conv && conv.channel_kind) || "generic_api";
    const isCurrent = open && m.conversation_id === open.id;
    const isLinked = open && m.conversation_id === open.linked_conversation_id;
    if (m.conversation_id !== prev) {
      const label = isCurrent ? t("timeline.this", { channel: channelName(kind) })
        : isLinked ? t("timeline.earlier", { channel: channelName(kind) })
        : t("timeline.conversation", { channel: channelName(kind) });
      items.push(h("li", {
        class: "tl-boundary" + (isCurrent ? " current" : "") + (isLinked ? " linked" : ""),
        dataset: { testid: isLinked ? "timeline-linked" : "timeline-boundary", conversationId: m.conversation_id, channel: kind },
      },
        h("button", { type: "button", class: "tl-open", disabled: isCurrent ? true : null, onclick: () => openConversation(m.conversation_id) },
          h("span", { class: "tl-label" }, label),
          conv ? statePill(conv.state) : null,
        ),
      ));
      prev = m.conversation_id;
    }
    const sk = (m.sender && m.sender.kind) || "system";
    items.push(h("li", {
      class: "tl-item" + (isCurrent ? " current" : "") + (isLinked ? " linked" : ""),
      dataset: { testid: "timeline-item", channel: kind, conversationId: m.conversation_id, sentAt: m.sent_at, sender: sk },
    },
      h("div", { class: "tl-meta" }, channelBadge(kind), h("span", { class: "sender" }, senderLabel(m.sender)), h("time", { datetime: m.sent_at }, shortDateTime(m.sent_at))),
      h("div", { class: "tl-text", dataset: { testid: "timeline-text" } }, contentText(m.content)),
    ));
  }
  box.replaceChildren(...items);
}

/* ───────────────────────────── live events ───────────────────────────── */

function onLiveEvent(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "conversation.created":
    case "message.created": {
      const fromCustomer = d.message && d.message.sender && d.message.sender.kind === "customer";
      if (fromCustomer && d.conversation_id !== state.openId) state.unseen.add(d.conversation_id);
      if (ws.queuesOpen) scheduleQueuesRefresh();
      scheduleListRefresh();
      if (concernsOpen(d.conversation_id, d.customer_id)) scheduleOpenRefresh();
      break;
    }
    case "note.created":
      onNoteEvent(d);
      break;
    case "conversation.updated":
      if (ws.queuesOpen) scheduleQueuesRefresh();
      if (d.conversation) applyConversationUpdate(d.conversation);
      if (d.conversation && concernsOpen(d.conversation.id, d.conversation.customer_id)) scheduleOpenRefresh();
      break;
    case "customer.merged":
      state.customers.delete(d.survivor_id);
      state.customers.delete(d.absorbed_id);
      scheduleListRefresh();
      if (state.open) scheduleOpenRefresh();
      break;
    case "resync":
      refreshAll();
      break;
    default:
      break;
  }
}

/** Refetches what the list and the open conversation show (after a reconnect or a resync). */
function refreshAll() {
  state.customers.clear();
  scheduleListRefresh();
  if (state.openId) scheduleOpenRefresh();
}

function onConnStatus(status, retryMs) {
  state.conn = { status, retryMs: retryMs || 0 };
  renderConn();
  if (status === "offline") {
    // A socket refused for a lost session would retry forever: check the session first.
    api.me().catch((e) => { if (e.status === 401) endSession(); });
  }
}

function renderConn() {
  const box = $("conn-status");
  const { status, retryMs } = state.conn;
  box.dataset.status = status;
  $("conn-text").textContent = status === "live" ? t("conn.live")
    : status === "offline" ? t("conn.offline", { secs: Math.max(1, Math.round(retryMs / 1000)) })
    : t("conn.connecting");
}

/* ───────────────────────────── language ───────────────────────────── */

function toggleLang() {
  setLang(currentLang === "zh" ? "en" : "zh");
  rerenderAll();
}

function rerenderAll() {
  translateStatic(document);
  if (!state.me) return;
  renderFilters();
  renderList();
  renderConversation();
  renderCustomer();
  renderConn();
  refreshQueues();
  renderKnowledge();
  renderNlu();
}

/* ───────────────────────────── boot ───────────────────────────── */

async function boot() {
  translateStatic(document);
  $("login-form").addEventListener("submit", onLoginSubmit);
  $("logout").addEventListener("click", onLogout);
  $("lang-toggle").addEventListener("click", toggleLang);
  document.querySelector("[data-testid=lang-toggle-login]").addEventListener("click", toggleLang);
  $("reply-form").addEventListener("submit", onReplySubmit);
  $("reply-input").addEventListener("keydown", onReplyKey);
  bootWorkspace();
  bootKnowledge();
  bootNlu();
  setInterval(() => { if (state.me) renderList(); }, 30000); // keep "5 min" fresh
  try {
    await showApp(await api.me());
  } catch (e) {
    showLogin();
  }
}

boot();
