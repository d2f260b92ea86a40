/* The tokenizer of a GGUF model: reads llama.cpp's tokenizer.ggml.* metadata and hands the
 * arrays to et_tok_create().  Keys (as llama.cpp writes them):
 *   tokenizer.ggml.model       "llama" (SentencePiece BPE) | "gpt2" (byte-level BPE)
 *   tokenizer.ggml.pre         pre-tokenizer name for gpt2 ("gpt-2", "llama-bpe", "qwen2" ...)
 *   tokenizer.ggml.tokens / scores / token_type / merges
 *   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token,
 *   add_space_prefix, tokenizer.chat_template (only used to pick the chat style)
 */
#include <stdlib.h>
#include <string.h>
#include "tok/tok_gguf.h"
#include "tok/tok_internal.h"

static int et__gguf_pretok(const char *name) {
    static const struct { const char *name; et_pretok p; } map[] = {
        {"default", ET_PRETOK_GPT2}, {"gpt-2", ET_PRETOK_GPT2}, {"gpt2", ET_PRETOK_GPT2},
        {"llama3", ET_PRETOK_LLAMA3}, {"llama-v3", ET_PRETOK_LLAMA3}, {"llama-bpe", ET_PRETOK_LLAMA3},
        {"smaug-bpe", ET_PRETOK_LLAMA3}, {"qwen2", ET_PRETOK_QWEN2}, {"deepseek-r1-qwen", ET_PRETOK_QWEN2},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(name, map[i].name)) return map[i].p;
    return -1;
}

static void et__gguf_id(const et_gguf *g, const char *key, int32_t *out) {
    uint32_t v;
    char e[8];
    if (et_gguf_get_u32(g, key, &v, e, sizeof e) == 0 && v < (uint32_t)ET__TOK_MAX_VOCAB) *out = (int32_t)v;
}

static void et__gguf_flag(const et_gguf *g, const char *key, int *out) {
    bool b;
    char e[8];
    if (et_gguf_get_bool(g, key, &b, e, sizeof e) == 0) *out = b;
}

