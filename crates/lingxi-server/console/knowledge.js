// Lingxi console: the knowledge base section — FAQ entries (list with search and status filter,
// the editor with similar phrasings, tags, the review workflow's status buttons and version
// history, new entries). Gaps, candidates and the "test a question" box are in kb_review.js.
// Supervisors and admins edit (`edit_knowledge`); agents read entries and test questions only,
// as the API allows. Loaded before app.js; uses its helpers (h, $, t, can, toast, handleError).
"use strict";

const KB_PAGE = 100;
const KB_STATUSES = ["draft", "in_review", "published", "archived"];
// The review workflow of lingxi-knowledge (`Status::can_become`); the server checks again.
const KB_NEXT = {
  draft: ["in_review", "archived"],
  in_review: ["published", "draft", "archived"],
  published: ["draft", "archived"],
  archived: ["draft"],
};

const kb = {
  open: false,
  tab: "entries",
  entries: [],
  limit: KB_PAGE,
  more: false,          // the last list filled its limit: there may be more
  q: "",
  status: "",
  entry: null,          // the entry in the editor as the server has it (null for a new one)
  draft: null,          // the editor's working copy: {id, lang, question, similar, answer, tags}
  versions: [],
  listSeq: 0,
  entrySeq: 0,
  searchTimer: null,
};

function kbCanEdit() {
  return can("edit_knowledge");
}

/* ── section shell ── */

function openKnowledge(tab) {
  if (nlu.open) closeNlu(); // one section over the workspace at a time
  kb.open = true;
  $("kb-view").hidden = false;
  $("kb-toggle").setAttribute("aria-pressed", "true");
  $("kb-toggle").textContent = t("kb.close");
  showKbTab(tab || kb.tab);
}

function closeKnowledge() {
  kb.open = false;
  $("kb-view").hidden = true;
  $("kb-toggle").setAttribute("aria-pressed", "false");
  $("kb-toggle").textContent = t("kb.open");
}

function kbTabs() {
  return kbCanEdit() ? ["entries", "gaps", "candidates", "test"] : ["entries", "test"];
}

function showKbTab(tab) {
  kb.tab = kbTabs().includes(tab) ? tab : "entries";
  renderKbTabs();
  for (const name of ["entries", "gaps", "candidates", "test"]) $("kb-tab-" + name).hidden = name !== kb.tab;
  if (kb.tab === "entries") loadKbEntries();
  else if (kb.tab === "gaps") loadKbGaps();
  else if (kb.tab === "candidates") loadKbCandidates();
  else renderKbTest();
}

function renderKbTabs() {
  $("kb-tabs").replaceChildren(...kbTabs().map((name) =>
    h("button", {
      type: "button", role: "tab", class: "filter" + (name === kb.tab ? " active" : ""),
      "aria-selected": name === kb.tab ? "true" : "false",
      dataset: { testid: "kb-tab-" + name },
      onclick: () => showKbTab(name),
    }, t("kb.tab." + name))));
}

function kbStatusPill(status) {
  return h("span", { class: "state kb-st-" + status, dataset: { testid: "kb-status", status } }, t("kb.status." + status));
}

/* ── entry list ── */

async function loadKbEntries() {
  const seq = ++kb.listSeq;
  try {
    // The API has a limit but no offset: "show more" asks again for a longer list.
    const data = await api.kbEntries({ q: kb.q, status: kb.status, limit: kb.limit });
    if (seq !== kb.listSeq) return;
    kb.entries = data.entries;
    kb.more = data.entries.length >= kb.limit && kb.limit < 1000;
    renderKbList();
  } catch (e) {
    handleError(e);
  }
}
/** Reloads the list once typing pauses (app.js's debounce is not defined yet when this loads). */
function scheduleKbEntries() {
  clearTimeout(kb.searchTimer);
  kb.searchTimer = setTimeout(() => { kb.limit = KB_PAGE; loadKbEntries(); }, 250);
}

function renderKbFilters() {
  $("kb-status-filter").replaceChildren(
    h("option", { value: "" }, t("kb.status.any")),
    ...KB_STATUSES.map((s) => h("option", { value: s }, t("kb.status." + s))),
  );
  $("kb-status-filter").value = kb.status;
  $("kb-new").hidden = !kbCanEdit();
}

