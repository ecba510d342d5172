// Lingxi console: the agent workspace on top of the shell in app.js — the hand-off package,
// the emotion alert, internal notes in the message list, suggested replies, transfer and the
// supervisors' queue view. Loaded before app.js; everything here runs after app.js has defined
// its helpers (h, $, t, state, api, can, …), from calls app.js makes.
"use strict";

const ws = {
  notes: [],           // notes of the open conversation
  suggestions: null,   // GET /conversations/{id}/suggestions
  teams: null,         // [{id, name}] (fetched once per session)
  users: null,         // [{id, name, team_ids}] for supervisors; null for agents (they pick a team)
  queuesOpen: false,
  queueTimer: null,
};

/** Loads notes and suggestions for the open conversation (after its detail). */
async function loadWorkspaceExtras(id, seq) {
  const [notes, sugg] = await Promise.allSettled([api.notes(id), api.suggestions(id)]);
  if (seq !== state.openSeq) return;
  ws.notes = notes.status === "fulfilled" ? notes.value.notes : [];
  ws.suggestions = sugg.status === "fulfilled" ? sugg.value : null;
  renderMessages();
  renderSuggestions();
}

function resetWorkspace() {
  ws.notes = [];
  ws.suggestions = null;
  $("transfer-form").hidden = true;
}

/* ── hand-off package and emotion alert ── */

function renderHandoff(conv) {
  const box = $("handoff-summary");
  const d = conv.handoff_details;
  const show = !!conv.handoff_reason && conv.state !== "bot";
  box.hidden = !show;
  $("emotion-banner").hidden = !conv.emotion_alert;
  if (!show) return;
  box.dataset.reason = conv.handoff_reason;
  const row = (key, value, testid) => value ? h("div", { class: "ho-row", dataset: { testid: testid || "handoff-" + key } },
    h("dt", {}, t("handoff." + key)), h("dd", {}, value)) : null;
  if (!d) {
    // Conversations handed over before the structured form existed: the text form, line by line.
    box.replaceChildren(h("h3", {}, t("handoff.heading")),
      h("div", { class: "ho-text" }, ...(conv.handoff_summary || "").split("\n").map((l) => h("div", {}, l))));
    return;
  }
  box.replaceChildren(
    h("h3", {}, t("handoff.heading")),
    h("dl", { class: "ho-grid" },
      row("why", d.why, "handoff-why"),
      row("wants", d.wants ? d.wants + (d.intent ? " · " + d.intent : "") : null),
      d.intents && d.intents.length > 1 ? row("intents", d.intents.join(" → ")) : null,
      d.entities && d.entities.length
        ? h("div", { class: "ho-row", dataset: { testid: "handoff-facts" } }, h("dt", {}, t("handoff.facts")),
          h("dd", {}, ...d.entities.map((e) => h("span", { class: "fact", dataset: { testid: "handoff-fact" } }, e))))
        : null,
      row("mood", t("handoff.mood_value", { mood: d.mood, n: d.customer_messages })),
      row("bot", d.bot_replies && d.bot_replies.length ? d.bot_replies.join(" / ") : t("handoff.bot_none")),
      d.other_channels && d.other_channels.length
        ? row("elsewhere", d.other_channels.map((o) => channelName(o.channel) + ": " + o.what).join("; "))
        : null,
    ),
  );
}

/** The list row's badge for an upset customer. */
function emotionBadge(conv) {
  if (!conv.emotion_alert) return null;
  return h("span", { class: "emotion-badge", "aria-label": t("emotion.badge.label"), dataset: { testid: "emotion-badge" } }, t("emotion.badge"));
}

/* ── notes ── */

/** Notes as items for the message list (sorted with messages by time). */
function noteItems() {
  return ws.notes.map((n) => ({ note: n, id: n.id, sent_at: n.created_at, received_at: n.created_at }));
}

function userName(id) {
  if (state.me && id === state.me.user.id) return t("sender.you");
  const u = ws.users && ws.users.find((x) => x.id === id);
  return u ? u.name : t("note.someone");
}

function targetName(target) {
  if (!target) return t("note.someone");
  const team = ws.teams && ws.teams.find((x) => x.id === target);
  return team ? team.name : userName(target);
}

function renderNote(n) {
  const transfer = n.kind === "transfer";
  return h("li", { class: "msg msg-note", dataset: { testid: "note", kind: n.kind, noteId: n.id } },
    h("div", { class: "msg-meta" },
      h("span", { class: "sender" }, t("note.by", { who: userName(n.author_id) })),
      h("time", { datetime: n.created_at }, shortDateTime(n.created_at)),
    ),
    h("div", { class: "bubble", dataset: { testid: "note-text" } },
      transfer ? h("strong", {}, t("note.transfer", { target: targetName(n.target) }) + (n.text ? " — " : "")) : null,
      n.text),
  );
}

async function onNoteSubmit(ev) {
  ev.preventDefault();
  const input = $("note-input");
  const text = input.value.trim();
  const conv = state.open && state.open.conversation;
  if (!text || !conv) return;
  try {
    const res = await api.addNote(conv.id, text);
    input.value = "";
    if (!ws.notes.some((n) => n.id === res.note.id)) ws.notes.push(res.note);
    renderMessages();
  } catch (e) {
    handleError(e);
  }
}

function onNoteEvent(d) {
  if (!state.open || d.conversation_id !== state.openId || !d.note) return;
  if (!ws.notes.some((n) => n.id === d.note.id)) ws.notes.push(d.note);
  renderMessages();
}

/* ── suggested replies ── */

