#!/usr/bin/env python3
"""Play the customer against a running `lingxi serve --demo` and print what the bot says.

Exploration, not a test (the scenario suite in crates/lingxi-server/tests/scenarios is the
test): write conversations in a text file, run them, read the replies.

    LINGXI_DATA_DIR=/tmp/lx LINGXI_LISTEN=127.0.0.1:8099 target/release/lingxi serve --demo > /tmp/serve.log 2>&1 &
    scripts/probe.py conversations.txt --log /tmp/serve.log --url http://127.0.0.1:8099

File format: a line `== key=value ...` starts a conversation (keys: phone, a new customer's
own number when absent; channel, default web_chat); `-- channel=app` within it switches channel
for the same customer; `-- wait=N` pauses N seconds; `#` starts a comment; every other line is
one customer message. Python standard library only.
"""

import argparse
import json
import random
import re
import sys
import time
import urllib.error
import urllib.request


def call(url, method="GET", body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return {"error": e.code, "body": e.read().decode(errors="replace")}


def channel_keys(log):
    keys = {}
    for line in open(log, encoding="utf-8", errors="replace"):
        m = re.match(r"^\s+(\S+)\s+chn_\S+\s+(lxk_\S+)", line)
        if m:
            keys[m.group(1)] = m.group(2)
    return keys


def conversations(path):
    convs, cur = [], None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("=="):
            cur = {"opts": dict(kv.split("=", 1) for kv in line[2:].split()), "steps": []}
            convs.append(cur)
        elif line.startswith("--"):
            cur["steps"].append(("switch", dict(kv.split("=", 1) for kv in line[2:].split())))
        else:
            if cur is None:
                cur = {"opts": {}, "steps": []}
                convs.append(cur)
            cur["steps"].append(("say", line.strip()))
    return convs


def bot_replies(base, token, conv_id):
    got = call(f"{base}/api/v1/conversations/{conv_id}", token=token)
    msgs = got.get("messages", []) if isinstance(got, dict) else []
    state = got.get("conversation", {}).get("state") if isinstance(got, dict) else None
    return [m for m in msgs if m.get("sender", {}).get("kind") != "customer"], state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--url", default="http://127.0.0.1:8099")
    ap.add_argument("--log", default="/tmp/serve.log")
    ap.add_argument("--email", default="admin@demo.lingxi.dev")
    ap.add_argument("--password", default="lingxi-demo")
    a = ap.parse_args()
    keys = channel_keys(a.log)
    token = call(f"{a.url}/api/v1/auth/login", "POST", {"email": a.email, "password": a.password}).get("token")
    if not token or not keys:
        sys.exit(f"no session token or no channel keys (keys from {a.log}: {sorted(keys)})")
    run = f"{int(time.time())}{random.randint(0, 999)}"
    for n, conv in enumerate(conversations(a.file)):
        phone = conv["opts"].get("phone") or f"+1555{run[-6:]}{n:03d}"
        channel = conv["opts"].get("channel", "web_chat")
        print(f"\n=== {phone} on {channel}")
        seen = {}
        for i, (kind, arg) in enumerate(conv["steps"]):
            if kind == "switch":
                channel = arg.get("channel", channel)
                time.sleep(float(arg.get("wait", 0)))
                print(f"--- {channel}")
                continue
            body = {
                "message_id": f"probe-{run}-{n}-{i}",
                "customer": {"identifiers": [{"kind": "phone", "value": phone}]},
                "content": {"type": "text", "text": arg},
            }
            got = call(f"{a.url}/api/v1/inbound/messages", "POST", body, keys.get(channel))
            conv_id = got.get("conversation_id") if isinstance(got, dict) else None
            print(f"C: {arg}")
            if not conv_id:
                print(f"   !! {got}")
                continue
            before = seen.get(conv_id, 0)
            replies, state = [], None
            for _ in range(60):
                time.sleep(0.15)
                replies, state = bot_replies(a.url, token, conv_id)
                if len(replies) > before:
                    time.sleep(0.3)
                    replies, state = bot_replies(a.url, token, conv_id)
                    break
            for m in replies[before:]:
                text = (m.get("content") or {}).get("text") or json.dumps(m.get("content"), ensure_ascii=False)
                who = m.get("sender", {}).get("kind", "?")
                print(f"{who[0].upper()}: " + text.replace("\n", "\n   "))
            seen[conv_id] = len(replies)
            if state and state != "bot":
                print(f"   [{state}]")


if __name__ == "__main__":
    main()
