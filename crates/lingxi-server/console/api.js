// Lingxi console: talking to the server. `api` wraps the JSON HTTP API (the session rides in
// the HttpOnly cookie set at login), and `LiveSocket` keeps the /api/v1/stream WebSocket open,
// reconnecting with exponential backoff when it drops.
"use strict";

/** An error answered by the API (`{error:{code,message}}`, with `problems` [{path, message, line}]
 * for refused training data or settings) or a network failure. */
class ApiError extends Error {
  constructor(status, code, message, problems) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems || [];
  }
}

const api = {
  /** Sends a request and returns the parsed JSON body (null for 204); throws ApiError otherwise. */
  async request(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "network", t("error.network"));
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText, data && data.problems);
    }
    return data;
  },
  get(path) { return this.request("GET", path); },
  post(path, body) { return this.request("POST", path, body === undefined ? {} : body); },
  put(path, body) { return this.request("PUT", path, body); },
  del(path) { return this.request("DELETE", path); },

  login(email, password) { return this.post("/api/v1/auth/login", { email, password }); },
  logout() { return this.request("POST", "/api/v1/auth/logout"); },
  me() { return this.get("/api/v1/me"); },
  conversations(filter) {
    const q = new URLSearchParams({ limit: "200" });
    if (filter === "mine") q.set("assignee", "me");
    else if (filter === "team") q.set("team", "mine");
    else if (filter === "queue") q.set("state", "queued");
    else if (filter && filter !== "all") q.set("state", filter);
    return this.get("/api/v1/conversations?" + q.toString());
  },
  conversation(id) { return this.get("/api/v1/conversations/" + encodeURIComponent(id)); },
  customer(id) { return this.get("/api/v1/customers/" + encodeURIComponent(id)); },
  timeline(id) { return this.get("/api/v1/customers/" + encodeURIComponent(id) + "/timeline"); },
  reply(id, text) {
    return this.post("/api/v1/conversations/" + encodeURIComponent(id) + "/messages", { content: { type: "text", text } });
  },
  notes(id) { return this.get("/api/v1/conversations/" + encodeURIComponent(id) + "/notes"); },
  addNote(id, text) { return this.post("/api/v1/conversations/" + encodeURIComponent(id) + "/notes", { text }); },
  suggestions(id) { return this.get("/api/v1/conversations/" + encodeURIComponent(id) + "/suggestions"); },
  transfer(id, body) { return this.post("/api/v1/conversations/" + encodeURIComponent(id) + "/transfer", body); },
  teams() { return this.get("/api/v1/teams"); },
  users() { return this.get("/api/v1/users"); },
  queueOverview() { return this.get("/api/v1/queues/overview"); },
  // Knowledge base (knowledge.js): entries, review workflow, gaps, candidates, search.
  kbEntries({ q, status, limit }) {
    const p = new URLSearchParams({ limit: String(limit) });
    if (q) p.set("q", q);
    if (status) p.set("status", status);
    return this.get("/api/v1/knowledge/faqs?" + p.toString());
  },
  kbEntry(id) { return this.get("/api/v1/knowledge/faqs/" + encodeURIComponent(id)); },
  kbCreate(entry) { return this.post("/api/v1/knowledge/faqs", entry); },
  kbUpdate(id, entry) { return this.put("/api/v1/knowledge/faqs/" + encodeURIComponent(id), entry); },
  kbDelete(id) { return this.del("/api/v1/knowledge/faqs/" + encodeURIComponent(id)); },
  kbSetStatus(id, status) { return this.post("/api/v1/knowledge/faqs/" + encodeURIComponent(id) + "/status", { status }); },
  kbVersions(id) { return this.get("/api/v1/knowledge/faqs/" + encodeURIComponent(id) + "/versions"); },
  kbGaps() { return this.get("/api/v1/knowledge/gaps"); },
  kbDraftFromGap(id) { return this.post("/api/v1/knowledge/gaps/" + encodeURIComponent(id) + "/draft", {}); },
  kbCandidates(status) { return this.get("/api/v1/knowledge/candidates?" + new URLSearchParams({ status }).toString()); },
  kbAccept(id) { return this.post("/api/v1/knowledge/candidates/" + encodeURIComponent(id) + "/accept", {}); },
  kbDismiss(id) { return this.post("/api/v1/knowledge/candidates/" + encodeURIComponent(id) + "/dismiss"); },
  kbSearch(q, lang) {
    const p = new URLSearchParams({ q, limit: "5" });
    if (lang) p.set("lang", lang);
    return this.get("/api/v1/knowledge/search?" + p.toString());
  },
  // Understanding (nlu.js, nlu_models.js): parse, intent models, entity settings.
  nluParse(text) { return this.post("/api/v1/nlu/parse", { text }); },
  nluModels() { return this.get("/api/v1/nlu/intent-models"); },
  nluModel(version) { return this.get("/api/v1/nlu/intent-models/" + encodeURIComponent(version)); },
  nluTrain(body) { return this.post("/api/v1/nlu/intent-models", body); },
  nluActivate(version) { return this.put("/api/v1/nlu/active-intent-model", { version }); },
  nluDefaults() { return this.get("/api/v1/nlu/default-intents"); },
  nluSettings() { return this.get("/api/v1/nlu/settings"); },
  nluSaveSettings(settings) { return this.put("/api/v1/nlu/settings", settings); },
  transition(id, transition, extra) {
    return this.post("/api/v1/conversations/" + encodeURIComponent(id) + "/transitions", Object.assign({ transition }, extra || {}));
  },
};

/**
 * The live event stream. Calls `onEvent(event)` for each pushed event and `onStatus(status, retryMs)`
 * with "connecting", "live" or "offline". After a drop it waits 0.5 s, 1 s, 2 s … (capped at 15 s,
 * with jitter) before trying again; `onReconnected()` runs after a successful reconnect so the
 * caller can refetch what it may have missed.
 */
class LiveSocket {
  constructor({ onEvent, onStatus, onReconnected }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onReconnected = onReconnected;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.everConnected = false;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.everConnected = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
  }

  connect() {
    if (this.stopped) return;
    this.onStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/api/v1/stream");
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (msg.type === "hello") {
        const wasReconnect = this.everConnected;
        this.attempt = 0;
        this.everConnected = true;
        this.onStatus("live");
        if (wasReconnect) this.onReconnected();
      }
      this.onEvent(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const base = Math.min(15000, 500 * Math.pow(2, this.attempt));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.everConnected = true; // whatever happens next is a reconnect: refetch on hello
    this.onStatus("offline", delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
