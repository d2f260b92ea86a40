#!/bin/bash
# `edgetune perplexity` and `edgetune generate` from the command line, on the models of
# tests/py/gen_ppl.py (build/golden/ppl/: a.gguf with a BOS token, b.gguf its perturbed copy,
# c.gguf another vocabulary without BOS) and the float64 PyTorch reference in its ref.json:
#   - full mode and --ppl-mode llama: the mean NLL within 2e-5 nats of the reference (an f32
#     forward over two layers is off by ~1e-6 per token; the printout has 6 decimals), the
#     scored counts exact (99 and 45);
#   - --kl-base: KL(a || b) mean, median, p90, p99 and max within 1e-5 nats, both perplexities
#     within 2e-5 relative, top-1 agreement within one position (a near tie may fall either
#     way on another ISA's kernels);
#   - KL of a model against itself is 0 with 100% agreement; against its q4_0 copy written
#     by `edgetune quantize` positive and below 0.5 nats; against another vocabulary an error
#     naming it; llama mode on a model without BOS an error saying so;
#   - generate --device vulkan prints the CPU's greedy text (lavapipe; skipped only with
#     EDGETUNE_NO_VULKAN_TESTS=1), a bad --device value and --chat without a template fail
#     with messages naming them.
set -u
ET=${ET:-build/edgetune}
PY=${ET_PYTHON:-/usr/bin/python3}
D=build/golden/ppl
T=$(mktemp -d /tmp/et_ppl_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() {   # name, status, [detail]
    if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1${3:+: $3}"; fail=1; fi
}
if [ ! -f $D/ref.json ]; then
    echo "FAIL perplexity_goldens: $D/ref.json missing (tests/py/gen_ppl.py writes it)"
    exit 1
fi
# field VALUE of the line matching REGEX in FILE: the number after "KEY" (awk-free, python)
num() {   # file, python regex with one group
    "$PY" -c 'import re,sys; m=re.search(sys.argv[2], open(sys.argv[1]).read()); print(m.group(1) if m else "nan")' "$1" "$2"
}
close() {   # got, want, abs tolerance, rel tolerance
    "$PY" -c 'import sys,math; g,w,a,r=map(float,sys.argv[1:5]); sys.exit(0 if abs(g-w)<=a+r*abs(w) else 1)' "$@"
}
ref() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r[sys.argv[2]][sys.argv[3]])' $D/ref.json "$1" "$2"; }

# ---- full and llama modes against the reference
for mode in full llama; do
    "$ET" perplexity --model $D/a.gguf --tokens $D/ids.txt --ctx 32 --ppl-mode $mode >"$T/$mode.out" 2>&1
    rc=$?
    got=$(num "$T/$mode.out" 'mean nll: ([0-9.]+)')
    cnt=$(num "$T/$mode.out" 'scored: ([0-9]+)')
    last=$(tail -n 1 "$T/$mode.out")
    [ $rc -eq 0 ] && [ "$cnt" = "$(ref $mode count)" ] && close "$got" "$(ref $mode mean_nll)" 2e-5 0 &&
        [[ "$last" =~ ^perplexity:\ [0-9.]+$ ]]
    check "perplexity_${mode}_matches_torch" $? "mean nll $got (torch $(ref $mode mean_nll)), scored $cnt, last line '$last'"
done

# ---- KL divergence against the reference
"$ET" perplexity --model $D/b.gguf --kl-base $D/a.gguf --tokens $D/ids.txt --ctx 32 >"$T/kl.out" 2>&1
rc=$?
ok=$rc
for k in mean median p90 p99 max; do
    case $k in mean) re='mean ([0-9.]+) \+-' ;; *) re="$k ([0-9.]+)" ;; esac
    got=$(num "$T/kl.out" "kl-divergence[^\n]*$re")
    close "$got" "$(ref kl $k)" 1e-5 0 || { ok=1; echo "  kl $k: $got, torch $(ref kl $k)"; }
done
close "$(num "$T/kl.out" '(?m)^perplexity: ([0-9.]+)')" "$(ref kl ppl)" 0 2e-5 || ok=1
close "$(num "$T/kl.out" 'base perplexity: ([0-9.]+)')" "$(ref kl ppl_base)" 0 2e-5 || ok=1
top1=$(num "$T/kl.out" 'top-1 agreement: ([0-9.]+)%')
close "$top1" "$("$PY" -c "print(100*$(ref kl top1))")" 1.02 0 || ok=1
check "perplexity_kl_matches_torch" $ok "$(tr '\n' ' ' <"$T/kl.out")"

