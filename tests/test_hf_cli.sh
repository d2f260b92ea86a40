#!/bin/bash
# Hugging Face checkpoint directories (tests/py/gen_hf.py's tiny llama / mistral / qwen2) on the
# command line.  generate, perplexity and tokenize go through et_lm_load, which reads the
# directory in place (rotate-half rope); quantize, finetune and merge are GGUF tools and get
# the directory converted to llama.cpp's GGUF layout by the model loader
# (et_llama_gguf_open: q/k permuted, adjacent-pair rope).  Checks:
#   - generate --model DIR prints the same greedy text as the same weights converted to GGUF
#     (`quantize DIR X.gguf --type <stored type>` copies every weight unchanged);
#   - perplexity --model DIR equals the converted file's within 1e-5 relative (f32 rounding in
#     a different order of the head's elements; measured ~2e-8);
#   - quantize DIR OUT.gguf --type q8_0 converts the 14 linear layers, and the q8_0 model stays
#     within 0.01 nats mean KL of the directory (measured ~8e-4; q8_0's ~0.5% weight error) with
#     top-1 agreement >= 90%;
#   - tokenize --model DIR gives the ids of --tokenizer DIR/tokenizer.json;
#   - finetune --model DIR trains (2 steps) and merge --model DIR folds the adapter in;
#   - a malformed directory fails with the file and tensor named; q8_0 on rows of 48 names the
#     directory and the tensor.
set -u
ET=${ET:-build/edgetune}
G=${ET_GOLDEN_DIR:-build/golden}/hf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if [ ! -f "$G/llama/config.json" ] || [ ! -f "$G/qwen2/config.json" ]; then
    fail goldens "$G/llama missing (run tests/py/gen_hf.py)"; exit 1
fi
printf 'the model loads weights from files and the tokenizer splits text into pieces while hugging face checkpoints hold llama mistral qwen layers norms heads keys values, 123 ok.\nqueries rope rotates pairs of each head edge devices run small models quickly, 123 ok.\n' >"$tmp/text.txt"
export TMPDIR="$tmp"   # et_llama_gguf_open's temporary files: none may be left (checked below)