function renderKbList() {
  const openId = kb.entry && kb.entry.id;
  $("kb-list").replaceChildren(...kb.entries.map((e) =>
    h("li", {},
      h("button", {
        type: "button", class: "kb-row" + (e.id === openId ? " selected" : ""),
        "aria-current": e.id === openId ? "true" : null,
        dataset: { testid: "kb-row", entryId: e.id, status: e.status },
        onclick: () => openKbEntry(e.id),
      },
        h("span", { class: "kb-row-q", dataset: { testid: "kb-row-question" } }, e.question),
        h("span", { class: "row-bottom" }, kbStatusPill(e.status), h("span", { class: "badge ch" }, e.lang),
          h("span", { class: "muted kb-id" }, e.id), h("span", { class: "spacer" }),
          h("span", { class: "muted" }, "v" + e.version)),
      ))));
  $("kb-list-empty").hidden = kb.entries.length > 0;
  $("kb-more").hidden = !kb.more;
}

/* ── editor ── */

function draftOf(entry) {
  return {
    id: entry.id, lang: entry.lang, question: entry.question, similar: (entry.similar || []).slice(),
    answer: entry.answer, tags: (entry.tags || []).slice(),
  };
}

async function openKbEntry(id) {
  const seq = ++kb.entrySeq;
  try {
    const [detail, versions] = await Promise.all([api.kbEntry(id), api.kbVersions(id)]);
    if (seq !== kb.entrySeq) return;
    showKbEntry(detail.entry, versions.versions);
  } catch (e) {
    handleError(e);
  }
}

/** Opens an entry the server just answered with (a draft from a gap or a candidate, a save);
 * its history is fetched first so the editor never shows one version with another's history. */
async function showKbEntry(entry, versions) {
  const seq = ++kb.entrySeq;
  if (!versions) {
    try {
      versions = (await api.kbVersions(entry.id)).versions;
    } catch (e) {
      handleError(e);
      versions = [];
    }
    if (seq !== kb.entrySeq) return;
  }
  kb.entry = entry;
  kb.draft = draftOf(entry);
  kb.versions = versions;
  renderKbEditor();
  renderKbList();
}

function newKbEntry() {
  kb.entrySeq++;
  kb.entry = null;
  kb.draft = { id: "", lang: currentLang === "zh" ? "zh" : "en", question: "", similar: [], answer: "", tags: [] };
  kb.versions = [];
  renderKbEditor();
  renderKbList();
  $("kb-editor").querySelector("[data-testid=kb-id]").focus();
}

