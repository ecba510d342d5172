// Lingxi console: the understanding section — "try a message" (what POST /nlu/parse makes of
// it: normalised text, corrections, tokens, intent, entities, sentiment) and the tenant's
// vocabulary and entity settings (GET/PUT /nlu/settings, problems shown at the field they name).
// Intent models are in nlu_models.js. Every console role may try messages and read; training
// needs `edit_knowledge`, the settings `manage_tenant`, as the API checks. Loaded after
// knowledge.js and kb_review.js; uses app.js's helpers (h, $, t, can, toast, handleError) and
// kb_review.js's percent().
"use strict";

const NLU_TABS = ["try", "models", "vocab"];
// The settings the form edits, one entry a line; problems come back as `field` or `field[i]`.
const NLU_LIST_FIELDS = ["order_patterns", "catalogue", "terms"];

const nlu = {
  open: false,
  tab: "try",
  parse: null,          // the last /nlu/parse answer
  parseSeq: 0,
  settings: null,       // the settings as the server has them
  draft: null,          // the form's working copy: {order_patterns, catalogue, terms: text; order_example}
  fromProducts: 0,
  problems: [],         // the last refused save's problems
  saving: false,
};

function nluCanSettings() {
  return can("manage_tenant");
}

/* ── section shell ── */

function openNlu(tab) {
  if (kb.open) closeKnowledge();
  nlu.open = true;
  $("nlu-view").hidden = false;
  $("nlu-toggle").setAttribute("aria-pressed", "true");
  $("nlu-toggle").textContent = t("kb.close");
  showNluTab(tab || nlu.tab);
}

function closeNlu() {
  nlu.open = false;
  $("nlu-view").hidden = true;
  $("nlu-toggle").setAttribute("aria-pressed", "false");
  $("nlu-toggle").textContent = t("nlu.open");
}

function showNluTab(tab) {
  nlu.tab = NLU_TABS.includes(tab) ? tab : "try";
  renderNluTabs();
  for (const name of NLU_TABS) $("nlu-tab-" + name).hidden = name !== nlu.tab;
  if (nlu.tab === "models") loadNluModels();
  else if (nlu.tab === "vocab") loadNluSettings();
  else $("nlu-try-input").focus();
}

function renderNluTabs() {
  $("nlu-tabs").replaceChildren(...NLU_TABS.map((name) =>
    h("button", {
      type: "button", role: "tab", class: "filter" + (name === nlu.tab ? " active" : ""),
      "aria-selected": name === nlu.tab ? "true" : "false",
      dataset: { testid: "nlu-tab-" + name },
      onclick: () => showNluTab(name),
    }, t("nlu.tab." + name))));
}

/* ── try a message ── */

async function runNluTry(ev) {
  if (ev) ev.preventDefault();
  const text = $("nlu-try-input").value.trim();
  if (!text) return;
  const seq = ++nlu.parseSeq;
  try {
    const res = await api.nluParse(text);
    if (seq !== nlu.parseSeq) return;
    nlu.parse = res;
  } catch (e) {
    if (seq === nlu.parseSeq) nlu.parse = null;
    handleError(e);
  }
  renderNluTry();
}

/** An entity's parsed value as one line (the API's shapes per kind, docs/nlu.md). */
function nluValue(kind, v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  switch (kind) {
    case "phone": return "+" + v.country_code + " " + v.national;
    case "tracking_number": return v.carrier + " " + v.number;
    case "amount": return (v.minor_units / 100).toFixed(2) + " " + v.currency;
    case "date_time": return v.date + (v.time ? " " + v.time : "");
    case "location": return v.name + (v.province && v.province !== v.name ? " (" + v.province + ")" : "");
    case "id_card": return t("nlu.ent.birth", { date: v.birth_date });
    default: return JSON.stringify(v);
  }
}

function nluIntentLine(testid, label, m) {
  if (!m) return null;
  return h("div", { class: "nlu-kv", dataset: { testid, intent: m.intent } },
    h("span", { class: "muted" }, label),
    h("strong", { class: "nlu-intent" }, m.intent),
    h("span", { class: "kb-count", dataset: { testid: testid + "-confidence" } }, percent(m.confidence)));
}

function nluModelName(model) {
  if (!model) return "";
  return model.source === "tenant" ? t("nlu.model.version", { n: model.version }) : t("nlu.model.default", { lang: t("kb.lang." + model.language) });
}