# generate: the directory and its GGUF conversion in the stored type
for m in llama:f32 mistral:f16 qwen2:bf16; do
    name=${m%%:*} type=${m#*:}
    if ! "$ET" quantize "$G/$name" "$tmp/$name.gguf" --type "$type" --quiet >"$tmp/q.out" 2>"$tmp/q.err"; then
        fail "convert_$name" "quantize --type $type: $(tail -1 "$tmp/q.err")"; continue
    fi
    a=$("$ET" generate --model "$G/$name" --prompt "the model loads" --max-new 12 --temp 0 2>"$tmp/g.err"); rc=$?
    b=$("$ET" generate --model "$tmp/$name.gguf" --prompt "the model loads" --max-new 12 --temp 0 2>>"$tmp/g.err")
    if [ $rc -ne 0 ]; then fail "generate_$name" "rc $rc: $(tail -1 "$tmp/g.err")"
    elif [ -z "$a" ] || [ "$a" != "$b" ]; then fail "generate_$name" "directory '$a' vs GGUF '$b'"
    else pass "generate_$name"; fi
done

# perplexity: directory vs converted file
p1=$("$ET" perplexity --model "$G/llama" --text "$tmp/text.txt" --ctx 32 2>&1 | sed -n 's/^perplexity: //p')
p2=$("$ET" perplexity --model "$tmp/llama.gguf" --text "$tmp/text.txt" --ctx 32 2>&1 | sed -n 's/^perplexity: //p')
if [ -n "$p1" ] && [ -n "$p2" ] && awk -v a="$p1" -v b="$p2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * b) }'; then
    pass "perplexity_dir ($p1 vs $p2)"
else
    fail perplexity_dir "directory '$p1' vs GGUF '$p2'"
fi

# quantize q8_0 from the directory, then KL against the directory
if "$ET" quantize "$G/llama" "$tmp/q8.gguf" --type q8_0 >"$tmp/q8.out" 2>"$tmp/q8.err" &&
   [ "$(grep -c ' f32    -> q8_0 ' "$tmp/q8.out")" -eq 14 ] && grep -q '14 tensors converted' "$tmp/q8.out"; then
    pass quantize_q8_0
else
    fail quantize_q8_0 "$(tail -1 "$tmp/q8.err") $(tail -1 "$tmp/q8.out")"
fi
kl=$("$ET" perplexity --model "$tmp/q8.gguf" --kl-base "$G/llama" --text "$tmp/text.txt" --ctx 32 2>&1)
mean=$(echo "$kl" | sed -n 's/.*(nats): mean \([0-9.e+-]*\).*/\1/p')
top1=$(echo "$kl" | sed -n 's/^top-1 agreement: \([0-9.]*\)%.*/\1/p')
if [ -n "$mean" ] && [ -n "$top1" ] && awk -v k="$mean" -v t="$top1" 'BEGIN { exit !(k < 0.01 && t >= 90) }'; then
    pass "quantize_q8_0_kl (mean KL $mean nats, top-1 $top1%)"
else
    fail quantize_q8_0_kl "KL '$mean' top-1 '$top1': $(echo "$kl" | tail -2)"
fi

# tokenize
t1=$("$ET" tokenize --model "$G/qwen2" --text "$tmp/text.txt" 2>&1)
t2=$("$ET" tokenize --tokenizer "$G/qwen2/tokenizer.json" --text "$tmp/text.txt" 2>&1)
if [ -n "$t1" ] && [ "$t1" = "$t2" ]; then pass tokenize_dir; else fail tokenize_dir "'${t1:0:60}' vs '${t2:0:60}'"; fi

# finetune and merge on the directory
printf '{"prompt":"the model","answer":" loads weights"}\n{"prompt":"queries rope","answer":" rotates pairs"}\n' >"$tmp/ft.jsonl"
if "$ET" finetune --model "$G/llama" --data "$tmp/ft.jsonl" --steps 2 --out "$tmp/ad.gguf" >"$tmp/ft.out" 2>&1 &&
   grep -q '^trained 2 steps' "$tmp/ft.out" &&
   "$ET" merge --model "$G/llama" --adapter "$tmp/ad.gguf" --out "$tmp/merged.gguf" >"$tmp/mg.out" 2>&1 &&
   grep -q '14 base tensors merged' "$tmp/mg.out"; then
    pass finetune_merge_dir
else
    fail finetune_merge_dir "$(tail -1 "$tmp/ft.out") / $(tail -1 "$tmp/mg.out" 2>/dev/null)"
fi

# errors
"$ET" generate --model "$G/bad_shape" --prompt x --max-new 2 >/dev/null 2>"$tmp/e1"; rc=$?
if [ $rc -ne 0 ] && grep -q "$G/bad_shape/model.safetensors: tensor model.layers.1.mlp.up_proj.weight has shape" "$tmp/e1"; then
    pass generate_bad_dir
else
    fail generate_bad_dir "rc $rc: $(cat "$tmp/e1")"
fi
"$ET" quantize "$G/bad_index_wrong_shard" "$tmp/bad.gguf" --type q8_0 >/dev/null 2>"$tmp/e2"; rc=$?
if [ $rc -ne 0 ] && grep -q "$G/bad_index_wrong_shard/model.safetensors.index.json: weight_map" "$tmp/e2" && [ ! -e "$tmp/bad.gguf" ]; then
    pass quantize_bad_dir
else
    fail quantize_bad_dir "rc $rc: $(cat "$tmp/e2")"
fi
"$ET" quantize "$G/mistral" "$tmp/m8.gguf" --type q8_0 >/dev/null 2>"$tmp/e3"; rc=$?
if [ $rc -ne 0 ] && grep -q "$G/mistral: tensor blk.0.attn_output.weight has rows of 48 elements" "$tmp/e3"; then
    pass quantize_rows_named
else
    fail quantize_rows_named "rc $rc: $(cat "$tmp/e3")"
fi
left=$(find "$tmp" -name '*.edgetune-*' | head -3)
if [ -z "$left" ]; then pass no_temporary_files; else fail no_temporary_files "left behind: $left"; fi
