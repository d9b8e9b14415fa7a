#!/bin/sh
# Side by side in one run: the original's vault code (../shared/bench/glyph_bench.py)
# and tokenring-vault (benches/vault_bench.rs), same sizes, same machine.
#
#   sh tokenring-vault/benches/compare.sh [SIZES...]     (default: 10 1000 10000 100000)
#
# The interpreter: $TOKENRING_PYTHON, else what ../shared/compat/setup.sh prints.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
shared="$root/../shared"
sizes="${*:-10 1000 10000 100000}"
py="${TOKENRING_PYTHON:-$(sh "$shared/compat/setup.sh" | tail -n 1)}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# shellcheck disable=SC2086
cargo bench -q --manifest-path "$root/Cargo.toml" -p tokenring-vault --bench vault_bench -- $sizes > "$out/rust.jsonl"
# shellcheck disable=SC2086
"$py" "$shared/bench/glyph_bench.py" $sizes > "$out/python.jsonl"
"$py" - "$out/python.jsonl" "$out/rust.jsonl" <<'PY'
import json, sys
py = {r["entries"]: r for r in map(json.loads, open(sys.argv[1]))}
rs = {r["entries"]: r for r in map(json.loads, open(sys.argv[2]))}
def t(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"
print("| entries | op | original (Python) | tokenring-vault | faster |")
print("|---:|---|---:|---:|---:|")
for n in sorted(py):
    p, r = py[n], rs[n]
    for op in ("open", "list", "get", "set"):
        a, b = p[op + "_s"], r[op + "_s"]
        print(f"| {n:,} | {op} | {t(a)} | {t(b)} | {a / b:.1f}× |")
    a, b = p["peak_rss_kib"], r["peak_rss_kib"]
    print(f"| {n:,} | peak RSS | {a / 1024:.1f} MiB | {b / 1024:.1f} MiB | {a / b:.1f}× less |")
same = all(py[n]["file_bytes"] == rs[n]["file_bytes"] for n in py)
print(f"\nfile sizes identical at every size: {same}")
PY
