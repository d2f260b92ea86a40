#!/bin/bash
# edgetune study from the command line, without a model: --plan on a hand-made LaMP
# directory (--lamp) and on the built-in layout, shard lists that partition the plan,
# --model adding to the built-in models (and --no-builtin-models),
# argument errors (exit 2 with a message naming the bad value), a malformed LaMP file
# (exit 1 naming file and field), and `study merge` keeping each cell once.
set -u
ET=${ET:-build/edgetune}
T=${BUILD:-build}/test-study-cli
rm -rf "$T" && mkdir -p "$T/lamp"
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

cat >"$T/lamp/dev_questions.json" <<'J'
[{"id":"310","input":"What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without further explanation. review: great","profile":[{"id":"1","text":"awful","score":"1"},{"id":"2","text":"superb","score":"5"}]},
 {"id":"311","input":"What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without further explanation. review: meh","profile":[{"id":"3","text":"fine","score":"3"}]}]
J
echo '{"task":"LaMP_3","golds":[{"id":"310","output":"5"},{"id":"311","output":"3"}]}' >"$T/lamp/dev_outputs.json"
echo "not a model; --plan never opens it" >"$T/m.gguf"

out=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/m.gguf" 2>&1)
if [ $? -eq 0 ] && grep -q "task=LaMP-3;method=lora" <<<"$out" && grep -q "^# total: " <<<"$out"; then
    pass lamp_plan
else fail lamp_plan "$(tail -3 <<<"$out")"; fi

n_all=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/m.gguf" | grep -c "task=")
n0=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/m.gguf" --shard 0/2 | grep -c "task=")
n1=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/m.gguf" --shard 1/2 | grep -c "task=")
if [ "$n_all" -gt 20 ] && [ $((n0 + n1)) -eq "$n_all" ] && [ $((n0 - n1)) -le 1 ]; then pass shard_partition
else fail shard_partition "all $n_all, shards $n0 + $n1"; fi

out=$("$ET" study --plan --shard 2/2 --no-builtin-models --model "$T/m.gguf" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q '2/2' <<<"$out"; then pass bad_shard; else fail bad_shard "rc $rc: $out"; fi
out=$("$ET" study --profile medium 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q 'medium' <<<"$out"; then pass bad_profile; else fail bad_profile "rc $rc: $out"; fi
out=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/absent.gguf" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'absent.gguf' <<<"$out"; then pass missing_model; else fail missing_model "rc $rc: $out"; fi

# --model adds to the built-in models (build/models/*.gguf under the working directory,
# smallest first: the centre), --no-builtin-models keeps only the given files
mkdir -p "$T/cwd/build/models"
head -c 1000 /dev/zero >"$T/cwd/build/models/a.gguf"
head -c 5000 /dev/zero >"$T/cwd/build/models/b.gguf"
ETA=$(cd "$(dirname "$ET")" && pwd)/$(basename "$ET")
LAMP=$(cd "$T/lamp" && pwd) M=$(cd "$T" && pwd)/m.gguf
out=$(cd "$T/cwd" && "$ETA" study --plan --lamp "$LAMP" --model "$M" 2>&1)
lora_a=$(grep -c 'method=lora;.*model=build/models/a.gguf;cap=16;budget=1;rank=8' <<<"$out")
if grep -q "model=build/models/b.gguf" <<<"$out" && grep -q " model .*model=$M;" <<<"$out" && [ "$lora_a" -ge 3 ]; then
    pass model_adds
else fail model_adds "centre a.gguf lora $lora_a; $(grep -c "model=$M" <<<"$out") cells on m.gguf"; fi
out=$(cd "$T/cwd" && "$ETA" study --plan --lamp "$LAMP" --model "$M" --no-builtin-models 2>&1)
if ! grep -q "build/models/" <<<"$out" && grep -q "method=lora;.*model=$M;" <<<"$out"; then pass no_builtin
else fail no_builtin "$(grep -c build/models <<<"$out") built-in cells"; fi

echo '{"task":"LaMP_3","golds":[{"id":"310"}]}' >"$T/lamp/dev_outputs.json"
out=$("$ET" study --plan --lamp "$T/lamp" --no-builtin-models --model "$T/m.gguf" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'dev_outputs.json' <<<"$out" && grep -q '"output"' <<<"$out"; then pass lamp_malformed
else fail lamp_malformed "rc $rc: $out"; fi

printf '{"key":"a","v":1}\n{"key":"b","v":1}\n' >"$T/r1.jsonl"
printf '{"key":"b","v":2}\n{"key":"c","v":2}\n{"key":"torn' >"$T/r2.jsonl"
out=$("$ET" study merge "$T/merged.jsonl" "$T/r1.jsonl" "$T/r2.jsonl" 2>&1)
if [ $? -eq 0 ] && [ "$(wc -l <"$T/merged.jsonl")" -eq 3 ] && grep -q '"key":"b","v":1' "$T/merged.jsonl"; then pass merge
else fail merge "$out / $(cat "$T/merged.jsonl" 2>&1)"; fi
