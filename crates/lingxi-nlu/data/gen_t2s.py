"""Regenerates t2s.txt (traditional -> simplified character pairs) from OpenCC's TSCharacters.txt."""
import sys

HEADER = [
    "# Traditional -> simplified Chinese, one character pair per line: <traditional><simplified>.",
    "# Generated from OpenCC's TSCharacters.txt (Apache-2.0, https://github.com/BYVoid/OpenCC) as shipped in",
    "# the crates.io package ferrous-opencc 0.4.0 (assets/dictionaries/TSCharacters.txt), keeping the first",
    "# simplified candidate and dropping identity mappings. Regenerate with data/gen_t2s.py <TSCharacters.txt>.",
]

out = list(HEADER)
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    key, values = line.rstrip("\n").split("\t")
    value = values.split(" ")[0]
    if len(key) == 1 and len(value) == 1 and key != value:
        out.append(key + value)
open("t2s.txt", "w", encoding="utf-8").write("\n".join(out) + "\n")
