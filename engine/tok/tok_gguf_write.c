/* The reverse of tok_gguf.c: write a tokenizer as llama.cpp's tokenizer.ggml.* metadata, so
 * a model file carries its vocabulary (our own base models; merged models). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tok/tok_gguf.h"

int et_tok_to_gguf(const et_tok *t, et_gguf_writer *w, char *err, size_t errsz) {
    int32_t n = et_tok_n_vocab(t), nm = et_tok_n_merges(t);
    bool bpe = et_tok_model_kind(t) == ET_TOK_BPE;
    et_gguf_str *toks = calloc((size_t)n, sizeof *toks);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    et_gguf_str *merges = calloc((size_t)(nm > 0 ? nm : 1), sizeof *merges);
    char **mbuf = calloc((size_t)(nm > 0 ? nm : 1), sizeof *mbuf);
    int rc = -1;
    if (!toks || !scores || !types || !merges || !mbuf) { snprintf(err, errsz, "tokenizer export: out of memory"); goto done; }
    for (int32_t i = 0; i < n; i++) {
        uint32_t len = 0;
        toks[i].ptr = et_tok_piece(t, i, &len);
        toks[i].len = len;
        scores[i] = et_tok_score(t, i);
        types[i] = (int32_t)et_tok_type_of(t, i);
    }
    for (int32_t r = 0; r < nm; r++) {
        int32_t a, b, c;
        uint32_t la, lb;
        et_tok_merge(t, r, &a, &b, &c);
        const char *pa = et_tok_piece(t, a, &la), *pb = et_tok_piece(t, b, &lb);
        mbuf[r] = malloc((size_t)la + lb + 2);
        if (!mbuf[r]) { snprintf(err, errsz, "tokenizer export: out of memory"); goto done; }
        memcpy(mbuf[r], pa, la);
        mbuf[r][la] = ' ';
        memcpy(mbuf[r] + la + 1, pb, lb);
        mbuf[r][la + lb + 1] = 0;
        merges[r] = (et_gguf_str){ mbuf[r], (uint64_t)la + lb + 1 };
    }
    et_gguf_writer_set_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    if (bpe) {
        et_pretok p = et_tok_pretok(t);
        et_gguf_writer_set_str(w, "tokenizer.ggml.pre", p == ET_PRETOK_LLAMA3 ? "llama-bpe" : p == ET_PRETOK_QWEN2 ? "qwen2" : "gpt-2");
    }
    et_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", ET_GGUF_STR, toks, (uint64_t)n);
    et_gguf_writer_set_arr(w, "tokenizer.ggml.scores", ET_GGUF_F32, scores, (uint64_t)n);
    et_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", ET_GGUF_I32, types, (uint64_t)n);
    if (bpe) et_gguf_writer_set_arr(w, "tokenizer.ggml.merges", ET_GGUF_STR, merges, (uint64_t)nm);
    if (et_tok_bos(t) >= 0) et_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)et_tok_bos(t));
    if (et_tok_eos(t) >= 0) et_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)et_tok_eos(t));
    if (et_tok_unk(t) >= 0) et_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)et_tok_unk(t));
    if (et_tok_pad(t) >= 0) et_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)et_tok_pad(t));
    et_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", et_tok_bos(t) >= 0 && et_tok_adds_bos(t));
    et_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", et_tok_eos(t) >= 0 && et_tok_adds_eos(t));
    if (!bpe) et_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", et_tok_adds_dummy_prefix(t));
    rc = 0;
done:
    for (int32_t r = 0; mbuf && r < nm; r++) free(mbuf[r]);
    free(mbuf);
    free(merges);
    free(types);
    free(scores);
    free(toks);
    return rc;
}
