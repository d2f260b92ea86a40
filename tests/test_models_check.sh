#!/bin/bash
# tools/models_check.sh (`make models`' last step) against a stand-in for edgetune whose
# `gguf dump` prints canned metadata: strictly falling perplexities pass and print every
# sample; a tie, a rise, missing metadata or a missing sample fail with a message naming
# the model.  (No model is trained here: the check itself is what is tested.)
set -u
T=${BUILD:-build}/test-models-check
rm -rf "$T" && mkdir -p "$T/m"
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
cat >"$T/et" <<'S'
#!/bin/bash
# fake `edgetune gguf dump FILE`: the perplexity comes from FILE's first line
[ "$1 $2" = "gguf dump" ] || exit 2
ppl=$(head -1 "$3") || exit 1
echo "$3: GGUF v3"
[ "$ppl" = none ] || echo "kv edgetune.pretrain.heldout_ppl               f64  $ppl"
echo "kv edgetune.pretrain.steps                     u64  100"
S
chmod +x "$T/et"
setup() {   # ppl of tiny small medium
    local i=0
    for m in tiny small medium; do
        i=$((i + 1))
        echo "${!i}" >"$T/m/$m.gguf"
        echo "sample text of $m" >"$T/m/$m.sample.txt"
    done
}

setup 90.5 60.25 41
out=$(tools/models_check.sh "$T/et" "$T/m" tiny small medium 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q 'falls strictly' <<<"$out" && grep -q 'sample text of medium' <<<"$out" &&
   grep -q '^small .* 60.25$' <<<"$out"; then pass falling
else fail falling "rc $rc: $out"; fi

setup 90.5 60.25 60.25
out=$(tools/models_check.sh "$T/et" "$T/m" tiny small medium 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "FAILED: medium's held-out perplexity 60.25 is not below small's 60.25" <<<"$out"; then pass tie
else fail tie "rc $rc: $out"; fi

setup 50 60.25 41
out=$(tools/models_check.sh "$T/et" "$T/m" tiny small medium 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "small's held-out perplexity 60.25 is not below tiny's 50" <<<"$out"; then pass rise
else fail rise "rc $rc: $out"; fi

setup 90 none 41
out=$(tools/models_check.sh "$T/et" "$T/m" tiny small medium 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'small.gguf has no edgetune.pretrain.heldout_ppl' <<<"$out"; then pass no_metadata
else fail no_metadata "rc $rc: $out"; fi

setup 90 60 41
rm "$T/m/small.sample.txt"
out=$(tools/models_check.sh "$T/et" "$T/m" tiny small medium 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'small.sample.txt is missing' <<<"$out"; then pass no_sample
else fail no_sample "rc $rc: $out"; fi