function renderKbEditor() {
  const box = $("kb-editor");
  const d = kb.draft;
  box.hidden = !d;
  $("kb-editor-none").hidden = !!d;
  if (!d) return;
  const e = kb.entry;
  const edit = kbCanEdit();
  const isNew = !e;
  box.dataset.entryId = e ? e.id : "";
  box.dataset.status = e ? e.status : "new";
  box.dataset.version = e ? String(e.version) : "";
  const bind = (key) => (ev) => { d[key] = ev.target.value; };
  const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);

  const similar = h("ul", { class: "kb-similar", dataset: { testid: "kb-similar-list" } },
    ...d.similar.map((s, i) => h("li", { dataset: { testid: "kb-similar" } },
      h("span", { class: "kb-similar-text" }, s),
      edit ? h("button", {
        type: "button", class: "btn link", "aria-label": t("kb.similar.remove.label", { text: s }),
        dataset: { testid: "kb-similar-remove" },
        onclick: () => { d.similar.splice(i, 1); renderKbEditor(); },
      }, t("kb.similar.remove")) : null)));
  const addInput = h("input", { maxlength: "500", dataset: { testid: "kb-similar-input" }, placeholder: t("kb.similar.placeholder"), "aria-label": t("kb.similar.add.label") });
  const addSimilar = () => {
    const text = addInput.value.split(/\s+/).join(" ").trim();
    if (!text) return;
    if (text !== d.question && !d.similar.includes(text)) d.similar.push(text);
    renderKbEditor();
    box.querySelector("[data-testid=kb-similar-input]").focus();
  };
  addInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.isComposing) { ev.preventDefault(); addSimilar(); }
  });

  box.replaceChildren(
    h("div", { class: "kb-ed-head" },
      h("h2", { dataset: { testid: "kb-editor-title" } }, isNew ? t("kb.new.heading") : e.question),
      e ? kbStatusPill(e.status) : null,
      e ? h("span", { class: "muted", dataset: { testid: "kb-version" } }, t("kb.version", { n: e.version })) : null,
      e && e.updated_at ? h("span", { class: "muted" }, t("kb.updated", { when: shortDateTime(e.updated_at), who: kbWho(e.updated_by) })) : null,
    ),
    e && edit ? h("div", { class: "actions kb-status-actions", role: "toolbar", "aria-label": t("kb.status.actions"), dataset: { testid: "kb-status-actions" } },
      ...(KB_NEXT[e.status] || []).map((to) => h("button", {
        type: "button", class: "btn " + (to === "published" ? "primary" : "ghost") + (to === "archived" ? " danger" : ""),
        dataset: { testid: "kb-status-to-" + to }, onclick: () => changeKbStatus(to),
      }, t("kb.to." + to)))) : null,
    h("form", { class: "kb-form", dataset: { testid: "kb-form" }, onsubmit: (ev) => { ev.preventDefault(); saveKbEntry(); } },
      h("div", { class: "row kb-id-row" },
        field(t("kb.field.id"), h("input", {
          value: d.id, maxlength: "64", required: true, readonly: isNew && edit ? null : true, pattern: "[A-Za-z0-9._\\-]+",
          placeholder: isNew ? t("kb.field.id.placeholder") : null, dataset: { testid: "kb-id" }, oninput: bind("id"),
        })),
        field(t("kb.field.lang"), h("select", { dataset: { testid: "kb-lang" }, disabled: edit ? null : true, onchange: bind("lang") },
          ...["zh", "en"].map((l) => h("option", { value: l, selected: l === d.lang ? true : null }, t("kb.lang." + l))))),
      ),
      field(t("kb.field.question"), h("input", { value: d.question, maxlength: "500", required: true, readonly: edit ? null : true, dataset: { testid: "kb-question" }, oninput: bind("question") })),
      h("div", { class: "field" }, h("span", {}, t("kb.field.similar")), similar,
        edit ? h("div", { class: "row" }, addInput, h("button", { type: "button", class: "btn ghost", dataset: { testid: "kb-similar-add" }, onclick: addSimilar }, t("kb.similar.add"))) : null),
      field(t("kb.field.answer"), h("textarea", { rows: "5", maxlength: "5000", required: true, readonly: edit ? null : true, dataset: { testid: "kb-answer" }, oninput: bind("answer") }, d.answer)),
      field(t("kb.field.tags"), h("input", {
        value: d.tags.join(", "), readonly: edit ? null : true, placeholder: edit ? t("kb.field.tags.placeholder") : null, dataset: { testid: "kb-tags" },
        oninput: (ev) => { d.tags = ev.target.value.split(/[,，]/).map((s) => s.trim()).filter(Boolean); },
      })),
      edit ? h("div", { class: "row" },
        h("button", { type: "submit", class: "btn primary", dataset: { testid: "kb-save" } }, isNew ? t("kb.create") : t("kb.save")),
        e ? h("button", { type: "button", class: "btn ghost danger", dataset: { testid: "kb-delete" }, onclick: deleteKbEntry }, t("kb.delete")) : null,
      ) : h("p", { class: "muted", dataset: { testid: "kb-read-only" } }, t("kb.read_only")),
    ),
    e ? h("section", { class: "kb-versions" }, h("h3", {}, t("kb.versions")),
      h("ol", { id: "kb-versions", class: "kb-version-list", dataset: { testid: "kb-versions" } })) : null,
  );
  if (e) renderKbVersions();
}

function kbWho(id) {
  if (!id) return "";
  if (state.me && id === state.me.user.id) return t("sender.you");
  const u = ws.users && ws.users.find((x) => x.id === id);
  return u ? u.name : id;
}

