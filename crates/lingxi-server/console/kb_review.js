// Lingxi console: the review side of the knowledge section — knowledge gaps (clusters of
// questions the bot could not answer, one click to a draft entry), candidates learnt from
// agents' answers (accept → draft, or dismiss) and the "test a question" box that shows what
// the bot would do. Gaps and candidates are for supervisors and admins (`edit_knowledge`, as the
// API); the test box for everyone who reads the knowledge base. Uses knowledge.js and app.js.
"use strict";

const kbr = {
  gaps: null,            // GET /knowledge/gaps: {clusters, feedback}
  candidates: null,      // GET /knowledge/candidates: [...]
  candStatus: "open",
  test: null,            // GET /knowledge/search for the last question tested
  testQ: "",
  busy: false,
};

/** After a gap or a candidate became an entry: the entries tab with that entry in the editor. */
function openDraft(entry) {
  kb.q = "";
  kb.status = "";
  $("kb-search").value = "";
  $("kb-status-filter").value = "";
  showKbTab("entries");
  showKbEntry(entry);
}

/* ── knowledge gaps ── */

async function loadKbGaps() {
  try {
    kbr.gaps = await api.kbGaps();
  } catch (e) {
    handleError(e);
  }
  renderKbGaps();
}

function renderKbGaps() {
  const g = kbr.gaps;
  const list = $("kb-gap-list");
  if (!g) {
    list.replaceChildren();
    return;
  }
  // Answers' ratings feed the gaps; recommendations' are shown apart (they are not gaps).
  const rec = g.feedback.recommendations || { useful: 0, not_useful: 0 };
  $("kb-feedback").textContent = t("kb.gaps.feedback", { useful: g.feedback.useful, not_useful: g.feedback.not_useful }) +
    (rec.useful + rec.not_useful > 0 ? " · " + t("kb.gaps.feedback.rec", { useful: rec.useful, not_useful: rec.not_useful }) : "");
  $("kb-gaps-empty").hidden = g.clusters.length > 0;
  list.replaceChildren(...g.clusters.map((c) =>
    h("li", { class: "kb-card", dataset: { testid: "kb-gap", gapId: c.id, size: String(c.size) } },
      h("div", { class: "row" },
        h("strong", { class: "kb-card-title" }, c.question),
        h("span", { class: "kb-count", dataset: { testid: "kb-gap-size" } }, t("kb.gaps.size", { n: c.size })),
        h("span", { class: "badge ch" }, c.lang),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn primary", dataset: { testid: "kb-gap-draft" }, onclick: (ev) => draftFromGap(c, ev.target) }, t("kb.gaps.draft")),
      ),
      h("ul", { class: "kb-examples" }, ...c.examples.map((x) => h("li", { dataset: { testid: "kb-gap-example" } }, x))),
      h("div", { class: "muted kb-meta" },
        Object.entries(c.kinds).map(([k, n]) => t("kb.gaps.kind." + k) + " × " + n).join(" · "),
        " · ", t("kb.gaps.last_seen", { when: shortDateTime(c.last_seen_at) })),
    )));
}

async function draftFromGap(cluster, button) {
  button.disabled = true;
  try {
    const res = await api.kbDraftFromGap(cluster.id);
    toast(t("kb.gaps.drafted", { n: res.closed_gaps }));
    openDraft(res.entry);
  } catch (e) {
    handleError(e);
    button.disabled = false;
    loadKbGaps();
  }
}

/* ── candidates from agents ── */

async function loadKbCandidates() {
  try {
    kbr.candidates = (await api.kbCandidates(kbr.candStatus)).candidates;
  } catch (e) {
    handleError(e);
  }
  renderKbCandidates();
}

