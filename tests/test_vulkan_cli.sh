#!/bin/bash
# The command line on Vulkan.
#  - `edgetune devices` with lavapipe and with no Vulkan driver at all (EDGETUNE_VK_LOADER at a
#    missing library): the program lists the CPU, says once that Vulkan is missing, exits 0;
#    `finetune --device vulkan` then fails naming the loader, `--device auto` trains on the CPU.
#  - `edgetune finetune --device vulkan` on lavapipe for LoRA, QLoRA (NF4 base), IA3 and prompt
#    tuning: 6 AdamW steps whose losses equal the CPU's within 1e-3 (absolute, per step) and
#    whose trained tensors (the --out adapter) equal the CPU's within 1e-3 normalized (max |diff|
#    / max |cpu|).  The CPU side runs its reference kernels (EDGETUNE_ISA=ref: float activations
#    like the shaders; the default kernels quantize QLoRA's activations to int8), so both sides
#    do the same float math in different summation orders: measured losses agree to the 4
#    printed decimals and adapters to 1.5e-5; Adam's normalized updates amplify gradient
#    rounding on near-zero components, hence the margin.  A stale device copy of a trained
#    tensor (AdamW updating one copy, the matmul reading another) moves the loss by > 1e-2 from
#    the second step on.
#  - a q4_k base (its rows of 64 fall back to iq4_nl) trains on the device as on the CPU;
#  - checkpoints from a device run are exact: 3 steps, then --resume to 6, writes the same
#    adapter bytes as 6 steps in one run (the shaders' reductions have a fixed order).
#  - EDGETUNE_VK_LIMITS=mobile (no subgroups, 1 MiB bindings) trains LoRA the same way.
#  - a bad device index or name fails with a message naming it (exit 2 for bad syntax).
#  - --profile on the device reports GPU times per node; demo and pretrain (2 steps of the
#    tiny preset on a 300-token vocabulary) print the CPU's losses (and held-out perplexity:
#    the weights come back from the device) to the printed digits; profile and bench train
#    run there.
# Needs $ET (tests/run.sh sets it) and the model tests/test_lm.c writes.
# EDGETUNE_NO_VULKAN_TESTS=1 skips only the lavapipe part.
set -u
ET=${ET:-build/edgetune}
fail=0
check() {   # name, condition-status
    if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi
}

out=$(EDGETUNE_VK_LOADER=/nonexistent/libvulkan.so.1 "$ET" devices 2>/tmp/et_vk_cli_err.$$)
rc=$?
err=$(cat /tmp/et_vk_cli_err.$$); rm -f /tmp/et_vk_cli_err.$$
echo "$out" | grep -q '^cpu ' && echo "$out" | grep -q '^vulkan: none' && [ $rc -eq 0 ]
check "devices_without_driver_lists_cpu" $?
[ "$(echo "$err" | grep -c 'no Vulkan')" -eq 1 ] && echo "$err" | grep -q 'running on the CPU'
check "devices_without_driver_says_so_once" $?

M=build/test-tmp/lm_tiny.gguf
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
export XDG_CACHE_HOME="${BUILD:-build}/vkcache"
if [ ! -f "$M" ]; then echo "FAIL vulkan_cli_model: $M missing (tests/test_lm.c writes it)"; exit 1; fi
cat > "$D/d.jsonl" <<'JSON'
{"prompt": "one two three", "answer": " the end"}
{"prompt": "the cat sat", "answer": " on the mat"}
{"prompt": "a b c", "answer": " d e f"}
{"prompt": "red green", "answer": " blue"}
JSON
FT="finetune --model $M --data $D/d.jsonl --batch 2 --lr 1e-2 --rank 4 --prompt-tokens 4"

EDGETUNE_VK_LOADER=/nonexistent/libvulkan.so.1 "$ET" $FT --steps 2 --device vulkan > "$D/nodrv" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'device vulkan.*dlopen /nonexistent' "$D/nodrv"
check "finetune_vulkan_without_driver_fails_clearly" $?
EDGETUNE_VK_LOADER=/nonexistent/libvulkan.so.1 "$ET" $FT --steps 2 --device auto > "$D/auto" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'no Vulkan' "$D/auto")" -eq 1 ] && grep -q '^trained 2 steps' "$D/auto"
check "finetune_auto_without_driver_trains_on_cpu" $?
"$ET" $FT --steps 2 --device vulkan:x > "$D/bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "'vulkan:x' is not cpu, auto, vulkan or vulkan:N" "$D/bad"
check "finetune_bad_device_name" $?

