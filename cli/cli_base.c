/* Opening the base model for `edgetune adapter` and `edgetune merge` (cli_base.h). */
#include <stdio.h>
#include <string.h>
#include "cli_base.h"
#include "llama_gguf.h"
#include "llama_hf.h"

int et_cli_open_base(const char *cmd, const char *path, et_cli_base *b) {
    char err[1024];
    memset(b, 0, sizeof *b);
    et_llama_config c;
    et_gguf_str s;
    if (et_llama_gguf_open(path, &b->g, err, sizeof err) ||   /* GGUF, or an HF checkpoint directory */
        et_llama_config_from_gguf(b->g, &c, err, sizeof err)) {
        fprintf(stderr, "edgetune %s: %s\n", cmd, err);
        return -1;
    }
    if (et_gguf_get_str(b->g, "general.architecture", &s, err, sizeof err) == 0)
        snprintf(b->arch, sizeof b->arch, "%.*s", (int)(s.len < 31 ? s.len : 31), s.ptr);
    if (et_gguf_get_str(b->g, "general.name", &s, err, sizeof err) == 0)
        snprintf(b->name, sizeof b->name, "%.*s", (int)(s.len < 127 ? s.len : 127), s.ptr);
    b->lay = et_adapter_layout_of(&c);
    return 0;
}
