#!/bin/bash
# `edgetune bench train --quick --json`: the smoke test of the training benchmark (tiny config,
# seconds).  Checks the JSON-lines schema (engine, method, base, loss_positions, tokens_per_s,
# ms_per_step, peak_rss_bytes total and net) for both engines and both loss-position modes,
# that every figure is a positive number, and that the same-run ratio lines are printed.
# Speed itself is not judged here (the quick config is too small to mean anything, and the
# machine is shared); the full run is `make bench` / `edgetune bench train`.
set -u
BUILD=${BUILD:-build}
ET=${ET:-$BUILD/edgetune}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; }

if nice "$ET" bench train --quick --json >"$out" 2>&1; then pass "bench train --quick exits 0"; else fail "bench train --quick exited $? : $(tail -3 "$out")"; fi

n_et=$(grep -c '^{"engine": "edgetune"' "$out")
n_pt=$(grep -c '^{"engine": "pytorch"' "$out")
[ "$n_et" -eq 5 ] && [ "$n_pt" -eq 3 ] && pass "5 edgetune and 3 pytorch lines" || fail "got $n_et edgetune and $n_pt pytorch lines"

ok=1
while read -r line; do
    for key in method base loss_positions; do
        echo "$line" | grep -q "\"$key\": \"[a-z0-9_]*\"" || { ok=0; echo "missing $key: $line"; }
    done
    for key in tokens_per_s ms_per_step peak_rss_bytes peak_rss_net_bytes idle_rss_bytes; do
        v=$(echo "$line" | sed -n "s/.*\"$key\": \([0-9.e+]*\).*/\1/p")
        awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || { ok=0; echo "$key not positive ($v): $line"; }
    done
done < <(grep '^{' "$out")
[ $ok -eq 1 ] && pass "every line has the fields with positive figures" || fail "schema"

grep -q '"engine": "edgetune", "method": "qlora", "base": "nf4"' "$out" && pass "QLoRA-NF4 line" || fail "no QLoRA-NF4 line"
# the bf16-compute setting: its row says what its products ran in (bf16 where the CPU has
# vdpbf16ps), and its ratio to PyTorch's bf16 autocast is printed
grep -Eq '"engine": "edgetune", "method": "lora", "base": "bf16", "compute": "(bf16|f32)"' "$out" \
    && grep -q '^# edgetune LoRA over a bf16 base, head and embeddings' "$out" \
    && pass "bf16-compute row and its ratio line" || fail "no bf16-compute row or ratio line"
# the recomputation row (its memory against the plain row is the full benchmark's matter: the
# quick config's activations are a few pages)
grep -q '"engine": "edgetune", "method": "lora", "base": "f32", "compute": "f32", "recompute": true' "$out" \
    && grep -q '"engine": "edgetune", "method": "lora", "base": "f32", "compute": "f32", "recompute": false, "recompute_mlp": false, "loss_positions": "all"' "$out" \
    && pass "LoRA rows with and without recomputation" || fail "no LoRA row with recomputation"
grep -q '^# with recomputation: edgetune f32 LoRA / PyTorch f32' "$out" && pass "recomputation ratio line" || fail "no recomputation ratio line"
# QLoRA recomputes the MLP's gate and up products by default (as finetune --method qlora)
grep -q '"engine": "edgetune", "method": "qlora", "base": "nf4", "compute": "[a-z0-9]*", "recompute": false, "recompute_mlp": true' "$out" \
    && grep -q "^# edgetune QLoRA-NF4 (head and embeddings bf16, the MLP's gate and up recomputed) / PyTorch f32 LoRA" "$out" \
    && pass "QLoRA row with the MLP recomputed, and its ratio line" || fail "no QLoRA row with the MLP recomputed"
grep -q '"engine": "edgetune".*"loss_positions": "answer"' "$out" && grep -q '"engine": "pytorch".*"loss_positions": "answer"' "$out" \
    && pass "study workload on both engines" || fail "no answer-only lines"
grep -q '^# edgetune f32 LoRA / PyTorch f32' "$out" && grep -q '^# study workload' "$out" \
    && pass "same-run ratio lines" || fail "ratio lines missing"
"$ET" bench train --steps 0 >/dev/null 2>&1; [ $? -eq 2 ] && pass "bad --steps refused" || fail "bad --steps accepted"