et_tok *et_tok_from_gguf(const et_gguf *g, char *err, size_t errsz) {
    const char *path = et_gguf_name(g);
    char e[256];
    et_gguf_str model;
    if (et_gguf_get_str(g, "tokenizer.ggml.model", &model, e, sizeof e)) {
        et__tok_err(err, errsz, "%s", e);
        return NULL;
    }
    et_tok_spec sp;
    if (!strcmp(model.ptr, "llama")) et_tok_spec_init(&sp, ET_TOK_SPM);
    else if (!strcmp(model.ptr, "gpt2")) et_tok_spec_init(&sp, ET_TOK_BPE);
    else {
        et__tok_err(err, errsz, "%s: tokenizer.ggml.model \"%.40s\" unsupported (llama, gpt2)", path, model.ptr);
        return NULL;
    }
    et_gguf_array toks, scores, types, merges;
    if (et_gguf_get_arr(g, "tokenizer.ggml.tokens", ET_GGUF_STR, &toks, e, sizeof e)) {
        et__tok_err(err, errsz, "%s", e);
        return NULL;
    }
    if (toks.n == 0 || toks.n > (uint64_t)ET__TOK_MAX_VOCAB) {
        et__tok_err(err, errsz, "%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)toks.n);
        return NULL;
    }
    int has_scores = et_gguf_find(g, "tokenizer.ggml.scores") != NULL;
    int has_types = et_gguf_find(g, "tokenizer.ggml.token_type") != NULL;
    if ((has_scores && et_gguf_get_arr(g, "tokenizer.ggml.scores", ET_GGUF_F32, &scores, e, sizeof e)) ||
        (has_types && et_gguf_get_arr(g, "tokenizer.ggml.token_type", ET_GGUF_I32, &types, e, sizeof e))) {
        et__tok_err(err, errsz, "%s", e);
        return NULL;
    }
    if ((has_scores && scores.n != toks.n) || (has_types && types.n != toks.n)) {
        et__tok_err(err, errsz, "%s: tokenizer.ggml.%s has %llu entries, tokens %llu", path,
                    has_scores && scores.n != toks.n ? "scores" : "token_type",
                    (unsigned long long)(has_scores && scores.n != toks.n ? scores.n : types.n),
                    (unsigned long long)toks.n);
        return NULL;
    }
    merges.n = 0;
    if (sp.model == ET_TOK_BPE) {
        if (et_gguf_get_arr(g, "tokenizer.ggml.merges", ET_GGUF_STR, &merges, e, sizeof e)) {
            et__tok_err(err, errsz, "%s", e);
            return NULL;
        }
        if (merges.n > (uint64_t)ET__TOK_MAX_VOCAB) {
            et__tok_err(err, errsz, "%s: tokenizer.ggml.merges has %llu entries", path, (unsigned long long)merges.n);
            return NULL;
        }
        et_gguf_str pre;
        if (et_gguf_get_str(g, "tokenizer.ggml.pre", &pre, e, sizeof e) == 0) {
            int p = et__gguf_pretok(pre.ptr);
            if (p < 0) {
                et__tok_err(err, errsz, "%s: tokenizer.ggml.pre \"%.40s\" unsupported (gpt-2, llama-bpe, qwen2)", path, pre.ptr);
                return NULL;
            }
            sp.pretok = (et_pretok)p;
        }
    }
    int32_t n = (int32_t)toks.n;
    const char **tp = malloc((size_t)n * sizeof *tp);
    uint32_t *tl = malloc((size_t)n * sizeof *tl);
    const char **mp = malloc((merges.n + 1) * sizeof *mp);
    et_tok *t = NULL;
    if (!tp || !tl || !mp) { et__tok_err(err, errsz, "%s: out of memory", path); goto done; }
    const et_gguf_str *ts = toks.data;
    for (int32_t i = 0; i < n; i++) {
        if (ts[i].len > ET__TOK_MAX_PIECE) {
            et__tok_err(err, errsz, "%s: tokenizer.ggml.tokens[%d] length %llu", path, i, (unsigned long long)ts[i].len);
            goto done;
        }
        tp[i] = ts[i].ptr;
        tl[i] = (uint32_t)ts[i].len;
    }
    const et_gguf_str *ms = merges.data;
    for (uint64_t i = 0; i < merges.n; i++) mp[i] = ms[i].ptr;
    sp.n_vocab = n;
    sp.tokens = tp;
    sp.token_lens = tl;
    sp.scores = has_scores ? scores.data : NULL;
    sp.types = has_types ? types.data : NULL;
    sp.n_merges = (int32_t)merges.n;
    sp.merges = mp;
    et__gguf_id(g, "tokenizer.ggml.bos_token_id", &sp.bos);
    et__gguf_id(g, "tokenizer.ggml.eos_token_id", &sp.eos);
    et__gguf_id(g, "tokenizer.ggml.unknown_token_id", &sp.unk);
    et__gguf_id(g, "tokenizer.ggml.padding_token_id", &sp.pad);
    et__gguf_flag(g, "tokenizer.ggml.add_bos_token", &sp.add_bos);
    et__gguf_flag(g, "tokenizer.ggml.add_eos_token", &sp.add_eos);
    et__gguf_flag(g, "tokenizer.ggml.add_space_prefix", &sp.add_dummy_prefix);
    et_gguf_str tmpl;
    if (et_gguf_get_str(g, "tokenizer.chat_template", &tmpl, e, sizeof e) == 0) {
        if (strstr(tmpl.ptr, "<|im_start|>")) sp.chat = ET_CHAT_CHATML;
        else if (strstr(tmpl.ptr, "<|start_header_id|>")) sp.chat = ET_CHAT_LLAMA3;
        else if (strstr(tmpl.ptr, "<start_of_turn>")) sp.chat = ET_CHAT_GEMMA;
        else if (strstr(tmpl.ptr, "[INST]")) sp.chat = ET_CHAT_LLAMA2;
    }
    t = et_tok_create(&sp, e, sizeof e);
    if (!t) et__tok_err(err, errsz, "%s: %s", path, e);
done:
    free(tp); free(tl); free(mp);
    return t;
}