function renderKbVersions() {
  const list = $("kb-versions");
  if (!list) return;
  list.replaceChildren(...kb.versions.map((v) => {
    const doc = v.entry || {};
    return h("li", { dataset: { testid: "kb-version-item", version: String(v.version), status: v.status } },
      h("details", {},
        h("summary", {}, t("kb.version", { n: v.version }), " · ", t("kb.status." + v.status), " · ",
          h("time", { datetime: v.created_at }, shortDateTime(v.created_at)), " · ", kbWho(v.created_by)),
        h("dl", { class: "kb-version-doc" },
          h("dt", {}, t("kb.field.question")), h("dd", { dataset: { testid: "kb-version-question" } }, doc.question || ""),
          (doc.similar || []).length ? [h("dt", {}, t("kb.field.similar")), h("dd", {}, doc.similar.join(" / "))] : null,
          h("dt", {}, t("kb.field.answer")), h("dd", { dataset: { testid: "kb-version-answer" } }, doc.answer || ""),
          (doc.tags || []).length ? [h("dt", {}, t("kb.field.tags")), h("dd", {}, doc.tags.join(", "))] : null,
        )));
  }));
}

/** The entry as the API takes it: the editor's fields over everything else the entry carries
 * (rich items, answer variants, channels, validity), which the editor does not show. */
function kbBody() {
  const base = Object.assign({}, kb.entry || {});
  delete base.updated_at;
  delete base.updated_by;
  delete base.status; // the status changes only through the review buttons
  const d = kb.draft;
  return Object.assign(base, {
    id: d.id.trim(), lang: d.lang, question: d.question.trim(), similar: d.similar, answer: d.answer.trim(), tags: d.tags,
  });
}

async function saveKbEntry() {
  const e = kb.entry;
  const save = $("kb-editor").querySelector("[data-testid=kb-save]");
  if (save) save.disabled = true;
  try {
    const res = e ? await api.kbUpdate(e.id, Object.assign(kbBody(), { version: e.version })) : await api.kbCreate(kbBody());
    toast(e ? t("kb.saved", { n: res.entry.version }) : t("kb.created"));
    await showKbEntry(res.entry);
    loadKbEntries();
  } catch (err) {
    // A colleague saved first: show their version (the edit is kept in the message only).
    if (err.code === "conflict" && e) openKbEntry(e.id);
    handleError(err);
    if (save) save.disabled = false;
  }
}

async function changeKbStatus(to) {
  const e = kb.entry;
  if (!e) return;
  try {
    const res = await api.kbSetStatus(e.id, to);
    toast(t("kb.status.changed", { status: t("kb.status." + to) }));
    await showKbEntry(res.entry);
    loadKbEntries();
  } catch (err) {
    handleError(err);
  }
}

async function deleteKbEntry() {
  const e = kb.entry;
  if (!e || !window.confirm(t("kb.delete.confirm", { question: e.question }))) return;
  try {
    await api.kbDelete(e.id);
    kb.entry = null;
    kb.draft = null;
    renderKbEditor();
    loadKbEntries();
    toast(t("kb.deleted"));
  } catch (err) {
    handleError(err);
  }
}

/* ── wiring ── */

function renderKnowledge() {
  $("kb-toggle").textContent = kb.open ? t("kb.close") : t("kb.open");
  if (!state.me) return;
  renderKbFilters();
  renderKbTabs();
  renderKbList();
  renderKbEditor();
  renderKbReview();
}

/** Wires the section's static controls (called once from app.js's boot). */
function bootKnowledge() {
  $("kb-toggle").addEventListener("click", () => (kb.open ? closeKnowledge() : openKnowledge()));
  $("kb-search").addEventListener("input", (ev) => { kb.q = ev.target.value.trim(); scheduleKbEntries(); });
  $("kb-status-filter").addEventListener("change", (ev) => { kb.status = ev.target.value; kb.limit = KB_PAGE; loadKbEntries(); });
  $("kb-more").addEventListener("click", () => { kb.limit = Math.min(1000, kb.limit + KB_PAGE); loadKbEntries(); });
  $("kb-new").addEventListener("click", newKbEntry);
  bootKbReview();
}

/** Session start and end: what the section showed belongs to one login. */
function knowledgeSession(me) {
  Object.assign(kb, { tab: "entries", entries: [], limit: KB_PAGE, more: false, q: "", status: "", entry: null, draft: null, versions: [] });
  kbReviewSession();
  $("kb-search").value = "";
  closeKnowledge();
  $("kb-toggle").hidden = !me || !me.permissions.includes("read_knowledge");
  if (me) renderKnowledge();
}