function renderNluTry() {
  const box = $("nlu-try-result");
  const r = nlu.parse;
  box.dataset.text = r ? r.text : "";
  if (!r) {
    box.replaceChildren();
    return;
  }
  const i = r.intent;
  const s = r.sentiment;
  const card = (title, testid, ...body) => h("section", { class: "kb-card", dataset: { testid } }, h("h3", { class: "kb-card-title" }, title), ...body);
  box.replaceChildren(
    card(t("nlu.try.text"), "nlu-try-text",
      h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.normalized")),
        h("span", { class: "nlu-normalized", dataset: { testid: "nlu-normalized" } }, r.normalized)),
      r.corrections.length ? h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.corrections")),
        ...r.corrections.map((c) => h("span", { class: "fact", dataset: { testid: "nlu-correction", from: c.from, to: c.to } }, c.from + " → " + c.to))) : null,
      h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.language")),
        h("span", { dataset: { testid: "nlu-language", language: r.language } }, t("nlu.lang." + r.language))),
      r.emojis && r.emojis.length ? h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.emojis")), r.emojis.join(" ")) : null,
      h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.tokens")),
        h("span", { class: "nlu-tokens", dataset: { testid: "nlu-tokens" } }, ...r.tokens.map((tok) => h("span", { class: "fact", dataset: { testid: "nlu-token" } }, tok))))),
    card(t("nlu.try.intent"), "nlu-try-intent",
      h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.model")),
        h("span", { dataset: { testid: "nlu-try-model", source: i.model.source, version: i.model.version ? String(i.model.version) : "" } }, nluModelName(i.model))),
      // No top intent is what out of scope means; the best guess is still worth seeing.
      i.out_of_scope || !i.top ? h("p", { class: "nlu-oos", dataset: { testid: "nlu-out-of-scope" } }, t("nlu.try.oos")) : null,
      nluIntentLine("nlu-intent-top", t("nlu.try.top"), i.top),
      nluIntentLine("nlu-intent-second", t("nlu.try.second"), i.second),
      !i.top ? nluIntentLine("nlu-intent-guess", t("nlu.try.guess"), i.best_guess) : null,
      i.alternatives.length ? h("div", { class: "nlu-kv muted" }, t("nlu.try.alternatives"),
        i.alternatives.map((a) => " " + a.intent + " " + percent(a.confidence)).join(" ·")) : null),
    card(t("nlu.try.entities"), "nlu-try-entities",
      r.entities.length ? h("table", { class: "nlu-table" },
        h("thead", {}, h("tr", {}, h("th", {}, t("nlu.ent.kind")), h("th", {}, t("nlu.ent.text")), h("th", {}, t("nlu.ent.value")), h("th", {}))),
        h("tbody", {}, ...r.entities.map((e) => h("tr", { dataset: { testid: "nlu-entity", kind: e.kind } },
          h("td", {}, I18N.en["nlu.kind." + e.kind] ? t("nlu.kind." + e.kind) : e.kind),
          h("td", { dataset: { testid: "nlu-entity-text" } }, e.text),
          h("td", { dataset: { testid: "nlu-entity-value" } }, nluValue(e.kind, e.value)),
          h("td", {}, e.sensitive ? h("span", { class: "emotion-badge", dataset: { testid: "nlu-entity-sensitive" } }, t("nlu.ent.sensitive")) : null)))))
        : h("p", { class: "muted" }, t("nlu.try.no_entities"))),
    card(t("nlu.try.sentiment"), "nlu-try-sentiment",
      h("div", { class: "nlu-kv" }, h("span", { class: "muted" }, t("nlu.try.polarity")),
        h("strong", { dataset: { testid: "nlu-polarity", polarity: s.polarity } }, t("nlu.pol." + s.polarity)),
        h("span", { class: "muted" }, t("nlu.try.score", { score: s.score.toFixed(2), intensity: s.intensity.toFixed(2) }))),
      h("div", { class: "nlu-emotions" }, ...Object.entries(s.emotions).map(([name, v]) =>
        h("div", { class: "nlu-emotion", dataset: { testid: "nlu-emotion", emotion: name } },
          h("span", { class: "muted" }, t("nlu.emo." + name)),
          h("meter", { min: "0", max: "1", value: String(v) }),
          h("span", {}, v.toFixed(2)))))),
  );
}

/* ── vocabulary and entities ── */

async function loadNluSettings() {
  try {
    const res = await api.nluSettings();
    // Unsaved edits (and the problems of their refused save) survive a look at another tab, and
    // the form is only rebuilt when what it shows changed: rebuilding it under someone typing
    // (the answer can come after they started) would drop their keystrokes with the focus.
    const dirty = nlu.draft && nlu.settings && JSON.stringify(nlu.draft) !== JSON.stringify(nluDraftOf(nlu.settings));
    const fresh = nluDraftOf(res.settings);
    const rebuild = !nlu.draft || (!dirty && JSON.stringify(fresh) !== JSON.stringify(nlu.draft)) || res.catalogue_from_products !== nlu.fromProducts;
    nlu.settings = res.settings;
    nlu.fromProducts = res.catalogue_from_products;
    if (rebuild) {
      if (!dirty) {
        nlu.draft = fresh;
        nlu.problems = [];
      }
      renderNluSettings();
    }
  } catch (e) {
    handleError(e);
  }
}

function nluDraftOf(s) {
  const d = { order_example: s.order_example || "" };
  for (const f of NLU_LIST_FIELDS) d[f] = (s[f] || []).join("\n");
  return d;
}

/** The form as the API takes it: one entry a line, blank lines dropped. */
function nluSettingsBody() {
  const d = nlu.draft;
  const body = {};
  for (const f of NLU_LIST_FIELDS) body[f] = d[f].split("\n").map((x) => x.trim()).filter(Boolean);
  const example = d.order_example.trim();
  if (example) body.order_example = example;
  return body;
}

