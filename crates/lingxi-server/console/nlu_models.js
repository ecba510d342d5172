// Lingxi console: the tenant's intent models (understanding section, nlu.js is the shell) — the
// versions with the one in use, training a new version from Rasa-style markdown or JSON pasted
// in (or started from the built-in intents), its held-out report or every problem of a refused
// set with its line, activating a version or going back to the built-in intents, and exporting
// a version's training data. Changes need `edit_knowledge` (admins and supervisors, as the API
// checks); others see the list and exports only.
"use strict";

const nm = {
  models: null,         // GET /nlu/intent-models: versions, newest first
  active: null,         // the version in use, null for the built-in intents
  text: "",             // the training box
  activate: true,
  defaultsLang: "both",
  busy: false,
  trained: null,        // the last training's answer (the new version with its report)
  problems: [],         // the last refused set's problems
  seq: 0,
};

function nmCanTrain() {
  return can("edit_knowledge");
}

async function loadNluModels() {
  const seq = ++nm.seq;
  try {
    const res = await api.nluModels();
    if (seq !== nm.seq) return;
    nm.models = res.models;
    nm.active = res.active_version;
  } catch (e) {
    handleError(e);
  }
  renderNluModels();
}

/** Training data as the markdown the box and the built-in intents are written in. */
function nmMarkdown(data) {
  return data.intents.map((x) => "## intent:" + x.intent + "\n" + x.examples.map((e) => "- " + e).join("\n")).join("\n\n") + "\n";
}

/** The box as the API takes it: JSON (`{"intents": …}`, a bare list, or an exported version) or
 * else markdown. A JSON syntax error is reported here, like the server's problems. */
