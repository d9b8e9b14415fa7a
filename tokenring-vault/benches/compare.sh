#!/bin/sh
# Side by side in one run: the original's vault code (../shared/bench/glyph_bench.py)
# and tokenring-vault (benches/vault_bench.rs) in format 1 and in format 2
# (with two and three keys), same sizes, same machine.
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
bench() {
    # shellcheck disable=SC2086
    cargo bench -q --manifest-path "$root/Cargo.toml" -p tokenring-vault --bench vault_bench -- "$@" $sizes
}
bench --format 1 > "$out/rust.jsonl"
bench --format 2 --keys 2 > "$out/rust2.jsonl"
bench --format 2 --keys 3 > "$out/rust3.jsonl"
# shellcheck disable=SC2086
"$py" "$shared/bench/glyph_bench.py" $sizes > "$out/python.jsonl"
"$py" - "$out/python.jsonl" "$out/rust.jsonl" "$out/rust2.jsonl" "$out/rust3.jsonl" <<'PY'
import json, sys
def load(p):
    return {r["entries"]: r for r in map(json.loads, open(p))}
py, f1, f2, f3 = (load(p) for p in sys.argv[1:5])
def t(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"
print("| entries | op | original (Python) | format 1 | format 2, 2 keys | format 2, 3 keys | format 1 ÷ format 2 | original ÷ format 2 |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in sorted(py):
    p, a, b, c = py[n], f1[n], f2[n], f3[n]
    for op in ("open", "list", "get", "set"):
        k = op + "_s"
        print(f"| {n:,} | {op} | {t(p[k])} | {t(a[k])} | {t(b[k])} | {t(c[k])} | {a[k] / b[k]:.1f}× | {p[k] / b[k]:.1f}× |")
    k = "peak_rss_kib"
    print(f"| {n:,} | peak RSS | {p[k] / 1024:.1f} MiB | {a[k] / 1024:.1f} MiB | {b[k] / 1024:.1f} MiB | {c[k] / 1024:.1f} MiB | {a[k] / b[k]:.1f}× less | {p[k] / b[k]:.1f}× less |")
    per = lambda r: r["file_bytes"] / max(n, 1)
    print(f"| {n:,} | bytes per entry | {per(p):.0f} | {per(a):.0f} | {per(b):.0f} | {per(c):.0f} | {per(b) / per(a):.2f} of format 1 | |")
same = all(py[n]["file_bytes"] == f1[n]["file_bytes"] for n in py)
print(f"\nformat 1 file sizes identical to the original's at every size: {same}")
if 10000 in f1:
    r = f1[10000]["open_s"] / f2[10000]["open_s"]
    print(f"target: open at 10,000 entries, format 1 ÷ format 2 (2 keys) = {r:.1f}× (target ≥ 3)")
big = max(f1)
r = (f2[big]["file_bytes"] / big) / (f1[big]["file_bytes"] / big)
print(f"target: bytes per entry at {big:,} entries, format 2 (2 keys) ÷ format 1 = {r:.3f} (target ≤ 0.25)")
if 1000 in f2 and "add_key_touches" in f2[1000]:
    a = f2[1000]
    print(f"adding a key to 1,000 entries (simulator, hmac-secret-mc): {a['add_key_touches']} touches, {t(a['add_key_s'])}")
PY
