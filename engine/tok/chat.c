/* Minimal chat templates for instruct models, the three layouts most GGUF instruct models use
 * (as llama.cpp's llm_chat_apply_template writes them):
 *   llama2:  [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
 *   llama3:  <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> ...
 *   chatml:  <|im_start|>{role}\n{content}<|im_end|>\n ...
 *   gemma:   <start_of_turn>{user|model}\n{content}<end_of_turn>\n ... (a system message is
 *            prefixed to the first user turn, as Gemma's template does)
 * The leading BOS is left to the encoder (ET_TOK_ADD_SPECIAL); the special-token text inside
 * the prompt needs ET_TOK_PARSE_SPECIAL when encoding. */
#include <string.h>
#include "tok/tokenizer.h"

typedef struct { char *out; size_t cap, n; } et__sb;

static void et__put(et__sb *b, const char *s) {
    size_t l = strlen(s);
    if (b->n < b->cap) memcpy(b->out + b->n, s, l < b->cap - b->n ? l : b->cap - b->n);
    b->n += l;
}

size_t et_chat_render(et_chat_style style, const et_chat_msg *msgs, int n, int add_generation_prompt,
                      char *out, size_t cap) {
    et__sb b = {out, cap, 0};
    if (style == ET_CHAT_LLAMA2) {
        int inside = 1;
        et__put(&b, "[INST] ");
        for (int i = 0; i < n; i++) {
            const char *role = msgs[i].role, *c = msgs[i].content;
            if (!inside) { et__put(&b, "<s>[INST] "); inside = 1; }
            if (!strcmp(role, "system")) { et__put(&b, "<<SYS>>\n"); et__put(&b, c); et__put(&b, "\n<</SYS>>\n\n"); }
            else if (!strcmp(role, "user")) { et__put(&b, c); et__put(&b, " [/INST]"); }
            else { et__put(&b, " "); et__put(&b, c); et__put(&b, " </s>"); inside = 0; }
        }
    } else if (style == ET_CHAT_LLAMA3) {
        for (int i = 0; i < n; i++) {
            et__put(&b, "<|start_header_id|>"); et__put(&b, msgs[i].role);
            et__put(&b, "<|end_header_id|>\n\n"); et__put(&b, msgs[i].content); et__put(&b, "<|eot_id|>");
        }
        if (add_generation_prompt) et__put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (style == ET_CHAT_CHATML) {
        for (int i = 0; i < n; i++) {
            et__put(&b, "<|im_start|>"); et__put(&b, msgs[i].role); et__put(&b, "\n");
            et__put(&b, msgs[i].content); et__put(&b, "<|im_end|>\n");
        }
        if (add_generation_prompt) et__put(&b, "<|im_start|>assistant\n");
    } else if (style == ET_CHAT_GEMMA) {
        const char *sys = NULL;
        for (int i = 0; i < n; i++) {
            if (!strcmp(msgs[i].role, "system")) { sys = msgs[i].content; continue; }
            int user = strcmp(msgs[i].role, "assistant") != 0;
            et__put(&b, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
            if (user && sys) { et__put(&b, sys); et__put(&b, "\n\n"); sys = NULL; }
            et__put(&b, msgs[i].content);
            et__put(&b, "<end_of_turn>\n");
        }
        if (add_generation_prompt) et__put(&b, "<start_of_turn>model\n");
    } else {
        for (int i = 0; i < n; i++) { et__put(&b, msgs[i].content); et__put(&b, "\n"); }
    }
    if (cap > 0) out[b.n < cap ? b.n : cap - 1] = 0;
    return b.n;
}
