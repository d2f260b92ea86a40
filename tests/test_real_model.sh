#!/bin/bash
# A real pretrained model through the command line: Gemma 3 270M (Q4_K_M, llama.cpp's
# quantization: Q8_0 tied embeddings, Q5_0 / Q8_0 / Q4_K / Q6_K linear layers, gemma3
# architecture, SentencePiece vocabulary of 262144 tokens).  `make real-model` downloads it to
# build/real/ (tools/real_model.mk); without it this test prints a notice and reports nothing
# (CI has no network) -- `make check-real` always builds it first.  Checks:
#   tokenize   BOS (id 2) first; a 1.6 MB text in under 10 s; 0.15..0.5 tokens per character
#   generate   "The capital of France is", greedy: 16 new tokens of English that stay on the
#              subject (a word of the prompt's topic: France / French / Paris) -- the exact
#              continuation is tools/check_real_llamacpp.py's business (llama.cpp's tokens)
#   finetune   --method lora, 4 steps on 8 question/answer pairs: the loss falls by > 20%
#   adapter    export --format gguf (llama.cpp's LoRA layout) and --format peft both write
#              files that `adapter info` reads back as rank 8 over all 7 modules
set -u
ET=${ET:-build/edgetune}
MODEL=${ET_REAL_MODEL:-build/real/gemma-3-270m-q4_k_m.gguf}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if [ ! -f "$MODEL" ]; then
    echo "real model: $MODEL is not here, skipped (\`make real-model\` downloads it; \`make check-real\` runs this)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- tokenize ----------------------------------------------------------------------------------
para="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889."
for i in $(seq 8000); do echo "$para"; done >"$tmp/big.txt"
printf '%s' "$para" >"$tmp/para.txt"
t0=$(date +%s.%N)
if ! "$ET" tokenize --model "$MODEL" --text "$tmp/big.txt" >"$tmp/big.ids" 2>"$tmp/tok.err"; then
    fail tokenize "exit status $? ($(tail -1 "$tmp/tok.err"))"
else
    secs=$(echo "$(date +%s.%N) - $t0" | bc)
    nb=$(wc -c <"$tmp/big.txt"); nt=$(wc -w <"$tmp/big.ids")
    "$ET" tokenize --model "$MODEL" --text "$tmp/para.txt" >"$tmp/para.ids" 2>/dev/null
    first=$(awk '{print $1}' "$tmp/para.ids"); np=$(wc -w <"$tmp/para.ids")
    ratio=$(echo "scale=3; $nt / $nb" | bc)
    if [ "$first" = 2 ] && [ "$(echo "$secs < 10" | bc)" = 1 ] && [ "$(echo "$ratio > 0.15 && $ratio < 0.5" | bc)" = 1 ]; then
        pass "tokenize ($nb bytes -> $nt tokens in ${secs%???????} s; the paragraph: $np tokens: $(cat "$tmp/para.ids"))"
    else
        fail tokenize "first id $first (want 2), $nt tokens for $nb bytes (ratio $ratio), $secs s"
    fi
fi

# ---- generate ----------------------------------------------------------------------------------
if ! "$ET" generate --model "$MODEL" --prompt "The capital of France is" --max-new 16 --stats \
        >"$tmp/gen.out" 2>"$tmp/gen.err"; then
    fail generate "exit status $? ($(tail -1 "$tmp/gen.err"))"
else
    out=$(tr '\n' ' ' <"$tmp/gen.out")
    words=$(echo "$out" | grep -oE "[A-Za-z]+" | wc -l)
    if [ "$words" -ge 6 ] && echo "$out" | grep -qE "France|French|Paris" && ! echo "$out" | grep -qP '[^\x20-\x7e]'; then
        pass "generate ('The capital of France is' ->$out; $(tail -1 "$tmp/gen.err"))"
    else
        fail generate "not English on the subject: '$out' ($words words)"
    fi
fi

# ---- finetune (LoRA) and adapter export ----------------------------------------------------------
cat >"$tmp/qa.jsonl" <<'EOF'
{"prompt": "Q: What colour is the sky on a clear day?\nA:", "answer": " Blue."}
{"prompt": "Q: How many legs does a spider have?\nA:", "answer": " Eight."}
{"prompt": "Q: What is the capital of Italy?\nA:", "answer": " Rome."}
{"prompt": "Q: What do bees make?\nA:", "answer": " Honey."}
{"prompt": "Q: What is frozen water called?\nA:", "answer": " Ice."}
{"prompt": "Q: Which planet is known as the red planet?\nA:", "answer": " Mars."}
{"prompt": "Q: What is the opposite of hot?\nA:", "answer": " Cold."}
{"prompt": "Q: How many days are in a week?\nA:", "answer": " Seven."}
EOF
if ! "$ET" finetune --model "$MODEL" --data "$tmp/qa.jsonl" --method lora --steps 4 --batch 4 --lr 2e-4 \
        --out "$tmp/lora.gguf" >"$tmp/ft.out" 2>&1; then
    fail finetune_lora "exit status $? ($(tail -2 "$tmp/ft.out" | tr '\n' ' '))"
else
    line=$(grep "^trained" "$tmp/ft.out")
    l0=$(sed -n 's/.*loss \([0-9.]*\) -> \([0-9.]*\).*/\1/p' <<<"$line")
    l1=$(sed -n 's/.*loss \([0-9.]*\) -> \([0-9.]*\).*/\2/p' <<<"$line")
    if [ -n "$l0" ] && [ -n "$l1" ] && [ "$(echo "$l1 < 0.8 * $l0" | bc)" = 1 ] && [ -f "$tmp/lora.gguf" ]; then
        pass "finetune_lora ($line; $(grep 'tokens/s, ' "$tmp/ft.out"))"
    else
        fail finetune_lora "loss did not fall by 20%: '$line'"
    fi
fi
if [ -f "$tmp/lora.gguf" ]; then
    for fmt in gguf peft; do
        dst="$tmp/export.$fmt"
        [ $fmt = gguf ] && dst="$tmp/export.gguf"
        if ! "$ET" adapter export --model "$MODEL" --adapter "$tmp/lora.gguf" --format $fmt --out "$dst" \
                >"$tmp/exp.out" 2>&1; then
            fail "adapter_export_$fmt" "exit status $? ($(tail -1 "$tmp/exp.out"))"; continue
        fi
        info=$("$ET" adapter info --adapter "$dst" --model "$MODEL" 2>&1)
        if grep -q "rank 8" <<<"$info" && grep -q "attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down" <<<"$info"; then
            pass "adapter_export_$fmt ($(head -1 <<<"$info"))"
        else
            fail "adapter_export_$fmt" "adapter info: $info"
        fi
    done
fi
