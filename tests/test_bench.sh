#!/bin/bash
# Smoke test of `edgetune bench kernels --quick --json` and `edgetune bench compare`.
# Checks the JSON lines' schema (provenance first; probe lines with what + figure; kernel lines
# with every required key, a positive median and min ≤ median ≤ max, frac_limit ≤ 1; matvec lines
# with the read loop's figure measured beside them and their fraction of it), that each
# probe kind appears, and that compare flags a doctored 2× slowdown but not an identical run.
# Timings are not judged here (the machine is shared): only that they exist and are sane.
set -u
ET=${ET:-build/edgetune}
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if "$ET" bench kernels --quick --json --types f32,q8_0,q4_0,q4_k,nf4 >"$tmp/run.jsonl" 2>"$tmp/err"; then
    pass bench_kernels_runs
else
    fail bench_kernels_runs "exit status $? ($(tail -2 "$tmp/err"))"
fi

msg=$(/usr/bin/python3 - "$tmp/run.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
err = []
if not lines or lines[0].get("bench") != "provenance":
    err.append("first line is not provenance")
else:
    for k in ("git", "compiler", "flags", "cpu", "features", "blas", "omp_max_threads"):
        if k not in lines[0]: err.append("provenance lacks " + k)
whats = {l.get("what") for l in lines if l.get("bench") == "probe"}
for w in ("read_bw", "fma_peak", "int8_peak"):
    if w not in whats: err.append("no probe " + w)
for l in lines:
    if l.get("bench") == "probe":
        fig = l.get("gbps", l.get("gflops"))
        if not isinstance(fig, (int, float)) or fig <= 0: err.append("probe without figure: %s" % l)
keys = ("bench", "type", "M", "K", "N", "isa", "threads", "median_s", "min_s", "max_s", "gbps",
        "gflops", "limit", "frac_limit")
kern = [l for l in lines if l.get("bench") in ("matvec", "matmul", "dx")]
for l in kern:
    miss = [k for k in keys if k not in l]
    if miss: err.append("missing %s in %s" % (miss, l)); continue
    if not (0 < l["min_s"] <= l["median_s"] <= l["max_s"]): err.append("bad times %s" % l)
    if not (0 < l["frac_limit"] <= 1.0): err.append("frac_limit out of (0,1]: %s" % l)
    if l["bench"] == "matvec" and not (l.get("read_gbps_paired", 0) > 0 and
            abs(l.get("frac_paired", 0) - l["gbps"] / l["read_gbps_paired"]) < 2e-3 * l.get("frac_paired", 1)):
        err.append("matvec without its paired read figure: %s" % l)
for b in ("matvec", "matmul", "dx"):
    for t in ("f32", "q8_0", "q4_0", "q4_k", "nf4"):
        if not any(l["bench"] == b and l["type"] == t for l in kern): err.append("no %s %s" % (b, t))
print("; ".join(err[:5]))
PY
)
[ -z "$msg" ] && pass bench_json_schema || fail bench_json_schema "$msg"

# compare: identical → 0 regressions (exit 0); every median doubled → regressions (exit 1)
"$ET" bench compare "$tmp/run.jsonl" "$tmp/run.jsonl" --threshold 5% >"$tmp/cmp1" 2>&1
rc1=$?
/usr/bin/python3 -c '
import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "median_s" in d: d["median_s"] *= 2
    print(json.dumps(d))' "$tmp/run.jsonl" >"$tmp/slow.jsonl"
"$ET" bench compare "$tmp/run.jsonl" "$tmp/slow.jsonl" --threshold 5% >"$tmp/cmp2" 2>&1
rc2=$?
n2=$(grep -c REGRESSION "$tmp/cmp2")
nk=$(grep -c '"bench": *"\(matvec\|matmul\|dx\)"' "$tmp/run.jsonl")
if [ $rc1 -eq 0 ] && [ $rc2 -eq 1 ] && [ "$n2" -eq "$nk" ] && [ "$nk" -gt 0 ]; then
    pass bench_compare
else
    fail bench_compare "identical rc=$rc1, doubled rc=$rc2 with $n2 regressions of $nk lines"
fi
echo '{"bench": "matmul", "median_s": ' >"$tmp/bad.jsonl"
"$ET" bench compare "$tmp/run.jsonl" "$tmp/bad.jsonl" >/dev/null 2>"$tmp/cmp3"
rc3=$?
if [ $rc3 -eq 2 ] && grep -q "bad.jsonl:1" "$tmp/cmp3"; then pass bench_compare_bad_input
else fail bench_compare_bad_input "rc=$rc3: $(cat "$tmp/cmp3")"; fi
