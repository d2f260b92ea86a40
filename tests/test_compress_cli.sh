#!/bin/bash
# `edgetune quantize` and `edgetune prune` from the command line, on a small llama-architecture
# model written by the PyPI gguf package (dim 256 so every block format, q4_k's 256 included,
# divides the rows).  Checks: every --type writes a file that edgetune's GGUF reader loads back
# (gguf dump) with the linear weights in that type and exactly the byte size the block format
# gives, the norms and embeddings untouched, the size/ratio summary; prune reports exactly 50%
# (unstructured, f32 keeps exact zeros) and 50% for 2:4, per tensor and overall; bad arguments
# fail with status 2 and a message naming the bad value.
set -u
ET=${ET:-build/edgetune}
PY=${ET_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

if ! "$PY" - "$tmp/base.gguf" <<'PY' 2>"$tmp/py.err"; then
import sys
import numpy as np
import gguf
D, F, L = 256, 512, 2
rng = np.random.default_rng(3)
w = gguf.GGUFWriter(sys.argv[1], "llama")
w.add_context_length(64); w.add_embedding_length(D); w.add_block_count(L); w.add_feed_forward_length(F)
w.add_head_count(4); w.add_head_count_kv(4); w.add_rope_freq_base(10000.0); w.add_layer_norm_rms_eps(1e-5)
w.add_string("test.marker", "kept")
w.add_tensor("token_embd.weight", rng.standard_normal((32, D)).astype(np.float32))
w.add_tensor("output_norm.weight", np.ones(D, np.float32))
for l in range(L):
    w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(D, np.float32))
    w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(D, np.float32))
    for n, shape in (("attn_q", (D, D)), ("attn_k", (D, D)), ("attn_v", (D, D)), ("attn_output", (D, D)),
                     ("ffn_gate", (F, D)), ("ffn_up", (F, D)), ("ffn_down", (D, F))):
        w.add_tensor(f"blk.{l}.{n}.weight", rng.standard_normal(shape).astype(np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
    fail setup "cannot write the model: $(tail -1 "$tmp/py.err")"; exit 1
fi

# bytes of a 256 x 256 tensor in each type (blocks of 32 / 256 elements; nf4: 64-blocks + absmax tail)
declare -A bytes=([f32]=262144 [f16]=131072 [bf16]=131072 [q8_0]=69632 [q4_0]=36864 [q4_1]=40960
                  [q4_k]=36864 [q6_k]=53760 [iq4_nl]=36864 [q5_0]=45056 [q5_1]=49152)
for t in q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k iq4_nl nf4 f16 bf16 f32; do
    if ! "$ET" quantize "$tmp/base.gguf" "$tmp/$t.gguf" --type $t >"$tmp/$t.out" 2>&1; then
        fail "quantize_$t" "exit status $? ($(tail -1 "$tmp/$t.out"))"; continue
    fi
    "$ET" gguf dump "$tmp/$t.gguf" >"$tmp/$t.dump" 2>&1 || { fail "quantize_$t" "gguf dump rejects the output"; continue; }
    q=$(grep -E "tensor blk.1.attn_q.weight " "$tmp/$t.dump")
    e=$(grep -E "tensor token_embd.weight " "$tmp/$t.dump")
    n=$(grep "^tensor blk.*weight *$t " "$tmp/$t.dump" | grep -vc "_norm")
    got=$(sed -n 's/.* bytes \([0-9]*\).*/\1/p' <<<"$q")
    want=${bytes[$t]:-}
    if [ "$n" -ne 14 ] || ! grep -q " f32 " <<<"$e" || ! grep -q "test.marker" "$tmp/$t.dump" ||
       { [ -n "$want" ] && [ "$got" != "$want" ]; } || ! grep -q "ratio" "$tmp/$t.out"; then
        fail "quantize_$t" "$n linear tensors of type $t (want 14), attn_q $got bytes (want ${want:-?}), embd: $e"
    else
        pass "quantize_$t ($(grep ratio "$tmp/$t.out" | sed 's/.*(ratio/ratio/; s/).*//'))"
    fi
done

if "$ET" quantize "$tmp/base.gguf" "$tmp/emb.gguf" --type q4_0 --embeddings q8_0 >/dev/null 2>&1 &&
   "$ET" gguf dump "$tmp/emb.gguf" | grep -q "tensor token_embd.weight *q8_0"; then pass quantize_embeddings
else fail quantize_embeddings "token_embd.weight not q8_0 with --embeddings q8_0"; fi

for spec in "--sparsity 50%" "--2:4"; do
    name=prune_$(tr -dc 'a-z0-9' <<<"$spec")
    if "$ET" prune "$tmp/base.gguf" "$tmp/p.gguf" $spec >"$tmp/p.out" 2>&1 &&
       grep -q "overall sparsity 50.0000% (655360 of 1310720" "$tmp/p.out" &&
       [ "$(grep -c 'sparsity  50.000%' "$tmp/p.out")" -eq 14 ]; then pass "$name"
    else fail "$name" "$(tail -1 "$tmp/p.out")"; fi
done

expect_err() {   # name, expected text in stderr, command...
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/e.out" 2>"$tmp/e.err"
    local rc=$?
    if [ $rc -ne 0 ] && grep -qF -- "$want" "$tmp/e.err"; then pass "$name"
    else fail "$name" "status $rc, stderr: $(head -1 "$tmp/e.err")"; fi
}
expect_err bad_type "'q5_9'" "$ET" quantize "$tmp/base.gguf" "$tmp/x.gguf" --type q5_9
expect_err bad_emb_type "'i32'" "$ET" quantize "$tmp/base.gguf" "$tmp/x.gguf" --type q8_0 --embeddings i32
expect_err no_type "--type" "$ET" quantize "$tmp/base.gguf" "$tmp/x.gguf"
expect_err missing_input "$tmp/nope.gguf" "$ET" quantize "$tmp/nope.gguf" "$tmp/x.gguf" --type q8_0
expect_err bad_sparsity "'150%'" "$ET" prune "$tmp/base.gguf" "$tmp/x.gguf" --sparsity 150%
expect_err sparsity_no_pct "'50'" "$ET" prune "$tmp/base.gguf" "$tmp/x.gguf" --sparsity 50
expect_err two_specs "'--2:4'" "$ET" prune "$tmp/base.gguf" "$tmp/x.gguf" --sparsity 50% --2:4
[ ! -e "$tmp/x.gguf" ] && pass nothing_written_on_error || fail nothing_written_on_error "$tmp/x.gguf exists"
