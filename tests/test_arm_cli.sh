#!/bin/bash
# aarch64 CLI smoke test: the whole edgetune program cross-built (make ARCH=aarch64, into
# $BUILD_ARM, default build/aarch64) and run under qemu-aarch64 with -cpu cortex-a53 (plain
# NEON) and -cpu max (dotprod + i8mm), against the host build ($ET) on the same files.
#
# The model: the host edgetune trains a byte-level BPE vocabulary and a `pretrain --preset
# tiny` model (6 layers x 64) for 120 steps on five sentences repeated (it learns them: held-out
# perplexity ~1.2, so greedy decoding has wide margins, no near ties), writes it as f32 and
# `quantize --type q8_0` (the int8 strip kernels: neon, sdot, smmla).  For each CPU and model:
#   - generate --temp 0 (greedy, 24 tokens after a 2-token prompt: a prefill of T > 1 through
#     the 2-token smmla tiles, then T = 1 steps) prints exactly the host's text;
#   - perplexity --ctx 32 on 670 held-out tokens (windows of T = 32): the token and scored
#     counts exact, the mean NLL within 1e-4 nats of the host's.  Both paths quantize the
#     activations identically and their int8 dots are exact integers; what differs is f32
#     summation order (vector widths, FMA contraction: ~1e-6 relative per logit), two orders
#     below the bound, while a wrong kernel moves the NLL by O(1);
#   - on -cpu max the neon-i8mm path (smmla) and neon-dotprod (sdot, EDGETUNE_ISA) print the
#     same perplexity output to the last digit: the same int32 dots scaled by the same code.
# The arm64 cJSON the program links is Debian's libcjson-dev:arm64 unpacked into
# $ARM_SYSROOT (default build/aarch64-sysroot) by `make deps-test`; without it this test fails
# saying so.
set -u
BUILD_ARM=${BUILD_ARM:-build/aarch64}
ARM_SYSROOT=${ARM_SYSROOT:-build/aarch64-sysroot}
ET=${ET:-build/edgetune}
QEMU=qemu-aarch64
CC=aarch64-linux-gnu-gcc
ARM_LIB=$ARM_SYSROOT/usr/lib/aarch64-linux-gnu
tmp=$(mktemp -d /tmp/et_arm_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; rc=1; }

for tool in "$CC" "$QEMU"; do
    if ! command -v "$tool" >/dev/null; then
        fail arm_cli_toolchain "$tool not found (make deps-test installs gcc-aarch64-linux-gnu, qemu-user)"
        exit 1
    fi
done
if [ ! -e "$ARM_LIB/libcjson.so" ] || [ ! -f "$ARM_SYSROOT/usr/include/cjson/cJSON.h" ]; then
    fail arm_cli_sysroot "no arm64 cJSON in $ARM_SYSROOT (make deps-test unpacks libcjson1:arm64 and libcjson-dev:arm64 there)"
    exit 1
fi
if [ ! -x "$ET" ]; then
    fail arm_cli_host "host program $ET not built (make $ET)"
    exit 1
fi
if nice make -s ARCH=aarch64 BUILD="$BUILD_ARM" ARM_SYSROOT="$ARM_SYSROOT" -j2 "$BUILD_ARM/edgetune" >"$tmp/make.log" 2>&1; then
    pass arm_build_cli
else
    fail arm_build_cli "make ARCH=aarch64 $BUILD_ARM/edgetune failed: $(grep -m3 -E 'error' "$tmp/make.log" | tr '\n' ' ')"
    exit 1
fi
ET_ARM="$BUILD_ARM/edgetune"
arm() {   # cpu, isa ('' for the best), edgetune arguments...
    local cpu=$1 isa=$2; shift 2
    EDGETUNE_ISA=$isa OMP_NUM_THREADS=2 timeout 300 "$QEMU" -L /usr/aarch64-linux-gnu \
        -E LD_LIBRARY_PATH="$(cd "$ARM_LIB" && pwd)" -cpu "$cpu" "$ET_ARM" "$@"
}

# ---- the model, made by the host program
mkdir -p "$tmp/corpus"
S=("the cat sat on the mat." "the dog sat on the log." "a red bird sang in the tree."
   "my blue car is in the garage." "one two three four five six seven eight nine ten.")
