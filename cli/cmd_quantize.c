/* `edgetune quantize IN.gguf OUT.gguf --type T [--embeddings T]`: a thin front end of
 * models/compress.h.  Prints one line per converted tensor (types, bytes, relative error of
 * the written weights) and a summary: file sizes and the compression ratio. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "compress.h"

static const char *et__qusage =
    "usage: edgetune quantize IN.gguf OUT.gguf --type T [--embeddings T] [--strict] [--quiet]\n"
    "  T: q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k iq4_nl nf4 f16 bf16 f32\n"
    "  IN may be a Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json):\n"
    "  it is read by the model loader and written as llama.cpp's GGUF layout first (models/llama_hf.h).\n"
    "  quantizes the linear layers' 2-D weights (blk.*.weight); --embeddings also converts\n"
    "  token_embd.weight and output.weight; all metadata (tokenizer too) and other tensors are copied.\n"
    "  rows that are not a multiple of q4_k's / q6_k's 256-blocks get iq4_nl / q8_0 (as llama.cpp does)\n"
    "  unless --strict, which makes that an error.\n"
    "  nf4 is stored under edgetune's GGUF type id 1024 (llama.cpp cannot load such files).\n";

/* A weight type named on the command line, or ET_TYPE_COUNT with a message. */
static et_type et__wtype(const char *cmd, const char *opt, const char *s) {
    et_type t = et_type_from_name(s);
    if (t == ET_TYPE_COUNT || t == ET_I32 || t == ET_Q8_K) {
        fprintf(stderr, "edgetune %s: %s '%s' is not one of q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k iq4_nl nf4 f16 bf16 f32\n", cmd,
                opt, s);
        return ET_TYPE_COUNT;
    }
    return t;
}

static void et__print_tensor(void *ctx, const et_compress_stat *s) {
    if (s->changed)
        printf("  %-32s %-6s -> %-6s %10zu -> %10zu bytes  rel. error %.4f%s\n", s->name, et_type_get(s->from)->name,
               et_type_get(s->to)->name, s->bytes_in, s->bytes_out, s->rel_err,
               s->fallback ? "  (fallback: rows not a multiple of 256)" : "");
}

static int et__run(const char *cmd, const char *in, const char *out, et_compress_opts *o, bool quiet) {
    char err[1024];
    et_compress_report r;
    o->on_tensor = quiet ? NULL : et__print_tensor;
    if (et_gguf_compress(in, out, o, &r, err, sizeof err)) {
        fprintf(stderr, "edgetune %s: %s\n", cmd, err);
        return 1;
    }
    if (r.n_fallback) printf("%lld tensors fell back to a 32-block type (rows not a multiple of 256)\n", (long long)r.n_fallback);
    printf("%s: %lld tensors %s; file %.2f MiB -> %.2f MiB (ratio %.2fx); tensor data %.2f -> %.2f MiB\n", out,
           (long long)r.n_changed, "converted", r.file_in / 1048576.0, r.file_out / 1048576.0,
           r.file_out ? (double)r.file_in / (double)r.file_out : 0.0, r.tensor_in / 1048576.0, r.tensor_out / 1048576.0);
    return 0;
}

int et_cmd_quantize(int argc, char **argv) {
    const char *pos[2] = {0};
    int npos = 0;
    bool quiet = false;
    et_compress_opts o = { .type = ET_TYPE_COUNT, .emb_type = ET_TYPE_COUNT, .fallback = true };
    const char *type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(et__qusage, stdout); return 0; }
        else if (!strcmp(a, "--type") && val) { type = val; if ((o.type = et__wtype("quantize", a, val)) == ET_TYPE_COUNT) return 2; i++; }
        else if (!strcmp(a, "--embeddings") && val) {
            if ((o.emb_type = et__wtype("quantize", a, val)) == ET_TYPE_COUNT) return 2;
            i++;
        } else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--strict")) o.fallback = false;
        else if (a[0] != '-' && npos < 2) pos[npos++] = a;
        else { fprintf(stderr, "edgetune quantize: unknown or incomplete argument '%s'\n%s", a, et__qusage); return 2; }
    }
    if (npos != 2 || !type) {
        fprintf(stderr, "edgetune quantize: IN, OUT and --type are required\n%s", et__qusage);
        return 2;
    }
    return et__run("quantize", pos[0], pos[1], &o, quiet);
}

