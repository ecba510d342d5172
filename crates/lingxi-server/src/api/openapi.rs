//! The OpenAPI 3.1 document served at `/api/openapi.json`, written by hand from one table of
//! operations. A test checks that every route of the router is in this table and back.

use crate::error::ERROR_CODES;
use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, auth, summary, request body schema or "", success status)
pub const OPERATIONS: &[(&str, &str, &str, &str, &str, u16)] = &[
    ("get", "/healthz", "none", "The process is up; `knowledge.mode` is `hybrid` (sentence encoder loaded) or `lexical`.", "", 200),
    ("get", "/readyz", "none", "The store is reachable and the server accepts work.", "", 200),
    ("get", "/metrics", "none", "Prometheus metrics.", "", 200),
    ("get", "/api/openapi.json", "none", "This document.", "", 200),
    ("post", "/api/v1/auth/login", "none", "Log in with e-mail and password; sets the session cookie and returns a bearer token.", "Login", 200),
    ("post", "/api/v1/auth/logout", "session", "End the current session.", "", 204),
    ("get", "/api/v1/me", "session", "The logged-in user, tenant and permissions.", "", 200),
    ("post", "/api/v1/me/presence", "session", "Set your presence for routing: online, away or offline (an open live stream counts as online).", "Presence", 200),
    ("get", "/api/v1/queues", "session", "Waiting conversations in service order, and every agent's presence and load (supervisor, admin).", "", 200),
    ("get", "/api/v1/queues/overview", "session", "Per team: waiting conversations in service order, the oldest wait, and the team's people with presence and load (supervisor, admin).", "", 200),
    ("post", "/api/v1/inbound/messages", "channel", "A channel posts a customer message (idempotent per channel message id).", "InboundMessage", 201),
    ("post", "/api/v1/inbound/feedback", "channel", "A customer rates one bot message useful or not, named by its id: a knowledge-base answer (not useful logs the question it answered as a knowledge gap), a tool's answer or a recommendation (feedback only, counted apart). 404 unknown_message, 422 not_a_bot_answer.", "Feedback", 200),
    ("get", "/api/v1/knowledge/faqs", "session", "List FAQ entries (query: status, q, limit).", "", 200),
    ("post", "/api/v1/knowledge/faqs", "session", "Create a FAQ entry as a draft (admin, supervisor).", "Faq", 201),
    ("get", "/api/v1/knowledge/faqs/{id}", "session", "A FAQ entry.", "", 200),
    ("put", "/api/v1/knowledge/faqs/{id}", "session", "Replace a FAQ entry's content; `version` is the version edited (compare-and-set).", "Faq", 200),
    ("delete", "/api/v1/knowledge/faqs/{id}", "session", "Delete a FAQ entry and its history (admin, supervisor).", "", 200),
    ("post", "/api/v1/knowledge/faqs/{id}/status", "session", "Move an entry through review: draft, in_review, published, archived.", "FaqStatus", 200),
    ("get", "/api/v1/knowledge/faqs/{id}/versions", "session", "Every version of an entry, newest first.", "", 200),
    ("get", "/api/v1/knowledge/articles", "session", "List articles (title, status, number of passages).", "", 200),
    ("get", "/api/v1/knowledge/articles/{id}", "session", "An article with its Markdown and passages.", "", 200),
    ("post", "/api/v1/knowledge/articles", "session", "Create an article (Markdown, id in the body); published articles' passages are searched like FAQ answers.", "Article", 201),
    ("put", "/api/v1/knowledge/articles/{id}", "session", "Replace an article's Markdown and status.", "Article", 200),
    ("delete", "/api/v1/knowledge/articles/{id}", "session", "Delete an article (admin, supervisor).", "", 200),
    ("post", "/api/v1/knowledge/import", "session", "Import FAQ entries (csv, json or md); any rejected row stores nothing unless keep_valid.", "FaqImport", 200),
    ("get", "/api/v1/knowledge/export", "session", "Export all FAQ entries (query: format=csv|json|md).", "", 200),
    ("get", "/api/v1/knowledge/search", "session", "What the bot would answer: decision and best published entries (query: q, lang, channel, limit).", "", 200),
    ("get", "/api/v1/knowledge/gaps", "session", "Knowledge gaps: clusters of poorly answered messages, largest first, with examples (admin, supervisor).", "", 200),
    ("post", "/api/v1/knowledge/gaps/{id}/draft", "session", "Turn a gap cluster into a draft FAQ entry and close its gaps.", "GapDraft", 201),
    ("get", "/api/v1/knowledge/candidates", "session", "Candidate FAQ entries learnt from conversations agents resolved (personal data removed), most often seen first (query: status=open|accepted|dismissed|all, kind=new_entry|phrasing, limit; admin, supervisor).", "", 200),
    ("post", "/api/v1/knowledge/candidates/{id}/accept", "session", "Accept a candidate: a new entry becomes a draft tagged from-agent (then review and publish); a phrasing is added to its entry's similar questions.", "CandidateAccept", 200),
    ("post", "/api/v1/knowledge/candidates/{id}/dismiss", "session", "Dismiss a candidate (the same question is not proposed again).", "", 200),
    ("post", "/api/v1/nlu/parse", "session", "What Lingxi understands of a message with the tenant's intent model: normalised text, language, corrections, intents (top, second, alternatives, out of scope; model.kind lexical or fused), entities, sentiment and emotions.", "NluParse", 200),
    ("get", "/api/v1/nlu/intent-models", "session", "The tenant's intent model versions, newest first, with the one in use and each version's held-out report.", "", 200),
    ("post", "/api/v1/nlu/intent-models", "session", "Train a new intent model version from labelled examples (JSON or Rasa-style markdown) and, unless activate is false, put it in use at once; problems come back by path (admin, supervisor).", "IntentTraining", 201),
    ("get", "/api/v1/nlu/intent-models/{version}", "session", "One version with its training data (the export: post it back to retrain).", "", 200),
    ("put", "/api/v1/nlu/active-intent-model", "session", "Put a version in use (a rollback or roll-forward), or null for the built-in default intents (admin, supervisor).", "ActiveIntentModel", 200),
    ("get", "/api/v1/nlu/settings", "session", "The tenant's entity settings (order-number patterns, extra catalogue names) and how many names its products records add.", "", 200),
    ("put", "/api/v1/nlu/settings", "session", "Replace the tenant's entity settings; every problem by path, nothing saved (admin).", "NluSettings", 200),
    ("get", "/api/v1/nlu/default-intents", "session", "The built-in after-sales intents (zh, en) as training data to start from.", "", 200),
    ("get", "/api/v1/flows", "session", "The tenant's own guided flows.", "", 200),
    ("post", "/api/v1/flows", "session", "Create a guided flow from JSON or YAML (Content-Type application/yaml, text/yaml or application/x-yaml); a definition with problems is rejected with every problem by path, and for YAML its line (admin, supervisor).", "Flow", 201),
    ("get", "/api/v1/flows/{id}", "session", "A guided flow's definition; with Accept: application/yaml, the definition alone as YAML.", "", 200),
    ("put", "/api/v1/flows/{id}", "session", "Replace a guided flow's definition (JSON or YAML), checked whole as on create (admin, supervisor).", "Flow", 200),
    ("delete", "/api/v1/flows/{id}", "session", "Delete a guided flow (admin, supervisor).", "", 204),
    ("get", "/api/v1/conversations", "session", "List conversations (query: state, assignee=me|user id, customer_id, team=mine, limit).", "", 200),
    ("get", "/api/v1/conversations/{id}", "session", "A conversation with its customer and messages.", "", 200),
    ("get", "/api/v1/conversations/{id}/context", "session", "The customer's recent conversations on other channels, with last intents and open state.", "", 200),
    ("post", "/api/v1/conversations/{id}/messages", "session", "An agent replies.", "Reply", 201),
    ("post", "/api/v1/conversations/{id}/transitions", "session", "Change state: hand_off, assign, requeue, hand_back, resolve, reopen, close.", "Transition", 200),
    ("get", "/api/v1/conversations/{id}/notes", "session", "Internal notes on the conversation (colleagues only; never sent to the customer).", "", 200),
    ("post", "/api/v1/conversations/{id}/notes", "session", "Add an internal note.", "Note", 201),
    ("post", "/api/v1/conversations/{id}/transfer", "session", "Transfer to a team's queue and/or a person, with a note (the owner, or a supervisor or admin).", "TransferRequest", 200),
    ("get", "/api/v1/conversations/{id}/suggestions", "session", "Suggested replies: knowledge-base answers for the customer's last message and canned responses with variables filled in.", "", 200),
    ("get", "/api/v1/canned-responses", "session", "The tenant's canned responses.", "", 200),
    ("post", "/api/v1/canned-responses", "session", "Create a canned response (supervisor, admin).", "CannedResponse", 201),
    ("patch", "/api/v1/canned-responses/{id}", "session", "Change a canned response (supervisor, admin).", "CannedResponseUpdate", 200),
    ("delete", "/api/v1/canned-responses/{id}", "session", "Delete a canned response (supervisor, admin).", "", 204),
    ("get", "/api/v1/customers", "session", "List or search customers (query: q, limit).", "", 200),
    ("get", "/api/v1/customers/{id}", "session", "A customer's profile and identifiers.", "", 200),
    ("patch", "/api/v1/customers/{id}", "session", "Update display name, attributes (merged) and tags (replaced).", "CustomerUpdate", 200),
    ("get", "/api/v1/customers/{id}/timeline", "session", "Every conversation and message of the customer across channels, in time order.", "", 200),
    ("post", "/api/v1/customers/{id}/identifiers", "session", "Attach an identifier.", "Identifier", 201),
    ("delete", "/api/v1/customers/{id}/identifiers/{kind}/{value}", "session", "Detach an identifier.", "", 200),
    ("post", "/api/v1/customers/{id}/merge", "session", "Merge another customer into this one (recorded, undoable).", "Merge", 201),
    ("get", "/api/v1/customers/{id}/merges", "session", "Merges and merge suggestions involving this customer.", "", 200),
    ("post", "/api/v1/merges/{id}/split", "session", "Undo a merge.", "", 200),
    ("get", "/api/v1/users", "session", "List users (supervisor, admin).", "", 200),
    ("post", "/api/v1/users", "session", "Create a user (admin).", "UserCreate", 201),
    ("patch", "/api/v1/users/{id}", "session", "Set a user's routing profile: skills (lang:, product:, channel:, level:) and capacity per channel kind (admin).", "UserRouting", 200),
    ("get", "/api/v1/teams", "session", "List teams.", "", 200),
    ("post", "/api/v1/teams", "session", "Create a team (admin).", "TeamCreate", 201),
    ("get", "/api/v1/channels", "session", "List channels.", "", 200),
    ("post", "/api/v1/channels", "session", "Create a channel (admin); the API key is returned once.", "ChannelCreate", 201),
    ("post", "/api/v1/channels/{id}/rotate-key", "session", "Replace a channel's API key (admin).", "", 200),
    ("get", "/api/v1/audit", "session", "The tenant's audit log (supervisor, admin).", "", 200),
    ("get", "/api/v1/stream", "session", "WebSocket of live events (message.created, conversation.created, conversation.updated, note.created, customer.merged, agent.presence, sla.warning, sla.breach, resync).", "", 101),
    ("post", "/api/v1/widget/sessions", "none", "A web-chat visitor starts or resumes a session on a web_chat channel (its id is the public widget id); returns the visitor token (lxv_…).", "WidgetSession", 201),
    ("get", "/api/v1/widget/messages", "visitor", "The visitor's messages (query: since = Unix ms for catch-up, limit).", "", 200),
    ("post", "/api/v1/widget/messages", "visitor", "The visitor sends a message (same ingest as channels; idempotent per client_message_id).", "WidgetMessage", 201),
    ("get", "/api/v1/widget/stream", "visitor", "WebSocket (?token=lxv_…) of the visitor's messages (customer, bot, agent) and conversation states.", "", 101),
    ("post", "/api/v1/widget/feedback", "visitor", "The visitor rates a bot message of its own conversations useful or not (the widget's thumbs; same logic as /api/v1/inbound/feedback: latest wins, a gap only for a knowledge-base answer rated not useful). 404 unknown_message (also another visitor's message), 422 not_a_bot_answer.", "Feedback", 200),
    ("get", "/widget.js", "none", "The embeddable chat widget script.", "", 200),
    ("get", "/demo", "none", "A demo shop page embedding the widget (only with `lingxi serve --demo`).", "", 200),
    ("get", "/", "none", "The web console.", "", 200),
    ("get", "/console/{file}", "none", "Console assets.", "", 200),
];

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({ "type": "object", "additionalProperties": false, "properties": props, "required": required });
    let content = json!({
        "oneOf": [
            s(json!({ "type": { "const": "text" }, "text": { "type": "string", "maxLength": 20000 } }), &["type", "text"]),
            s(json!({ "type": { "const": "image" }, "url": { "type": "string", "format": "uri" }, "mime": { "type": "string" }, "size_bytes": { "type": "integer" }, "caption": { "type": "string" } }), &["type", "url"]),
            s(json!({ "type": { "const": "file" }, "url": { "type": "string", "format": "uri" }, "name": { "type": "string" }, "mime": { "type": "string" }, "size_bytes": { "type": "integer" } }), &["type", "url", "name"]),
            s(json!({ "type": { "const": "location" }, "latitude": { "type": "number" }, "longitude": { "type": "number" }, "label": { "type": "string" } }), &["type", "latitude", "longitude"]),
            s(json!({
                "type": { "const": "rich" },
                "text": { "type": "string", "maxLength": 20000, "description": "Shown first; on a plain channel the elements below are written into it." },
                "buttons": { "type": "array", "maxItems": 10, "items": { "oneOf": [
                    s(json!({ "label": { "type": "string", "maxLength": 100 }, "payload": { "type": "string", "maxLength": 500, "description": "Sent back as the customer's message when pressed." } }), &["label", "payload"]),
                    s(json!({ "label": { "type": "string", "maxLength": 100 }, "url": { "type": "string", "format": "uri", "description": "http(s) only; opened in a new tab." } }), &["label", "url"]),
                ] } },
                "links": { "type": "array", "maxItems": 10, "items": s(json!({ "title": { "type": "string", "maxLength": 100 }, "url": { "type": "string", "format": "uri" } }), &["title", "url"]) },
                "images": { "type": "array", "maxItems": 5, "items": s(json!({ "url": { "type": "string", "format": "uri" }, "alt": { "type": "string", "maxLength": 100 } }), &["url"]) },
            }), &["type", "text"]),
        ]
    });
    let identifier = s(
        json!({ "kind": { "type": "string", "description": "phone, email, wechat_openid, wechat_unionid, member_id, device_id, or a custom kind [a-z][a-z0-9_]*" }, "value": { "type": "string" } }),
        &["kind", "value"],
    );
    let mut out = json!({
        "Error": s(json!({ "error": s(json!({ "code": { "type": "string", "enum": ERROR_CODES.iter().map(|c| c.0).collect::<Vec<_>>() }, "message": { "type": "string" } }), &["code", "message"]) }), &["error"]),
        "Content": content,
        "Identifier": identifier,
        "InboundMessage": s(json!({
            "message_id": { "type": "string", "description": "The channel's own message id; re-posting it returns the first result." },
            "sent_at": { "type": "string", "format": "date-time" },
            "customer": s(json!({ "identifiers": { "type": "array", "items": { "$ref": "#/components/schemas/Identifier" }, "minItems": 1, "maxItems": 20 }, "display_name": { "type": "string" } }), &["identifiers"]),
            "content": { "$ref": "#/components/schemas/Content" },
        }), &["message_id", "customer", "content"]),
        "Login": s(json!({ "email": { "type": "string" }, "password": { "type": "string" } }), &["email", "password"]),
        "Reply": s(json!({ "content": { "$ref": "#/components/schemas/Content" } }), &["content"]),
        "Transition": s(json!({ "transition": { "type": "string", "enum": ["hand_off", "assign", "requeue", "hand_back", "resolve", "reopen", "close"] }, "assignee_id": { "type": "string" }, "reason": { "type": "string" } }), &["transition"]),
        "CustomerUpdate": s(json!({ "display_name": { "type": "string" }, "attributes": { "type": "object" }, "tags": { "type": "array", "items": { "type": "string" } } }), &[]),
        "Merge": s(json!({ "customer_id": { "type": "string" }, "reason": { "type": "string" } }), &["customer_id"]),
        "UserCreate": s(json!({ "email": { "type": "string" }, "name": { "type": "string" }, "role": { "type": "string", "enum": ["admin", "supervisor", "agent"] }, "password": { "type": "string", "minLength": 8 }, "team_ids": { "type": "array", "items": { "type": "string" } } }), &["email", "name", "role", "password"]),
        "UserRouting": s(json!({ "skills": { "type": "array", "maxItems": 32, "items": { "type": "string", "pattern": "^(lang|product|channel|level):[a-z0-9_.-]{1,40}$" } }, "capacity": s(json!({ "chat": { "type": "integer", "minimum": 0, "maximum": 1000 }, "email": { "type": "integer", "minimum": 0, "maximum": 1000 } }), &[]) }), &[]),
        "Presence": s(json!({ "presence": { "type": "string", "enum": ["online", "away", "offline"] } }), &["presence"]),
        "Note": s(json!({ "text": { "type": "string", "minLength": 1, "maxLength": 2000 } }), &["text"]),
        "TransferRequest": s(json!({ "team_id": { "type": "string" }, "agent_id": { "type": "string" }, "note": { "type": "string", "maxLength": 2000 } }), &[]),
        "Flow": json!({ "type": "object", "required": ["id", "title", "trigger", "start", "steps"], "description": "A guided flow: see docs/flows.md.", "properties": { "id": { "type": "string" }, "title": {}, "trigger": { "type": "object" }, "start": { "type": "string" }, "steps": { "type": "object" } } }),
        "CannedResponse": s(json!({ "title": { "type": "string", "maxLength": 100 }, "text": { "type": "string", "maxLength": 4000, "description": "May use {{customer.name}}, {{agent.name}}, {{order_no}}, {{tracking_no}}." }, "lang": { "type": "string", "enum": ["zh", "en"] } }), &["title", "text"]),
        "CannedResponseUpdate": s(json!({ "title": { "type": "string", "maxLength": 100 }, "text": { "type": "string", "maxLength": 4000 }, "lang": { "type": "string", "enum": ["zh", "en"] } }), &[]),
        "WidgetSession": s(json!({ "channel_id": { "type": "string", "description": "A web_chat channel id (chn_…)." }, "token": { "type": "string", "description": "An earlier visitor token, to resume." }, "name": { "type": "string", "maxLength": 100 } }), &["channel_id"]),
        "WidgetMessage": s(json!({ "client_message_id": { "type": "string", "maxLength": 64, "description": "The widget's id for the message; re-sending it returns the first result." }, "content": { "$ref": "#/components/schemas/Content" } }), &["client_message_id", "content"]),
        "TeamCreate": s(json!({ "name": { "type": "string" } }), &["name"]),
        "Faq": s(json!({
            "id": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" }, "lang": { "type": "string", "enum": ["zh", "en"] },
            "question": { "type": "string", "maxLength": 500 }, "similar": { "type": "array", "items": { "type": "string" } },
            "answer": { "type": "string", "maxLength": 5000 },
            "rich": { "type": "array", "items": { "type": "string", "description": "link:Title=https://…, image:https://… or button:Title=payload" } },
            "answer_variants": { "type": "array", "description": "The answer on a channel and/or in a language (the most specific wins); one per channel@lang.", "items": { "$ref": "#/components/schemas/FaqVariant" } },
            "tags": { "type": "array", "items": { "type": "string" } }, "products": { "type": "array", "items": { "type": "string" } },
            "channels": { "type": "array", "items": { "type": "string" } },
            "valid_from_ms": { "type": "integer" }, "valid_to_ms": { "type": "integer" },
            "status": { "type": "string", "enum": ["draft", "in_review", "published", "archived"] },
            "version": { "type": "integer", "minimum": 1 },
        }), &["id", "lang", "question", "answer"]),
        "FaqVariant": s(json!({
            "channel": { "type": "string" }, "lang": { "type": "string" }, "answer": { "type": "string" },
            "rich": { "type": "array", "description": "This variant's own items (the default answer's are not inherited).", "items": { "type": "string", "description": "link:Title=https://…, image:https://… or button:Title=payload" } },
        }), &["answer"]),
        "FaqStatus": s(json!({ "status": { "type": "string", "enum": ["draft", "in_review", "published", "archived"] } }), &["status"]),
        "FaqImport": s(json!({ "format": { "type": "string", "enum": ["csv", "json", "md"] }, "content": { "type": "string" }, "keep_valid": { "type": "boolean" } }), &["format", "content"]),
        "Article": s(json!({ "id": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,48}$" }, "markdown": { "type": "string", "maxLength": 200000 }, "status": { "type": "string", "enum": ["draft", "published"] } }), &["markdown"]),
        "GapDraft": s(json!({ "entry_id": { "type": "string" }, "answer": { "type": "string" } }), &[]),
        "CandidateAccept": s(json!({ "entry_id": { "type": "string", "description": "New entries only; default agent-…" }, "question": { "type": "string" }, "answer": { "type": "string", "description": "New entries only." } }), &[]),
        "Feedback": s(json!({ "message_id": { "type": "string", "description": "The rated bot message's id (msg_…, as delivered); required, there is no implicit last message." }, "useful": { "type": "boolean" } }), &["message_id", "useful"]),
        "ChannelCreate": s(json!({ "kind": { "type": "string", "enum": lingxi_domain::ChannelKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>() }, "name": { "type": "string" }, "team_id": { "type": "string" } }), &["kind", "name"]),
    });
    // In a second object: one `json!` this size reaches the macro recursion limit.
    if let (Some(all), Value::Object(more)) = (out.as_object_mut(), nlu_schemas(&s)) {
        all.extend(more);
    }
    out
}

fn nlu_schemas(s: &dyn Fn(Value, &[&str]) -> Value) -> Value {
    json!({
        "NluParse": s(json!({ "text": { "type": "string", "minLength": 1, "maxLength": 2000 } }), &["text"]),
        "IntentTraining": s(json!({
            "intents": { "type": "array", "maxItems": 1000, "items": s(json!({ "intent": { "type": "string", "pattern": "^[A-Za-z0-9_./-]{1,64}$" }, "examples": { "type": "array", "minItems": 2, "items": { "type": "string", "maxLength": 500 } } }), &["intent", "examples"]) },
            "markdown": { "type": "string", "description": "Instead of intents: `## intent:NAME` headings, each followed by `- example` lines." },
            "activate": { "type": "boolean", "default": true },
        }), &[]),
        "ActiveIntentModel": s(json!({ "version": { "type": ["integer", "null"], "minimum": 1 } }), &["version"]),
        "NluSettings": s(json!({
            "order_patterns": { "type": "array", "maxItems": 20, "items": { "type": "string", "maxLength": 200, "description": "A regular expression (Rust regex syntax), case-insensitive." } },
            "catalogue": { "type": "array", "maxItems": 5000, "items": { "type": "string", "maxLength": 100 } },
            "order_example": { "type": "string", "description": "One of the tenant's order numbers, shown when the bot asks for one; must be read as an order number by these settings." },
        }), &[]),
    })
}

pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, auth, summary, body, status) in OPERATIONS {
        let mut op = json!({ "summary": summary, "responses": { status.to_string(): { "description": "Success" } } });
        let mut errors = Map::new();
        for (code, http, when) in ERROR_CODES {
            let entry = errors.entry(http.to_string()).or_insert_with(|| json!({ "description": "", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }));
            let d = entry["description"].as_str().unwrap_or("").to_owned();
            entry["description"] =
                Value::from(if d.is_empty() { format!("`{code}`: {when}") } else { format!("{d} `{code}`: {when}") });
        }
        for (k, v) in errors {
            op["responses"][k] = v;
        }
        match *auth {
            "session" => op["security"] = json!([{ "session": [] }, { "bearer": [] }]),
            "channel" => op["security"] = json!([{ "channelKey": [] }]),
            "visitor" => op["security"] = json!([{ "visitorToken": [] }]),
            _ => op["security"] = json!([]),
        }
        if !body.is_empty() {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{body}") } } } });
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::from(params);
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
    }
    // Flows also travel as YAML (docs/flows.md): the same schema, another media type.
    let flow = json!({ "schema": { "$ref": "#/components/schemas/Flow" } });
    for (path, method) in [("/api/v1/flows", "post"), ("/api/v1/flows/{id}", "put")] {
        if let Some(p) = paths.get_mut(path) {
            p[method]["requestBody"]["content"]["application/yaml"] = flow.clone();
        }
    }
    if let Some(p) = paths.get_mut("/api/v1/flows/{id}") {
        p["get"]["responses"]["200"]["content"] = json!({ "application/json": {}, "application/yaml": flow });
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Lingxi API", "version": env!("CARGO_PKG_VERSION"), "description": "Omnichannel AI customer service. Errors always have the shape {\"error\":{\"code\",\"message\"}} with the codes listed in the Error schema." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
                "bearer": { "type": "http", "scheme": "bearer", "description": "Session token (lxs_…) from /api/v1/auth/login." },
                "channelKey": { "type": "http", "scheme": "bearer", "description": "Channel API key (lxk_…), also accepted as X-Lingxi-Channel-Key." },
                "visitorToken": { "type": "http", "scheme": "bearer", "description": "Web-chat visitor token (lxv_…) from /api/v1/widget/sessions; ?token= on the stream." },
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
