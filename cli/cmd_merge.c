/* `edgetune merge --model M.gguf --adapter A --out MERGED.gguf [--type T]`: fold a LoRA or IA3
 * adapter in any format `edgetune adapter` reads (models/adapter_io.h) into the base model
 * and write the whole model (metadata and tokenizer copied) with et_adapter_merge_gguf. */
#include <stdio.h>
#include <string.h>
#include "adapter_io.h"
#include "cli.h"
#include "cli_base.h"
#include "llama_gguf.h"

static const char *et__musage =
    "usage: edgetune merge --model M.gguf --adapter A --out MERGED.gguf [--type T]\n"
    "  folds a LoRA (W += alpha/r * B*A) or IA3 adapter (any format edgetune adapter reads) into the\n"
    "  base and writes a complete model; merged weights keep the base tensor's type unless --type\n"
    "  (f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q6_k iq4_nl nf4) is given.\n";

int et_cmd_merge(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL, *type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(et__musage, stdout); return 0; }
        else if (!strcmp(a, "--model") && val) model = argv[++i];
        else if (!strcmp(a, "--adapter") && val) adapter = argv[++i];
        else if (!strcmp(a, "--out") && val) out = argv[++i];
        else if (!strcmp(a, "--type") && val) type = argv[++i];
        else { fprintf(stderr, "edgetune merge: unknown or incomplete option '%s'\n%s", a, et__musage); return 2; }
    }
    if (!model || !adapter || !out) {
        fprintf(stderr, "edgetune merge: --model, --adapter and --out are required\n%s", et__musage);
        return 2;
    }
    et_type t = ET_TYPE_COUNT;
    if (type) {
        t = et_type_from_name(type);
        if (t == ET_TYPE_COUNT || t == ET_I32 || t == ET_Q8_K) {
            fprintf(stderr, "edgetune merge: --type '%s' is not one of f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q6_k iq4_nl nf4\n",
                    type);
            return 2;
        }
    }
    et_cli_base b;
    if (et_cli_open_base("merge", model, &b)) { if (b.g) et_gguf_close(b.g); return 1; }
    char err[1024];
    et_adapter a;
    int rc = 1, n;
    if (et_adapter_load(adapter, &b.lay, &a, err, sizeof err)) {
        fprintf(stderr, "edgetune merge: %s\n", err);
    } else {
        if ((n = et_adapter_merge_gguf(&a, b.g, t, out, err, sizeof err)) < 0) fprintf(stderr, "edgetune merge: %s\n", err);
        else {
            printf("wrote %s: %d base tensors merged with %s (%s)\n", out, n, adapter, a.method);
            rc = 0;
        }
        et_adapter_free(&a);
    }
    et_gguf_close(b.g);
    return rc;
}
