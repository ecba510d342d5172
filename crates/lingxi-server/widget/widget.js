/* Lingxi chat widget: one script, no build step, no framework.
 *   <script src="https://your-lingxi/widget.js" data-channel="chn_…" async></script>
 * Optional: data-lang="zh|en" (default: the browser's language), data-name="…" (the visitor's
 * name, if the page knows it), data-open="true" (start with the window open).
 * The visitor token lives in localStorage, so history survives reloads. Messages arrive over a
 * WebSocket that reconnects with backoff and catches up on what it missed (no duplicates).
 * The bot's answers and suggestions carry 👍 / 👎 (the server says which can be rated). */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-channel][src*='widget.js']");
  if (!script || window.__lingxiWidget) return;
  var channel = script.getAttribute("data-channel");
  if (!channel) { console.warn("lingxi widget: data-channel is missing"); return; }
  var base = new URL(script.src, location.href).origin;
  var langAttr = (script.getAttribute("data-lang") || navigator.language || "en").toLowerCase();
  var lang = langAttr.indexOf("zh") === 0 ? "zh" : "en";
  var TEXT = {
    zh: {
      title: "在线客服", open: "联系客服", close: "关闭", placeholder: "输入消息…", send: "发送",
      bot: "智能助手", agent: "客服", customer: "我", hello: "您好！请问有什么可以帮您？",
      online: "在线", connecting: "连接中…", offline: "连接已断开，正在重连…", failed: "发送失败，点击重试",
      joined: "人工客服已接入", resolved: "本次会话已结束，如有问题可继续留言",
      rate: "这条回答有帮助吗？", useful: "有用", notUseful: "没用", rateFailed: "评价未提交，请重试",
    },
    en: {
      title: "Customer service", open: "Chat with us", close: "Close", placeholder: "Type a message…", send: "Send",
      bot: "Assistant", agent: "Agent", customer: "You", hello: "Hi! How can we help you?",
      online: "Online", connecting: "Connecting…", offline: "Disconnected — reconnecting…", failed: "Not sent — tap to retry",
      joined: "An agent has joined the chat", resolved: "This chat has ended; write again any time",
      rate: "Was this answer helpful?", useful: "Useful", notUseful: "Not useful", rateFailed: "Rating not sent — try again",
    },
  }[lang];
  var storeKey = "lingxi.widget." + channel;
  var token = null;
  try { token = localStorage.getItem(storeKey); } catch (e) { /* storage blocked: session only */ }

  var CSS = [
    ":host{all:initial}",
    ".lx{font:14px/1.45 -apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#1f2328}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;background:#4f46e5;color:#fff;font:inherit;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}",
    ".badge{display:inline-block;min-width:18px;margin-left:6px;border-radius:9px;background:#ef4444;font-size:12px;text-align:center}",
    ".panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden}",
    ".panel[hidden]{display:none}",
    ".head{display:flex;align-items:center;gap:8px;padding:12px 14px;background:#4f46e5;color:#fff;font-weight:600}",
    ".head .status{flex:1;font-weight:400;font-size:12px;opacity:.85}",
    ".head button{border:0;background:transparent;color:#fff;font-size:18px;cursor:pointer}",
    ".msgs{flex:1;overflow-y:auto;padding:12px;background:#f6f7f9}",
    ".msg{max-width:80%;margin:6px 0;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-break:break-word}",
    ".msg .who{display:block;font-size:11px;color:#6b7280;margin-bottom:2px}",
    ".msg.customer{margin-left:auto;background:#4f46e5;color:#fff}.msg.customer .who{color:#e0e7ff}",
    ".msg.bot,.msg.agent{background:#fff;border:1px solid #e5e7eb}.msg.agent{border-color:#a5b4fc}",
    ".msg.pending{opacity:.6}.msg.failed{background:#fee2e2;color:#991b1b;cursor:pointer}",
    ".rich-img{display:block;max-width:100%;max-height:180px;margin-top:6px;border-radius:6px}",
    ".rich-link{display:block;margin-top:4px;color:#4338ca;text-decoration:underline}",
    ".rate{display:flex;gap:4px;margin-top:4px;white-space:normal}",
    ".rate button{border:1px solid #e5e7eb;background:#fff;border-radius:12px;padding:1px 8px;font:inherit;font-size:13px;cursor:pointer;opacity:.7}",
    ".rate button:hover,.rate button:focus-visible{opacity:1}",
    ".rate button[aria-pressed=true]{opacity:1;border-color:#4f46e5;background:#eef2ff}",
    ".note{text-align:center;font-size:12px;color:#6b7280;margin:8px 0}",
    ".sugg{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}",
    ".sugg button{border:1px solid #a5b4fc;background:#eef2ff;color:#3730a3;border-radius:14px;padding:4px 10px;font:inherit;font-size:13px;cursor:pointer}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb}",
    "input{flex:1;border:1px solid #d1d5db;border-radius:8px;padding:8px 10px;font:inherit}",
    "form button{border:0;border-radius:8px;padding:8px 14px;background:#4f46e5;color:#fff;font:inherit;cursor:pointer}",
  ].join("\n");

  // Rendered inside a shadow root: the host page's styles cannot break it, nor it theirs.
  var host = document.createElement("div");
  host.setAttribute("data-testid", "lingxi-widget");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style><div class='lx'>" +
    "<button class='launcher' data-testid='lingxi-launcher'></button>" +
    "<section class='panel' data-testid='lingxi-panel' hidden role='dialog'>" +
    "<div class='head'><span class='title'></span><span class='status' data-testid='lingxi-status'></span>" +
    "<button class='x' data-testid='lingxi-close'>×</button></div>" +
    "<div class='msgs' data-testid='lingxi-messages' aria-live='polite'></div>" +
    "<form data-testid='lingxi-form'><input data-testid='lingxi-input' autocomplete='off' maxlength='2000'>" +
    "<button type='submit' data-testid='lingxi-send'></button></form></section></div>";
  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), list = $(".msgs"), input = $("input"), status = $(".status");
  $(".title").textContent = TEXT.title;
  $(".x").setAttribute("aria-label", TEXT.close);
  $("form button").textContent = TEXT.send;
  input.placeholder = TEXT.placeholder;
  var unread = 0;
  function renderLauncher() {
    launcher.textContent = TEXT.open;
    if (unread > 0) {
      var b = document.createElement("span");
      b.className = "badge";
      b.textContent = String(unread);
      launcher.appendChild(b);
    }
  }
  renderLauncher();
  function setOpen(open) {
    panel.hidden = !open;
    if (open) { unread = 0; renderLauncher(); input.focus(); list.scrollTop = list.scrollHeight; }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  $(".x").addEventListener("click", function () { setOpen(false); });

  var seen = {};        // message id -> element: the one rule against duplicates
  var lastMs = 0;       // newest received_at seen: where a catch-up starts
  var convState = {};   // conversation id -> last known state
  var hello = document.createElement("div");
  hello.className = "msg bot";
  hello.textContent = TEXT.hello;
  list.appendChild(hello);

  function note(text) {
    var n = document.createElement("div");
    n.className = "note";
    n.setAttribute("data-testid", "lingxi-note");
    n.textContent = text;
    list.appendChild(n);
    list.scrollTop = list.scrollHeight;
  }

  // "Did you mean one of these?\n1. …\n2. …" from the bot: offer the questions as buttons.
  function suggestions(text) {
    var lines = String(text || "").split("\n").slice(1);
    var qs = [];
    for (var i = 0; i < lines.length; i++) {
      var m = /^\s*\d+\.\s+(.+)$/.exec(lines[i]);
      if (m) qs.push(m[1]);
    }
    return qs.length === lines.length ? qs : [];
  }

  function bubble(m) {
    var el = document.createElement("div");
    el.className = "msg " + m.sender;
    el.setAttribute("data-testid", "lingxi-message");
    el.setAttribute("data-sender", m.sender);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = TEXT[m.sender] || m.sender;
    var body = document.createElement("span");
    body.className = "text";
    var c = m.content || {};
    body.textContent = c.type === "text" || c.type === "rich" ? c.text : c.type === "image" ? (c.caption || "[image] " + c.url)
      : c.type === "file" ? "[file] " + c.name : c.type === "location" ? "[location] " + (c.label || "") : "";
    el.appendChild(who);
    el.appendChild(body);
    if (c.type === "rich") richParts(el, c);
    if (m.sender === "bot" && m.rateable && m.id) el.appendChild(thumbs(m));
    return el;
  }

  // 👍 / 👎 under a rateable bot message. The choice shows as pressed once the server has it
  // (so after a reload too: history says how it was rated); pressing the other one changes it.
  function thumbs(m) {
    var box = document.createElement("div");
    box.className = "rate";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", TEXT.rate);
    box.setAttribute("data-testid", "lingxi-rate");
    var buttons = [[true, "👍", TEXT.useful, "lingxi-rate-up"], [false, "👎", TEXT.notUseful, "lingxi-rate-down"]]
      .map(function (d) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = d[1];
        b.title = d[2];
        b.setAttribute("aria-label", d[2]);
        b.setAttribute("data-testid", d[3]);
        b.addEventListener("click", function () { rate(d[0]); });
        box.appendChild(b);
        return b;
      });
    function show(rating) {
      buttons[0].setAttribute("aria-pressed", String(rating === "useful"));
      buttons[1].setAttribute("aria-pressed", String(rating === "not_useful"));
    }
    function rate(useful) {
      buttons.forEach(function (b) { b.disabled = true; });
      api("POST", "/api/v1/widget/feedback", { message_id: m.id, useful: useful }).then(function (r) {
        box.removeAttribute("title");
        show(r.rating);
      }, function () {
        box.title = TEXT.rateFailed;
      }).then(function () {
        buttons.forEach(function (b) { b.disabled = false; });
      });
    }
    show(m.rating);
    return box;
  }

  // Only http(s) URLs become images or links (the server checks too; this is the second lock).
  function safeUrl(u) { return typeof u === "string" && /^https?:\/\//i.test(u) ? u : null; }

  // A rich message's images and links, as DOM nodes (never HTML from the message).
  function richParts(el, c) {
    (c.images || []).forEach(function (img) {
      var src = safeUrl(img.url);
      if (!src) return;
      var i = document.createElement("img");
      i.className = "rich-img";
      i.src = src;
      i.alt = img.alt || "";
      i.loading = "lazy";
      i.referrerPolicy = "no-referrer";
      i.setAttribute("data-testid", "lingxi-image");
      el.appendChild(i);
    });
    var links = (c.links || []).map(function (l) { return [l.title, l.url]; })
      .concat((c.buttons || []).filter(function (b) { return b.url; }).map(function (b) { return [b.label, b.url]; }));
    links.forEach(function (l) {
      var href = safeUrl(l[1]);
      if (!href) return;
      var a = document.createElement("a");
      a.className = "rich-link";
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = l[0];
      a.setAttribute("data-testid", "lingxi-link");
      el.appendChild(a);
    });
  }

  // Buttons under a bot message: a rich message's quick replies (pressing one sends its
  // payload), or the numbered lines of an older text message.
  function replies(m) {
    var c = m.content || {};
    if (c.type === "rich" && m.sender !== "customer") {
      return (c.buttons || []).filter(function (b) { return typeof b.payload === "string"; })
        .map(function (b) { return { label: b.label, send: b.payload }; });
    }
    if (m.sender !== "bot") return [];
    return suggestions(c.text).map(function (q) { return { label: q, send: q }; });
  }

  /** Adds a message once, in time order; `live` ones count as unread while the window is closed. */
  function add(m, live) {
    if (!m || !m.id || seen[m.id]) return false;
    if (m.sender === "customer") settlePending((m.content || {}).text);
    var ms = Date.parse(m.received_at) || Date.now();
    if (ms > lastMs) lastMs = ms;
    var el = bubble(m);
    el.setAttribute("data-ms", String(ms));
    el.setAttribute("data-id", m.id);
    seen[m.id] = el;
    // Insert before the first later message (replies can arrive before a slow send's answer).
    var after = null, nodes = list.querySelectorAll(".msg[data-ms]");
    for (var i = 0; i < nodes.length; i++) {
      if (Number(nodes[i].getAttribute("data-ms")) > ms) { after = nodes[i]; break; }
    }
    list.insertBefore(el, after);
    if (m.sender !== "customer") {
      var qs = replies(m);
      if (qs.length) {
        var box = document.createElement("div");
        box.className = "sugg";
        box.setAttribute("data-testid", "lingxi-suggestions");
        qs.forEach(function (q) {
          var b = document.createElement("button");
          b.type = "button";
          b.textContent = q.label;
          b.addEventListener("click", function () { box.remove(); send(q.send); });
          box.appendChild(b);
        });
        list.insertBefore(box, el.nextSibling);
      }
    }
    if (!after) list.scrollTop = list.scrollHeight;
    if (live && m.sender !== "customer" && panel.hidden) { unread++; renderLauncher(); }
    return true;
  }

  function api(method, path, body) {
    var headers = { Authorization: "Bearer " + token };
    if (body) headers["Content-Type"] = "application/json";
    return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (json) {
          if (!res.ok) { var e = new Error((json.error && json.error.message) || res.status); e.status = res.status; throw e; }
          return json;
        });
      });
  }

  function session(fresh) {
    var body = { channel_id: channel };
    if (token && !fresh) body.token = token;
    var name = script.getAttribute("data-name");
    if (name) body.name = name;
    return fetch(base + "/api/v1/widget/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error((json.error && json.error.message) || res.status);
        token = json.token;
        try { localStorage.setItem(storeKey, token); } catch (e) { /* session only */ }
      });
    });
  }

  function catchUp() {
    var q = lastMs ? "?since=" + lastMs : "";
    return api("GET", "/api/v1/widget/messages" + q).then(function (r) { (r.messages || []).forEach(function (m) { add(m, false); }); });
  }

  var ws = null, attempt = 0, ready = null;
  function connect() {
    status.textContent = attempt ? TEXT.offline : TEXT.connecting;
    status.setAttribute("data-state", "connecting");
    var url = base.replace(/^http/, "ws") + "/api/v1/widget/stream?token=" + encodeURIComponent(token);
    var sock = new WebSocket(url);
    ws = sock;
    sock.onmessage = function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (x) { return; }
      if (e.type === "hello") {
        attempt = 0;
        status.textContent = TEXT.online;
        status.setAttribute("data-state", "online");
        // Whatever arrived while disconnected: fetched once the stream is live, so nothing
        // falls between the two (duplicates are dropped by id).
        catchUp().catch(function () {});
      } else if (e.type === "message") {
        add(e.message, true);
      } else if (e.type === "resync") {
        catchUp().catch(function () {});
      } else if (e.type === "conversation" && e.conversation) {
        var id = e.conversation.id, st = e.conversation.state;
        if (convState[id] !== st) {
          if (st === "assigned") note(TEXT.joined);
          if (st === "resolved") note(TEXT.resolved);
        }
        convState[id] = st;
      }
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      status.textContent = TEXT.offline;
      status.setAttribute("data-state", "offline");
      // Exponential backoff with jitter, capped: a restarting server is not stampeded.
      var delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
      attempt++;
      setTimeout(connect, delay);
    };
  }

  // The customer's own bubbles shown before the server confirms them. The stream can deliver
  // the stored message before the send's answer arrives: the stored one then replaces the
  // bubble at once, so the customer never sees their message twice.
  var pending = [];
  function settlePending(text) {
    for (var i = 0; i < pending.length; i++) {
      if (pending[i].text === text) { pending[i].el.remove(); pending.splice(i, 1); return; }
    }
  }
  function forgetPending(el) { pending = pending.filter(function (p) { return p.el !== el; }); }
  function dropPending(el) { el.remove(); forgetPending(el); }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function send(text, el, clientId) {
    text = String(text || "").trim();
    if (!text) return;
    clientId = clientId || newId();
    if (!el) {
      el = bubble({ sender: "customer", content: { type: "text", text: text } });
      el.classList.add("pending");
      list.appendChild(el);
      list.scrollTop = list.scrollHeight;
    }
    el.classList.remove("failed");
    el.classList.add("pending");
    el.onclick = null;
    pending.push({ text: text, el: el });
    var tries = 0;
    function attemptSend() {
      (ready || Promise.reject(new Error("not connected"))).then(function () {
        return api("POST", "/api/v1/widget/messages", { client_message_id: clientId, content: { type: "text", text: text } });
      }).then(function (r) {
        dropPending(el);
        if (seen[r.message.id]) return;   // the stream was faster
        add(r.message);
      }, function (err) {
        // Same client id on every retry: the server stores the message at most once.
        if (err.status && err.status < 500 && err.status !== 401) { fail(); return; }
        if (++tries < 4) { setTimeout(attemptSend, 500 * tries); return; }
        fail();
      });
    }
    function fail() {
      forgetPending(el);
      el.classList.remove("pending");
      el.classList.add("failed");
      el.title = TEXT.failed;
      el.onclick = function () { send(text, el, clientId); };
    }
    attemptSend();
  }

  root.querySelector("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });

  function start() {
    ready = session(false)
      .then(function () { return catchUp(); })
      .catch(function (e) {
        // A token the server no longer knows: start over as a new visitor.
        if (e && e.status === 401) return session(true).then(catchUp);
        throw e;
      });
    ready.then(connect, function (e) {
      status.textContent = TEXT.offline;
      console.warn("lingxi widget:", e && e.message);
      ready = null;
      setTimeout(start, 5000);
    });
  }

  window.__lingxiWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
  function mount() {
    document.body.appendChild(host);
    if (script.getAttribute("data-open") === "true") setOpen(true);
    start();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