function renderKbCandidates() {
  const sel = $("kb-cand-status");
  sel.replaceChildren(...["open", "accepted", "dismissed", "all"].map((s) => h("option", { value: s }, t("kb.cand.status." + s))));
  sel.value = kbr.candStatus;
  const list = $("kb-cand-list");
  const cs = kbr.candidates;
  if (!cs) {
    list.replaceChildren();
    return;
  }
  $("kb-cands-empty").hidden = cs.length > 0;
  list.replaceChildren(...cs.map((c) =>
    h("li", { class: "kb-card", dataset: { testid: "kb-candidate", candidateId: c.id, kind: c.kind, status: c.status } },
      h("div", { class: "row" },
        h("strong", { class: "kb-card-title", dataset: { testid: "kb-candidate-question" } }, c.question),
        h("span", { class: "kb-count", dataset: { testid: "kb-candidate-occurrences" } }, t("kb.cand.seen", { n: c.occurrences })),
        h("span", { class: "badge ch" }, c.lang),
      ),
      h("div", { class: "kb-cand-kind", dataset: { testid: "kb-candidate-kind" } },
        c.kind === "phrasing"
          ? [t("kb.cand.phrasing_of") + " ", h("button", { type: "button", class: "btn link", onclick: () => openPhrasingTarget(c.entry_id) }, c.entry_id)]
          : t("kb.cand.new_entry")),
      c.kind === "new_entry" ? h("div", { class: "kb-cand-answer", dataset: { testid: "kb-candidate-answer" } }, c.answer) : null,
      h("div", { class: "row" },
        h("span", { class: "muted kb-meta" }, t("kb.cand.from", { when: shortDateTime(c.updated_at) }),
          c.status !== "open" ? " · " + t("kb.cand.status." + c.status) : ""),
        h("span", { class: "spacer" }),
        c.status === "open" ? [
          h("button", { type: "button", class: "btn ghost", dataset: { testid: "kb-candidate-dismiss" }, onclick: (ev) => decideCandidate(c, "dismiss", ev.target) }, t("kb.cand.dismiss")),
          h("button", { type: "button", class: "btn primary", dataset: { testid: "kb-candidate-accept" }, onclick: (ev) => decideCandidate(c, "accept", ev.target) },
            c.kind === "phrasing" ? t("kb.cand.accept_phrasing") : t("kb.cand.accept")),
        ] : c.drafted_entry_id ? h("button", { type: "button", class: "btn link", onclick: () => openPhrasingTarget(c.drafted_entry_id) }, c.drafted_entry_id) : null,
      ),
    )));
}

function openPhrasingTarget(id) {
  showKbTab("entries");
  openKbEntry(id);
}

async function decideCandidate(c, how, button) {
  button.disabled = true;
  try {
    if (how === "accept") {
      const res = await api.kbAccept(c.id);
      toast(c.kind === "phrasing" ? t("kb.cand.accepted_phrasing") : t("kb.cand.accepted"));
      openDraft(res.entry);
    } else {
      await api.kbDismiss(c.id);
      toast(t("kb.cand.dismissed"));
      loadKbCandidates();
    }
  } catch (e) {
    handleError(e);
    loadKbCandidates();
  }
}

/* ── test a question ── */

async function runKbTest(ev) {
  ev.preventDefault();
  const q = $("kb-test-input").value.trim();
  if (!q || kbr.busy) return;
  kbr.busy = true;
  kbr.testQ = q;
  try {
    kbr.test = await api.kbSearch(q, $("kb-test-lang").value);
  } catch (e) {
    kbr.test = null;
    handleError(e);
  } finally {
    kbr.busy = false;
  }
  renderKbTest();
}

function percent(x) {
  return (Math.round(x * 1000) / 10).toFixed(1) + " %";
}

function renderKbTest() {
  const sel = $("kb-test-lang");
  const lang = sel.value;
  sel.replaceChildren(h("option", { value: "" }, t("kb.test.lang_auto")), h("option", { value: "zh" }, t("kb.lang.zh")), h("option", { value: "en" }, t("kb.lang.en")));
  sel.value = lang;
  const box = $("kb-test-result");
  const r = kbr.test;
  if (!r) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(
    h("p", { class: "kb-decision", dataset: { testid: "kb-test-decision", decision: r.decision } },
      h("strong", {}, t("kb.test.decision." + r.decision)), " · ",
      t("kb.test.confidence", { p: percent(r.confidence) }), " · ", t("kb.test.mode." + r.mode)),
    h("p", { class: "muted" }, t("kb.test.explain." + r.decision)),
    r.hits.length
      ? h("ol", { class: "kb-hits" }, ...r.hits.map((hit) => h("li", { dataset: { testid: "kb-test-hit", entryId: hit.entry_id } },
        h("div", { class: "row" },
          h("button", { type: "button", class: "btn link kb-hit-q", onclick: () => openPhrasingTarget(hit.entry_id) }, hit.question),
          h("span", { class: "spacer" }),
          h("span", { class: "kb-count", dataset: { testid: "kb-test-hit-confidence" } }, percent(hit.confidence))),
        h("div", { class: "kb-hit-answer" }, hit.answer))))
      : h("p", { class: "muted" }, t("kb.test.no_hits")),
  );
}

/* ── wiring ── */

function renderKbReview() {
  renderKbGaps();
  renderKbCandidates();
  renderKbTest();
}

function bootKbReview() {
  $("kb-gaps-refresh").addEventListener("click", loadKbGaps);
  $("kb-cand-status").addEventListener("change", (ev) => { kbr.candStatus = ev.target.value; loadKbCandidates(); });
  $("kb-test-form").addEventListener("submit", runKbTest);
}

function kbReviewSession() {
  Object.assign(kbr, { gaps: null, candidates: null, candStatus: "open", test: null, testQ: "", busy: false });
  $("kb-test-input").value = "";
}