/** The box's line (1-based) and text of the i-th entry the form sent (blank lines were dropped). */
function nluEntryLine(field, i) {
  const lines = nlu.draft[field].split("\n");
  let seen = -1;
  for (let n = 0; n < lines.length; n++) {
    if (lines[n].trim() && ++seen === i) return { n: n + 1, entry: lines[n].trim() };
  }
  return null;
}

/** The problems naming `field` (`field` or `field[i]`), with the line of the entry when given. */
function nluFieldProblems(field) {
  const items = nlu.problems.flatMap((p) => {
    const m = p.path.match(/^(\w+)(?:\[(\d+)\])?$/);
    if (!m || m[1] !== field) return [];
    const at = m[2] !== undefined ? nluEntryLine(field, Number(m[2])) : null;
    return [h("li", { dataset: { testid: "nlu-field-problem", path: p.path } },
      at ? t("nlu.set.problem.entry", at) + " " : "", p.message)];
  });
  return items.length ? h("ul", { class: "form-error nlu-problems", role: "alert", dataset: { testid: "nlu-error-" + field } }, ...items) : null;
}

function renderNluSettings() {
  const box = $("nlu-settings");
  const d = nlu.draft;
  if (!d) {
    box.replaceChildren();
    return;
  }
  const edit = nluCanSettings();
  const bind = (key) => (ev) => { nlu.draft[key] = ev.target.value; };
  const area = (field, rows) => {
    const problems = nluFieldProblems(field);
    return h("label", { class: "field" },
      h("span", {}, t("nlu.set." + field)),
      h("small", { class: "muted" }, t("nlu.set." + field + ".help")),
      h("textarea", {
        rows: String(rows), readonly: edit ? null : true, spellcheck: "false", "aria-invalid": problems ? "true" : null,
        dataset: { testid: "nlu-set-" + field }, oninput: bind(field),
      }, d[field]),
      problems);
  };
  const known = new Set(["order_example", ...NLU_LIST_FIELDS]);
  const other = nlu.problems.filter((p) => !known.has(p.path.replace(/\[\d+\]$/, "")));
  box.replaceChildren(
    h("form", { class: "kb-form nlu-form", dataset: { testid: "nlu-settings-form" }, onsubmit: (ev) => { ev.preventDefault(); saveNluSettings(); } },
      area("order_patterns", 3),
      h("label", { class: "field" }, h("span", {}, t("nlu.set.order_example")),
        h("small", { class: "muted" }, t("nlu.set.order_example.help")),
        h("input", { value: d.order_example, maxlength: "200", readonly: edit ? null : true, dataset: { testid: "nlu-set-order_example" }, oninput: bind("order_example") }),
        nluFieldProblems("order_example")),
      area("catalogue", 5),
      h("p", { class: "muted", dataset: { testid: "nlu-from-products", n: String(nlu.fromProducts) } }, t("nlu.set.from_products", { n: nlu.fromProducts })),
      area("terms", 4),
      other.length ? h("ul", { class: "form-error", role: "alert" }, ...other.map((p) => h("li", {}, p.path + ": " + p.message))) : null,
      edit ? h("div", { class: "row" }, h("button", { type: "submit", class: "btn primary", disabled: nlu.saving ? true : null, dataset: { testid: "nlu-settings-save" } }, t("nlu.set.save")))
        : h("p", { class: "muted", dataset: { testid: "nlu-read-only" } }, t("nlu.set.read_only")),
    ));
}

async function saveNluSettings() {
  if (nlu.saving) return;
  nlu.saving = true;
  renderNluSettings();
  try {
    const res = await api.nluSaveSettings(nluSettingsBody());
    nlu.settings = res.settings;
    nlu.draft = nluDraftOf(res.settings);
    nlu.problems = [];
    toast(t("nlu.set.saved"));
  } catch (e) {
    if (e.code === "invalid_settings") nlu.problems = e.problems;
    else handleError(e);
  } finally {
    nlu.saving = false;
  }
  renderNluSettings();
}

/* ── wiring ── */

function renderNlu() {
  $("nlu-toggle").textContent = nlu.open ? t("kb.close") : t("nlu.open");
  if (!state.me) return;
  renderNluTabs();
  renderNluTry();
  renderNluSettings();
  renderNluModels();
}

/** Wires the section's static controls (called once from app.js's boot). */
function bootNlu() {
  $("nlu-toggle").addEventListener("click", () => (nlu.open ? closeNlu() : openNlu()));
  $("nlu-try-form").addEventListener("submit", runNluTry);
  bootNluModels();
}

/** Session start and end: what the section showed belongs to one login. */
function nluSession(me) {
  Object.assign(nlu, { tab: "try", parse: null, settings: null, draft: null, fromProducts: 0, problems: [], saving: false });
  nluModelsSession();
  $("nlu-try-input").value = "";
  closeNlu();
  $("nlu-toggle").hidden = !me || !me.permissions.includes("read_knowledge");
  if (me) renderNlu();
}
