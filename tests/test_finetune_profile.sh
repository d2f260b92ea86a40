#!/bin/bash
# `edgetune finetune --profile DIR` writes the per-op table, profile.jsonl, a Chrome trace with
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