sentences() {   # count, seed: a fixed pseudo-random sequence of the sentences (LCG)
    local n=$1 s=$2 i out=""
    for ((i = 0; i < n; i++)); do
        s=$(((s * 1103515245 + 12345) % 2147483648))
        out+="${S[$(((s >> 16) % 5))]} "
    done
    printf '%s\n' "$out"
}
sentences 3000 1 >"$tmp/corpus/train.txt"
sentences 160 2 >"$tmp/corpus/heldout.txt"
if "$ET" tokenizer train --text "$tmp/corpus/train.txt" --vocab-size 300 --out "$tmp/tok.etok" --quiet >"$tmp/tok.log" 2>&1 &&
   "$ET" pretrain --tokenizer "$tmp/tok.etok" --preset tiny --corpus "$tmp/corpus" --steps 120 --long-steps 0 \
       --seq-len 64 --threads 2 --out "$tmp/f32.gguf" --log "$tmp/pretrain.log" >"$tmp/pt.out" 2>&1 &&
   "$ET" quantize "$tmp/f32.gguf" "$tmp/q8_0.gguf" --type q8_0 >"$tmp/q.out" 2>&1; then
    pass "arm_cli_model ($(sed -n 's/.*\(held-out perplexity [0-9.]*\).*/\1/p' "$tmp/pt.out"))"
else
    fail arm_cli_model "the host could not make the model: $(tail -n 2 "$tmp"/tok.log "$tmp"/pt.out "$tmp"/q.out 2>/dev/null | tr '\n' ' ')"
    exit 1
fi

nll() { sed -n 's/.*mean nll: \([0-9.]*\).*/\1/p' "$1"; }
counts() { sed -n 's/^\(tokens: [0-9]*, scored: [0-9]*\).*/\1/p' "$1"; }
gen_args=(generate --prompt "the dog" --max-new 24 --temp 0)
ppl_args=(perplexity --text "$tmp/corpus/heldout.txt" --ctx 32)
for m in f32 q8_0; do
    "$ET" "${gen_args[@]}" --model "$tmp/$m.gguf" >"$tmp/host_$m.gen" 2>"$tmp/host_$m.gen.err" &&
        "$ET" "${ppl_args[@]}" --model "$tmp/$m.gguf" >"$tmp/host_$m.ppl" 2>&1
    if [ $? -ne 0 ] || [ -z "$(nll "$tmp/host_$m.ppl")" ] || [ ! -s "$tmp/host_$m.gen" ]; then
        fail "arm_cli_host_$m" "the host program failed: $(tail -n 2 "$tmp/host_$m.gen.err" "$tmp/host_$m.ppl" | tr '\n' ' ')"
        exit 1
    fi
done

for cpu in cortex-a53 max; do
    want_isa=$([ $cpu = max ] && echo neon-i8mm || echo neon)
    if arm $cpu "" version >"$tmp/v.out" 2>&1 && grep -q "^kernel path: $want_isa " "$tmp/v.out"; then
        pass "$cpu:cli_version_path_$want_isa"
    else
        fail "$cpu:cli_version" "want kernel path $want_isa: $(tr '\n' ' ' <"$tmp/v.out")"
    fi
    for m in f32 q8_0; do
        o="$tmp/${cpu}_$m"
        if arm $cpu "" "${gen_args[@]}" --model "$tmp/$m.gguf" >"$o.gen" 2>"$o.gen.err" &&
           cmp -s "$o.gen" "$tmp/host_$m.gen"; then
            pass "$cpu:generate_greedy_$m"
        else
            fail "$cpu:generate_greedy_$m" "got '$(tr '\n' ' ' <"$o.gen")' want '$(tr '\n' ' ' <"$tmp/host_$m.gen")' $(tail -n 1 "$o.gen.err")"
        fi
        arm $cpu "" "${ppl_args[@]}" --model "$tmp/$m.gguf" >"$o.ppl" 2>&1
        st=$? got=$(nll "$o.ppl") want=$(nll "$tmp/host_$m.ppl")
        if [ $st -eq 0 ] && [ -n "$got" ] && [ "$(counts "$o.ppl")" = "$(counts "$tmp/host_$m.ppl")" ] &&
           awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(d <= 1e-4 && d >= -1e-4) }'; then
            pass "$cpu:perplexity_$m (mean nll $got, host $want)"
        else
            fail "$cpu:perplexity_$m" "status $st, mean nll '$got' (host $want, tolerance 1e-4), $(counts "$o.ppl") (host $(counts "$tmp/host_$m.ppl")): $(tail -n 1 "$o.ppl")"
        fi
    done
    if [ $cpu = max ]; then
        # smmla against sdot on the same CPU: identical printout
        if arm max neon-dotprod "${ppl_args[@]}" --model "$tmp/q8_0.gguf" >"$tmp/sdot.ppl" 2>&1 &&
           cmp -s "$tmp/sdot.ppl" "$tmp/max_q8_0.ppl"; then
            pass "max:perplexity_q8_0_i8mm_equals_dotprod"
        else
            fail "max:perplexity_q8_0_i8mm_equals_dotprod" "neon-dotprod '$(tail -n 2 "$tmp/sdot.ppl" | tr '\n' ' ')', neon-i8mm '$(tail -n 2 "$tmp/max_q8_0.ppl" | tr '\n' ' ')'"
        fi
    fi
done
exit $rc