function renderSuggestions() {
  const box = $("suggestions");
  const s = ws.suggestions;
  const open = state.open && state.open.conversation;
  box.hidden = !s || !open || open.state === "closed" || !can("reply_conversations");
  if (box.hidden) return;
  const item = (kind, title, text) => h("li", {},
    h("button", {
      type: "button", class: "suggestion", title: t("suggest.use"), dataset: { testid: "suggestion", kind },
      onclick: () => { const input = $("reply-input"); input.value = text; input.focus(); },
    }, h("span", { class: "sg-title" }, title), h("span", { class: "sg-text" }, text)));
  const knowledge = (s.knowledge || []).map((k) => item("knowledge", t("suggest.knowledge") + " · " + k.question, k.text));
  const canned = (s.canned || []).map((c) => item("canned", t("suggest.canned") + " · " + c.title, c.text));
  box.replaceChildren(
    h("h3", {}, t("suggest.heading")),
    knowledge.length || canned.length ? h("ul", { class: "sg-list" }, ...knowledge, ...canned) : h("p", { class: "muted" }, t("suggest.none")),
  );
}

/* ── transfer ── */

async function loadDirectory() {
  if (!ws.teams) {
    try { ws.teams = (await api.teams()).teams; } catch (e) { ws.teams = []; }
  }
  if (!ws.users && can("supervise_queues")) {
    try { ws.users = (await api.users()).users.filter((u) => u.role !== "admin"); } catch (e) { ws.users = null; }
  }
}

async function openTransfer() {
  await loadDirectory();
  const conv = state.open && state.open.conversation;
  if (!conv) return;
  const opt = (value, label) => h("option", { value }, label);
  $("transfer-team").replaceChildren(opt("", t("transfer.keep")), ...ws.teams.map((tm) => opt(tm.id, tm.name)));
  const people = ws.users || [];
  $("transfer-agent").replaceChildren(opt("", t("transfer.anyone")), ...people.map((u) => opt(u.id, u.name)));
  $("transfer-agent").disabled = !people.length;
  $("transfer-note").value = "";
  $("transfer-form").hidden = false;
  $("transfer-team").focus();
}

async function onTransferSubmit(ev) {
  ev.preventDefault();
  const conv = state.open && state.open.conversation;
  if (!conv) return;
  const body = {};
  if ($("transfer-team").value) body.team_id = $("transfer-team").value;
  if ($("transfer-agent").value) body.agent_id = $("transfer-agent").value;
  const note = $("transfer-note").value.trim();
  if (note) body.note = note;
  try {
    const res = await api.transfer(conv.id, body);
    $("transfer-form").hidden = true;
    if (!ws.notes.some((n) => n.id === res.note.id)) ws.notes.push(res.note);
    applyConversationUpdate(res.conversation);
    toast(t("transfer.done"));
  } catch (e) {
    handleError(e);
  }
}

/* ── supervisors' queue view ── */

async function openQueues() {
  ws.queuesOpen = true;
  $("queue-view").hidden = false;
  await refreshQueues();
}

function closeQueues() {
  ws.queuesOpen = false;
  $("queue-view").hidden = true;
}

async function refreshQueues() {
  if (!ws.queuesOpen) return;
  let data;
  try {
    data = await api.queueOverview();
  } catch (e) {
    handleError(e);
    return;
  }
  $("queue-teams").replaceChildren(...data.teams.map((tm) =>
    h("section", { class: "queue-team", dataset: { testid: "queue-team", teamId: tm.team_id || "" } },
      h("h3", {}, tm.name || t("queues.no_team"),
        h("span", { class: "muted", dataset: { testid: "queue-waiting-count", count: String(tm.waiting_count) } },
          " · " + (tm.waiting_count ? t("queues.waiting", { n: tm.waiting_count }) + " · " + t("queues.oldest", { secs: tm.oldest_wait_secs }) : t("queues.none_waiting")))),
      h("ol", { class: "queue-waiting" }, ...tm.waiting.map((w) =>
        h("li", {}, h("button", {
          type: "button", class: "btn link", dataset: { testid: "queue-item", conversationId: w.conversation_id },
          onclick: () => { closeQueues(); openConversation(w.conversation_id); },
        }, channelName(w.channel_kind), w.priority === null ? "" : " · P" + w.priority, w.emotion_alert ? " · " + t("emotion.badge") : "")))),
      h("ul", { class: "queue-agents", "aria-label": t("queues.agents") }, ...tm.agents.map((a) =>
        h("li", { dataset: { testid: "queue-agent", presence: a.presence, userId: a.user_id } },
          h("span", { class: "presence p-" + a.presence }, t("presence." + a.presence)), " ", a.name, " · ",
          t("queues.load", { load: a.chat_load, cap: a.chat_capacity })))),
    )));
}
/** Coalesces bursts of live events into one refetch (app.js's debounce is not defined yet here). */
function scheduleQueuesRefresh() {
  clearTimeout(ws.queueTimer);
  ws.queueTimer = setTimeout(refreshQueues, 300);
}

/** Wires the workspace's static controls (called once from app.js's boot). */
function bootWorkspace() {
  $("note-form").addEventListener("submit", onNoteSubmit);
  $("transfer-form").addEventListener("submit", onTransferSubmit);
  $("transfer-cancel").addEventListener("click", () => { $("transfer-form").hidden = true; });
  $("queues-open").addEventListener("click", openQueues);
  $("queues-close").addEventListener("click", closeQueues);
}

/** Session start and end: directory caches belong to one login. */
function workspaceSession(me) {
  ws.teams = null;
  ws.users = null;
  closeQueues();
  $("queues-open").hidden = !me || !me.permissions.includes("supervise_queues");
  if (me) loadDirectory();
}
