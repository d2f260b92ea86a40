#!/bin/bash
# `make models`' last step: print each built-in model's size, training and held-out
# perplexity with its greedy sample, and fail loudly unless the perplexities fall strictly
# from the first model named to the last (issue 7: a larger model must reach a lower
# perplexity than a smaller one).
#   tools/models_check.sh EDGETUNE MODELS_DIR NAME...     (smallest first)
# Reads <dir>/<name>.gguf (edgetune.pretrain.* metadata, written by `edgetune pretrain`) and
# <dir>/<name>.sample.txt (greedy continuation of a fixed prompt, `make models` writes it).
set -u
ET=$1 DIR=$2
shift 2
prev_ppl= prev_name= bad=0
printf '%-8s %12s %8s %10s %8s %12s\n' model non-embed steps tokens window 'held-out ppl'
for m in "$@"; do
    f="$DIR/$m.gguf"
    dump=$("$ET" gguf dump "$f" 2>&1) || { echo "models: $f: cannot read: $dump" >&2; exit 1; }
    kv() { awk -v k="edgetune.pretrain.$1" '$1 == "kv" && $2 == k { print $4 }' <<<"$dump"; }
    ppl=$(kv heldout_ppl)
    if [ -z "$ppl" ]; then
        echo "models: $f has no edgetune.pretrain.heldout_ppl (not written by edgetune pretrain?)" >&2
        exit 1
    fi
    printf '%-8s %12s %8s %10s %8s %12s\n' "$m" "$(kv n_params_nonembed)" "$(kv steps)" "$(kv tokens)" \
        "$(kv heldout_window)" "$ppl"
    if [ -n "$prev_ppl" ] && ! awk -v a="$ppl" -v b="$prev_ppl" 'BEGIN { exit !(a < b) }'; then
        bad=1
        echo "models: FAILED: $m's held-out perplexity $ppl is not below $prev_name's $prev_ppl" >&2
    fi
    prev_ppl=$ppl prev_name=$m
done
for m in "$@"; do
    s="$DIR/$m.sample.txt"
    echo "--- $m, greedy sample ($s):"
    if [ -s "$s" ]; then cat "$s"; else echo "models: $s is missing or empty" >&2; bad=1; fi
    echo
done
if [ "$bad" -ne 0 ]; then
    echo "models: FAILED: the models do not improve with size (see above); retune the presets in models/pretrain.c" >&2
    exit 1
fi
echo "models: held-out perplexity falls strictly with size: $*"