"$ET" perplexity --model $D/a.gguf --kl-base $D/a.gguf --tokens $D/ids.txt >"$T/self.out" 2>&1
grep -q 'mean 0.000000 +- 0.000000, median 0.000000, p90 0.000000, p99 0.000000, max 0.000000' "$T/self.out" &&
    grep -q 'top-1 agreement: 100.00%' "$T/self.out"
check "perplexity_kl_self_is_zero" $? "$(tr '\n' ' ' <"$T/self.out")"

"$ET" quantize $D/a.gguf "$T/q4_0.gguf" --type q4_0 --quiet >"$T/q.out" 2>&1 &&
    "$ET" perplexity --model "$T/q4_0.gguf" --kl-base $D/a.gguf --tokens $D/ids.txt >"$T/q4.out" 2>&1
rc=$?
qkl=$(num "$T/q4.out" 'kl-divergence[^\n]*mean ([0-9.]+)')
[ $rc -eq 0 ] && close "$qkl" 0.25 0.2499 0   # in (0.0001, 0.4999]
check "perplexity_kl_q4_0_small_positive" $? "KL mean $qkl: $(tr '\n' ' ' <"$T/q4.out" | head -c 400)"
echo "  q4_0 copy: KL mean $qkl nats, $(grep top-1 "$T/q4.out")"

"$ET" perplexity --model $D/c.gguf --kl-base $D/a.gguf --tokens $D/ids.txt >"$T/voc.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'vocabulary' "$T/voc.out" && grep -q 'c.gguf' "$T/voc.out"
check "perplexity_kl_vocab_mismatch_error" $? "rc $rc: $(cat "$T/voc.out")"

"$ET" perplexity --model $D/c.gguf --tokens $D/ids.txt --ppl-mode llama >"$T/nobos.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'no BOS' "$T/nobos.out"
check "perplexity_llama_mode_without_bos_error" $? "rc $rc: $(cat "$T/nobos.out")"

# ---- generate: --device, --chat errors
"$ET" generate --model $D/a.gguf --prompt " the cat" --max-new 16 >"$T/cpu.txt" 2>"$T/cpu.err"
rc=$?
check "generate_cpu_runs" $rc "$(cat "$T/cpu.err")"
if [ "${EDGETUNE_NO_VULKAN_TESTS:-}" = 1 ]; then
    echo "NOTICE: EDGETUNE_NO_VULKAN_TESTS=1: generate --device vulkan not run"
else
    "$ET" generate --model $D/a.gguf --prompt " the cat" --max-new 16 --device vulkan >"$T/vk.txt" 2>"$T/vk.err"
    rc=$?
    [ $rc -eq 0 ] && cmp -s "$T/cpu.txt" "$T/vk.txt"
    check "generate_device_vulkan_equals_cpu" $? "rc $rc: '$(cat "$T/vk.txt")' vs '$(cat "$T/cpu.txt")' $(cat "$T/vk.err")"
    "$ET" perplexity --model $D/a.gguf --tokens $D/ids.txt --ctx 32 --device vulkan >"$T/vkp.out" 2>&1
    close "$(num "$T/vkp.out" 'mean nll: ([0-9.]+)')" "$(ref full mean_nll)" 2e-5 0
    check "perplexity_device_vulkan_matches_torch" $? "$(cat "$T/vkp.out")"
fi
"$ET" generate --model $D/a.gguf --prompt x --device gpu:0 >/dev/null 2>"$T/dev.err"
rc=$?
[ $rc -eq 1 ] && grep -q "gpu:0" "$T/dev.err"
check "generate_bad_device_error" $? "rc $rc: $(cat "$T/dev.err")"
"$ET" generate --model $D/a.gguf --prompt x --chat >/dev/null 2>"$T/chat.err"
rc=$?
[ $rc -eq 1 ] && grep -q "chat template" "$T/chat.err"
check "generate_chat_without_template_error" $? "rc $rc: $(cat "$T/chat.err")"
"$ET" generate --model $D/a.gguf --prompt " the" --chat --chat-template chatml --max-new 4 >/dev/null 2>"$T/chat2.err"
check "generate_chat_template_option" $? "$(cat "$T/chat2.err")"
exit $fail
