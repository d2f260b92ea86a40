#!/bin/bash
# Smoke test of `edgetune bench decode --synthetic tiny --quick --json` (bench/bench_decode.c):
# the JSON lines' schema, not the timings (the machine is shared).  Checks: the read-bandwidth
# probe line; every test present (model, load_cold, ttft_cold, load_warm, ttft_warm, pp16,
# tg8, kv_cache, sustained) with the common keys; timed lines with 0 < min <= median <= max;
# tokens/s consistent with the medians; the model line's parameter count and bytes per token
# exact for the tiny preset (untied f32 embedding read one row per token); KV bytes per
# token = 2 x layers x kv heads x head dim x 4; bench compare matches every decode line of a
# run with itself; bad options exit 2 naming the value.
set -u
ET=${ET:-build/edgetune}
PY=${ET_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1${3:+: $3}"; fail=1; fi; }

"$ET" bench decode --synthetic tiny --quick --sustain 1 --json --out "$tmp/run.jsonl" 2>"$tmp/err"
check bench_decode_runs $? "$(tail -3 "$tmp/err")"

msg=$("$PY" - "$tmp/run.jsonl" <<'PY'
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
err = []
bw = [l for l in lines if l.get("bench") == "probe" and l.get("what") == "read_bw"]
if len(bw) != 1 or not bw[0].get("gbps", 0) > 0: err.append("no read_bw probe line")
dec = {l.get("test"): l for l in lines if l.get("bench") == "decode"}
want = ["model", "load_cold", "ttft_cold", "load_warm", "ttft_warm", "pp16", "tg8", "kv_cache", "sustained"]
err += ["no test " + t for t in want if t not in dec]
for t, l in dec.items():
    for k in ("model", "type", "device", "isa", "threads"):
        if k not in l: err.append("%s lacks %s" % (t, k))
    if t in ("model", "kv_cache"): continue
    if not all(isinstance(l.get(k), (int, float)) for k in ("n", "reps", "median_s", "min_s", "max_s")):
        err.append("%s lacks timing keys" % t); continue
    if not (0 < l["min_s"] <= l["median_s"] <= l["max_s"]): err.append("%s: bad times" % t)
if not err:
    m, pp, tg, kv, su = dec["model"], dec["pp16"], dec["tg8"], dec["kv_cache"], dec["sustained"]
    # tiny: vocab 512, dim 64, 2 layers, q/o 64x64, k/v 64x32, ffn 3 x 64x128, norms, untied
    n = 512 * 64 * 2 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64) + 64
    if m["n_params"] != n: err.append("n_params %s, want %d" % (m["n_params"], n))
    if m["decode_weight_bytes"] != m["weight_bytes"] - 512 * 64 * 4 + 64 * 4:
        err.append("decode bytes %s vs weight bytes %s" % (m["decode_weight_bytes"], m["weight_bytes"]))
    if m["kv_bytes_per_token"] != 2 * 2 * 2 * 16 * 4 or kv["bytes_per_token"] != m["kv_bytes_per_token"] \
            or kv["bytes_at_pp"] != 16 * kv["bytes_per_token"] or kv["bytes_at_n_ctx"] != 256 * kv["bytes_per_token"]:
        err.append("kv bytes %s / %s" % (m["kv_bytes_per_token"], kv))
    if not math.isclose(pp["tokens_per_s"], 16 / pp["median_s"], rel_tol=1e-3): err.append("pp tokens/s")
    if not math.isclose(tg["tokens_per_s"], 1 / tg["median_s"], rel_tol=1e-3): err.append("tg tokens/s")
    if not (tg["bytes_per_token"] > m["decode_weight_bytes"] and tg["limit"] == "read_bw"
            and math.isclose(tg["frac_limit"], tg["gbps"] / tg["limit_value"], rel_tol=1e-2)
            and isinstance(tg["fits_llc"], bool)): err.append("tg bandwidth fields %s" % tg)
    for t in ("load_cold", "load_warm"):
        if not 0 <= dec[t]["resident_before"] <= 1: err.append(t + " resident_before")
    if not (su["runs"] >= 1 and su["tokens"] == su["runs"] * 8 and su["seconds"] >= 1
            and math.isclose(su["frac_burst"], su["tokens_per_s"] / su["burst_tokens_per_s"], rel_tol=1e-2)):
        err.append("sustained fields %s" % su)
print("; ".join(err[:6]))
PY
)
[ -z "$msg" ]
check bench_decode_json_schema $? "$msg"

"$ET" bench compare "$tmp/run.jsonl" "$tmp/run.jsonl" >"$tmp/cmp" 2>&1
n=$(grep -c '^decode ' "$tmp/cmp")
[ $? -le 1 ] && [ "$n" -eq 7 ] && grep -q ' 0 regression' "$tmp/cmp"
check bench_decode_compare_matches_tests $? "$n decode lines matched: $(tail -1 "$tmp/cmp")"

"$ET" bench decode --synthetic huge --quick >/dev/null 2>"$tmp/e1"; rc1=$?
"$ET" bench decode --synthetic tiny --pp 4096 --quick >/dev/null 2>"$tmp/e2"; rc2=$?
"$ET" bench decode --tg zero >/dev/null 2>"$tmp/e3"; rc3=$?
[ $rc1 -eq 2 ] && grep -q huge "$tmp/e1" && [ $rc2 -eq 2 ] && grep -q 'context of 256' "$tmp/e2" &&
    [ $rc3 -eq 2 ] && grep -q zero "$tmp/e3"
check bench_decode_bad_options $? "$rc1 $rc2 $rc3: $(cat "$tmp/e1" "$tmp/e2" "$tmp/e3" | tr '\n' ' ')"
exit $fail