function nmBody() {
  const text = nm.text.trim();
  if (!/^[[{]/.test(text)) return { markdown: nm.text, activate: nm.activate };
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw Object.assign(new Error(e.message), { problems: [{ path: "json", message: e.message }] });
  }
  const intents = Array.isArray(data) ? data : (data.training_data || data).intents;
  return { intents: intents || [], activate: nm.activate };
}

/** For a markdown box, the line of the heading of the i-th intent (problems name intents by index). */
function nmIntentLine(i) {
  const seen = [];
  const lines = nm.text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const m = lines[n].trim().match(/^##\s*(?:intent:)?\s*(.+)$/);
    if (m && !seen.includes(m[1].trim())) {
      if (seen.length === i) return n + 1;
      seen.push(m[1].trim());
    }
  }
  return null;
}

/** Selects a line of the training box, so the problem is in view. */
function nmSelectLine(line) {
  const box = $("nlu-tab-models").querySelector("[data-testid=nlu-train-input]");
  if (!box) return;
  const lines = box.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  box.focus();
  box.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

async function trainNluModel() {
  if (nm.busy) return;
  nm.problems = [];
  nm.trained = null;
  let body;
  try {
    body = nmBody();
  } catch (e) {
    nm.problems = e.problems;
    renderNluModels();
    return;
  }
  nm.busy = true;
  renderNluModels();
  try {
    const res = await api.nluTrain(body);
    nm.trained = res.model;
    toast(t("nlu.train.done", { n: res.model.version }));
  } catch (e) {
    if (e.code === "invalid_training_data" || e.code === "invalid_request") {
      nm.problems = e.problems.length ? e.problems : [{ path: "", message: e.message }];
    } else handleError(e);
  } finally {
    nm.busy = false;
  }
  await loadNluModels();
}

async function activateNluModel(version) {
  try {
    await api.nluActivate(version);
    toast(version === null ? t("nlu.models.defaults_now") : t("nlu.models.active_now", { n: version }));
  } catch (e) {
    handleError(e);
  }
  await loadNluModels();
}

async function fillFromDefaults() {
  try {
    const d = await api.nluDefaults();
    const langs = nm.defaultsLang === "both" ? ["zh", "en"] : [nm.defaultsLang];
    nm.text = langs.map((l) => nmMarkdown(d[l])).join("\n");
    nm.problems = [];
  } catch (e) {
    handleError(e);
  }
  renderNluModels();
}

async function nmTrainingData(version) {
  return (await api.nluModel(version)).training_data;
}

async function exportNluModel(version) {
  try {
    const data = await nmTrainingData(version);
    const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" }));
    const a = h("a", { href: url, download: "intents-v" + version + ".json" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    handleError(e);
  }
}

async function editNluCopy(version) {
  try {
    nm.text = nmMarkdown(await nmTrainingData(version));
    nm.problems = [];
    nm.trained = null;
    renderNluModels();
    $("nlu-tab-models").querySelector("[data-testid=nlu-train-input]").focus();
  } catch (e) {
    handleError(e);
  }
}

/* ── rendering ── */

function renderNluModels() {
  renderNmList();
  renderNmTrain();
}

function renderNmList() {
  const box = $("nlu-models");
  if (!nm.models) {
    box.replaceChildren();
    return;
  }
  const edit = nmCanTrain();
  const btn = (testid, label, onclick, primary) => h("button", { type: "button", class: "btn " + (primary ? "primary" : "ghost"), dataset: { testid }, onclick }, label);
  box.replaceChildren(
    h("div", { class: "row" },
      h("p", { dataset: { testid: "nlu-active", version: nm.active === null ? "" : String(nm.active) } },
        h("strong", {}, nm.active === null ? t("nlu.models.in_use_defaults") : t("nlu.models.in_use", { n: nm.active }))),
      h("span", { class: "spacer" }),
      edit && nm.active !== null ? btn("nlu-use-defaults", t("nlu.models.use_defaults"), () => activateNluModel(null)) : null),
    nm.models.length ? h("table", { class: "nlu-table", dataset: { testid: "nlu-model-list" } },
      h("thead", {}, h("tr", {}, ...["version", "created", "intents", "examples", "accuracy", "status", ""].map((c) => h("th", {}, c ? t("nlu.models.col." + c) : "")))),
      h("tbody", {}, ...nm.models.map((m) => {
        const rep = m.report || {};
        return h("tr", { class: m.active ? "nlu-active-row" : null, dataset: { testid: "nlu-model-row", version: String(m.version), active: m.active ? "true" : "false" } },
          h("td", {}, t("kb.version", { n: m.version })),
          h("td", {}, shortDateTime(m.created_at), " · ", kbWho(m.created_by)),
          h("td", {}, String(m.intents)),
          h("td", {}, String(m.examples)),
          h("td", {}, rep.holdout_accuracy !== undefined ? percent(rep.holdout_accuracy) : ""),
          h("td", {}, m.active ? h("span", { class: "state kb-st-published", dataset: { testid: "nlu-model-in-use" } }, t("nlu.models.active")) : null),
          h("td", { class: "nlu-actions" },
            edit && !m.active ? btn("nlu-activate", t("nlu.models.activate"), () => activateNluModel(m.version)) : null,
            btn("nlu-export", t("nlu.models.export"), () => exportNluModel(m.version)),
            edit ? btn("nlu-edit-copy", t("nlu.models.edit_copy"), () => editNluCopy(m.version)) : null));
      })))
      : h("p", { class: "muted", dataset: { testid: "nlu-models-empty" } }, t("nlu.models.empty")),
  );
}

function nmProblem(p) {
  const m = p.path.match(/^intents\[(\d+)\]/);
  const line = p.line || (m && !/^[[{]/.test(nm.text.trim()) ? nmIntentLine(Number(m[1])) : null);
  return h("li", { dataset: { testid: "nlu-train-problem", path: p.path, line: line ? String(line) : "" } },
    line ? h("button", { type: "button", class: "btn link", onclick: () => nmSelectLine(line) }, t("nlu.train.line", { n: line })) : null,
    p.path && p.path !== "markdown" ? h("code", {}, p.path) : null, " ", p.message);
}

function renderNmReport(m) {
  const rep = m.report || {};
  return h("section", { class: "kb-card", dataset: { testid: "nlu-train-report", version: String(m.version) } },
    h("h3", { class: "kb-card-title" }, t("nlu.train.report", { n: m.version, intents: m.intents, examples: m.examples })),
    h("p", { dataset: { testid: "nlu-report-accuracy" } }, t("nlu.train.accuracy", { p: percent(rep.holdout_accuracy || 0), n: rep.holdout_examples || 0 }),
      " · ", t("nlu.train.ms", { ms: rep.training_ms || 0 }), " · ", m.active ? t("nlu.train.in_use") : t("nlu.train.not_in_use")),
    (rep.weak_intents || []).length
      ? [h("p", { class: "muted" }, t("nlu.train.weak")),
        h("ul", { class: "kb-examples" }, ...rep.weak_intents.map((w) => h("li", { dataset: { testid: "nlu-weak-intent", intent: w.intent } },
          t("nlu.train.weak_one", { intent: w.intent, p: percent(w.recall), n: w.held_out }))))]
      : h("p", { class: "muted", dataset: { testid: "nlu-no-weak" } }, t("nlu.train.no_weak")));
}

function renderNmTrain() {
  const box = $("nlu-train");
  box.hidden = !nmCanTrain();
  if (box.hidden) {
    box.replaceChildren();
    return;
  }
  const langSel = h("select", { dataset: { testid: "nlu-defaults-lang" }, "aria-label": t("nlu.train.defaults_lang"), onchange: (ev) => { nm.defaultsLang = ev.target.value; } },
    ...["both", "zh", "en"].map((l) => h("option", { value: l, selected: l === nm.defaultsLang ? true : null }, t("nlu.train.lang." + l))));
  // replaceChildren would print a missing part as the text "null".
  box.replaceChildren(...[
    h("h3", {}, t("nlu.train.heading")),
    h("p", { class: "muted" }, t("nlu.train.help")),
    h("div", { class: "row" }, langSel,
      h("button", { type: "button", class: "btn ghost", dataset: { testid: "nlu-train-defaults" }, onclick: fillFromDefaults }, t("nlu.train.defaults"))),
    h("textarea", {
      rows: "14", spellcheck: "false", class: "nlu-code", "aria-label": t("nlu.train.label"), placeholder: t("nlu.train.placeholder"),
      dataset: { testid: "nlu-train-input" }, oninput: (ev) => { nm.text = ev.target.value; },
    }, nm.text),
    h("div", { class: "row" },
      h("label", { class: "row" }, h("input", { type: "checkbox", checked: nm.activate ? true : null, dataset: { testid: "nlu-train-activate" }, onchange: (ev) => { nm.activate = ev.target.checked; } }), t("nlu.train.activate")),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn primary", disabled: nm.busy ? true : null, dataset: { testid: "nlu-train-submit" }, onclick: trainNluModel },
        nm.busy ? t("nlu.train.busy") : t("nlu.train.submit"))),
    nm.problems.length ? h("div", { class: "form-error", role: "alert", dataset: { testid: "nlu-train-problems" } },
      h("p", {}, t("nlu.train.refused", { n: nm.problems.length })), h("ul", {}, ...nm.problems.map(nmProblem))) : null,
    nm.trained ? renderNmReport(nm.trained) : null,
  ].filter(Boolean));
}

function bootNluModels() { /* every control is built by renderNluModels */ }

function nluModelsSession() {
  Object.assign(nm, { models: null, active: null, text: "", activate: true, defaultsLang: "both", busy: false, trained: null, problems: [] });
}