if [ "${EDGETUNE_NO_VULKAN_TESTS:-}" = 1 ]; then
    echo "NOTICE: EDGETUNE_NO_VULKAN_TESTS=1: lavapipe part not run"
else
    out=$("$ET" devices 2>&1)
    rc=$?
    echo "$out" | grep -q '^vulkan:0 ' && echo "$out" | grep -q 'shaderFloat16' &&
        echo "$out" | grep -q 'subgroup size' && echo "$out" | grep -q 'max storage buffer range' &&
        echo "$out" | grep -q 'shared memory' && echo "$out" | grep -q 'integer dot product' &&
        [ $rc -eq 0 ]
    check "devices_lists_vulkan_features" $?
    "$ET" devices extra >/dev/null 2>&1
    [ $? -eq 2 ]
    check "devices_rejects_arguments" $?

    "$ET" $FT --steps 2 --device vulkan:7 > "$D/idx" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q 'device 7 requested; only [0-9]* present' "$D/idx"
    check "finetune_bad_device_index" $?

    # the loss lines of a run: "step N/6 loss X ..." -> "N X"
    losses() { sed -n 's/^step \([0-9]*\)\/[0-9]* loss \([-0-9.naif]*\) .*/\1 \2/p' "$1"; }
    same_losses() {   # cpu log, vulkan log: 6 steps each, |diff| <= 1e-3
        paste <(losses "$1") <(losses "$2") | awk 'BEGIN { n = 0; bad = 0 }
            { n++; d = $2 - $4; if (d < 0) d = -d; if ($1 != $3 || d > 1e-3 || $2 != $2 + 0) bad = 1 }
            END { exit !(n == 6 && !bad) }'
    }
    same_tensors() {   # two adapter GGUFs: every tensor within 1e-3 normalized
        "${ET_PYTHON:-/usr/bin/python3}" - "$1" "$2" <<'PY'
import sys
import numpy as np
from gguf import GGUFReader
a, b = ({t.name: np.array(t.data, dtype=np.float64) for t in GGUFReader(p).tensors} for p in sys.argv[1:3])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
worst = max(np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-30) for k in a)
print(f"# adapter tensors: {len(a)}, worst normalized difference {worst:.2e}")
sys.exit(0 if worst <= 1e-3 else 1)
PY
    }
    for meth in lora qlora ia3 prompt; do
        EDGETUNE_ISA=ref "$ET" $FT --method $meth --steps 6 --out "$D/$meth.cpu.gguf" > "$D/$meth.cpu" 2>&1
        rc1=$?
        "$ET" $FT --method $meth --steps 6 --device vulkan --out "$D/$meth.vk.gguf" > "$D/$meth.vk" 2>&1
        rc2=$?
        [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q '^device: vulkan' "$D/$meth.vk" && same_losses "$D/$meth.cpu" "$D/$meth.vk"
        check "finetune_${meth}_vulkan_losses_match_cpu" $?
        [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] && { tail -3 "$D/$meth.cpu" "$D/$meth.vk"; }
        same_tensors "$D/$meth.cpu.gguf" "$D/$meth.vk.gguf"
        check "finetune_${meth}_vulkan_adapter_matches_cpu" $?
    done

    # a q4_k base: rows of 64 fall back to iq4_nl (the compressor's choice), which the shaders
    # dequantize too; same losses as the CPU's reference kernels
    EDGETUNE_ISA=ref "$ET" $FT --base q4_k --steps 6 > "$D/q4k.cpu" 2>&1 &&
        "$ET" $FT --base q4_k --steps 6 --device vulkan > "$D/q4k.vk" 2>&1 && same_losses "$D/q4k.cpu" "$D/q4k.vk"
    check "finetune_q4k_iq4nl_base_vulkan_losses_match_cpu" $?

    "$ET" $FT --steps 3 --device vulkan --ckpt "$D/ck" > /dev/null 2>&1 &&
        "$ET" $FT --steps 6 --device vulkan --ckpt "$D/ck" --resume --out "$D/resumed.gguf" > "$D/res" 2>&1 &&
        grep -q 'resumed from' "$D/res" && cmp -s "$D/resumed.gguf" "$D/lora.vk.gguf"
    check "finetune_vulkan_checkpoint_resume_exact" $?

    EDGETUNE_VK_LIMITS=mobile "$ET" $FT --steps 6 --device vulkan > "$D/mobile" 2>&1 &&
        same_losses "$D/lora.cpu" "$D/mobile"
    check "finetune_vulkan_mobile_limits_losses_match_cpu" $?

    # --profile on the device: GPU times per node, each node's variant its shader
    "$ET" $FT --steps 2 --device vulkan --profile "$D/prof" > "$D/prof.log" 2>&1 &&
        grep -q 'on backend vulkan' "$D/prof.log" &&
        head -1 "$D/prof/profile.jsonl" | grep -q '"backend":"vulkan"' &&
        grep '"record":"node"' "$D/prof/profile.jsonl" | grep '"op":"matmul"' | head -1 |
            grep -q '"variant":"matmul_f32\(_sg\)\?\(_h\)\?".*"count":2'
    check "finetune_profile_vulkan_gpu_times_per_node" $?

    # demo and pretrain: the same losses on the device (the CPU on its reference kernels)
    EDGETUNE_ISA=ref "$ET" demo --steps 3 > "$D/demo.cpu" 2>&1 &&
        "$ET" demo --steps 3 --device vulkan > "$D/demo.vk" 2>&1 && grep -q '^device: vulkan' "$D/demo.vk" &&
        [ "$(grep '^step' "$D/demo.cpu")" = "$(grep '^step' "$D/demo.vk")" ]
    check "demo_vulkan_losses_match_cpu" $?
    awk 'BEGIN { srand(1); split("the cat sat on a mat dog log red blue one two three and of to in is it", w, " ");
                 for (d = 0; d < 6; d++) { for (i = 0; i < 200; i++) printf "%s ", w[int(rand() * 19) + 1];
                                           printf "\n\036\n" } }' > "$D/train.txt"
    mkdir -p "$D/corpus" && head -c 6000 "$D/train.txt" > "$D/corpus/train.txt" && tail -c 2000 "$D/train.txt" > "$D/corpus/heldout.txt"
    PT="pretrain --tokenizer $D/tok.bin --preset tiny --corpus $D/corpus --steps 2 --long-steps 0 --seq-len 32"
    "$ET" tokenizer train --text "$D/corpus/train.txt" --vocab-size 300 --out "$D/tok.bin" --quiet > /dev/null 2>&1 &&
        EDGETUNE_ISA=ref "$ET" $PT --out "$D/pt.cpu.gguf" > "$D/pt.cpu" 2>&1 &&
        "$ET" $PT --out "$D/pt.vk.gguf" --device vulkan > "$D/pt.vk" 2>&1 && grep -q '^device: vulkan' "$D/pt.vk" &&
        [ "$(grep '^step' "$D/pt.cpu" | cut -d' ' -f1-4)" = "$(grep '^step' "$D/pt.vk" | cut -d' ' -f1-4)" ] &&
        [ "$(grep -o 'perplexity [0-9.]*' "$D/pt.cpu")" = "$(grep -o 'perplexity [0-9.]*' "$D/pt.vk")" ]
    check "pretrain_vulkan_losses_and_heldout_match_cpu" $?

    # profile and bench train on the device (bench train --quick: LoRA, QLoRA, LoRA over bf16, LoRA with recomputation, the study workload)
    "$ET" profile --config tiny --steps 1 --device vulkan --out "$D/p2" > "$D/p2.log" 2>&1 &&
        grep -q 'on backend vulkan' "$D/p2.log" && grep -q '"backend":"vulkan"' "$D/p2/profile.jsonl"
    check "profile_vulkan_gpu_times" $?
    "$ET" profile --config tiny --steps 1 --device vulkan:9 --out "$D/p3" > "$D/p3.log" 2>&1
    [ $? -ne 0 ] && grep -q 'device 9 requested' "$D/p3.log"
    check "profile_bad_device_index" $?
    "$ET" bench train --quick --no-torch --json --device vulkan > "$D/bt" 2>&1 &&
        [ "$(grep -c '^{"engine": "edgetune".*"device": "vulkan"}' "$D/bt")" -eq 5 ]
    check "bench_train_vulkan_json_lines" $?
fi
exit $fail
