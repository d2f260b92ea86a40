#!/bin/bash
# `edgetune finetune --profile DIR` (and `generate --profile DIR`, at the end) writes the per-op table, profile.jsonl, a Chrome trace with
# forward/backward/optimizer spans, and both PNGs.  The model is the one tests/test_lm.c
# writes (C tests run before shell tests in tests/run.sh).
set -u
ET=${ET:-build/edgetune}
M=build/test-tmp/lm_tiny.gguf
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
if [ ! -f "$M" ]; then echo "FAIL finetune_profile: $M missing (tests/test_lm.c writes it)"; exit 1; fi
printf '{"prompt": "one two three", "answer": " the end"}\n{"prompt": "the cat sat", "answer": " on the mat"}\n' > "$D/d.jsonl"
if "$ET" finetune --model "$M" --data "$D/d.jsonl" --method lora --rank 4 --steps 3 --batch 2 \
        --profile "$D/prof" --out "$D/a.gguf" > "$D/log" 2>&1; then echo "PASS finetune_profile_runs"
else echo "FAIL finetune_profile_runs: exit $? ($(tail -1 "$D/log"))"; fi
for f in profile.jsonl trace.json roofline.png memory.png; do
    if [ -s "$D/prof/$f" ]; then echo "PASS finetune_profile_writes_$f"; else echo "FAIL finetune_profile_writes_$f: missing or empty"; fi
done
if ${ET_PYTHON:-/usr/bin/python3} - "$D/prof/trace.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
ev = ev["traceEvents"] if isinstance(ev, dict) else ev
names = {e.get("name") for e in ev}
assert {"forward", "backward", "optimizer"} <= names, names
assert any(e.get("name", "").startswith("matmul") or e.get("cat") == "op" for e in ev)
PY
then echo "PASS finetune_profile_trace_phases"; else echo "FAIL finetune_profile_trace_phases"; fi
grep -q "matmul" "$D/log" && echo "PASS finetune_profile_table" || echo "FAIL finetune_profile_table: no op table in the output"
# the memory table and picture show the step as run and with the other recomputation setting,
# whose peak is lower
if grep -q "memory (without recomputation (as run))" "$D/log" && grep -q "memory (with recomputation)" "$D/log"; then
    echo "PASS finetune_profile_memory_both_settings"
else echo "FAIL finetune_profile_memory_both_settings: $(grep '^memory' "$D/log" | head -2)"; fi

# `edgetune generate --profile DIR`: the prefill and one decoding step re-run under the
# profiler (reports in DIR/prefill and DIR/decode), the generated text unchanged by it, the
# op tables on stderr only.
"$ET" generate --model "$M" --prompt "one two three" --max-new 6 > "$D/plain.txt" 2>/dev/null
if "$ET" generate --model "$M" --prompt "one two three" --max-new 6 --profile "$D/gp" > "$D/prof.txt" 2> "$D/gerr"; then
    echo "PASS generate_profile_runs"
else echo "FAIL generate_profile_runs: exit $? ($(tail -1 "$D/gerr"))"; fi
ok=1
for s in prefill decode; do for f in profile.jsonl trace.json roofline.png memory.png; do
    [ -s "$D/gp/$s/$f" ] || { ok=0; echo "FAIL generate_profile_writes: $s/$f missing or empty"; }
done; done
[ $ok = 1 ] && echo "PASS generate_profile_writes_prefill_and_decode"
if cmp -s "$D/plain.txt" "$D/prof.txt"; then echo "PASS generate_profile_same_text"
else echo "FAIL generate_profile_same_text: '$(cat "$D/plain.txt")' vs '$(cat "$D/prof.txt")'"; fi
if ${ET_PYTHON:-/usr/bin/python3} - "$D/gp/decode/profile.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
head = lines[0]
assert head.get("record") == "profile" and head.get("steps") == 32, head
nodes = [l for l in lines if l.get("record") == "node"]
assert any(n.get("op") == "matmul" for n in nodes), "no matmul node"
PY
then echo "PASS generate_profile_decode_32_runs"; else echo "FAIL generate_profile_decode_32_runs"; fi
grep -q "profile of the decode step" "$D/gerr" && ! grep -q "top ops" "$D/prof.txt" \
    && echo "PASS generate_profile_tables_on_stderr" || echo "FAIL generate_profile_tables_on_stderr"
