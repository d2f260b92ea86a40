/* `edgetune adapter export|import|info`: move adapters between edgetune's format, llama.cpp's
 * format, llama.cpp's GGUF LoRA and PEFT (models/adapter_io.h), and fold one into a base model.
 *
 *   edgetune adapter export --model M.gguf --adapter A --format gguf|peft --out PATH [--f16]
 *   edgetune adapter import --model M.gguf --adapter PATH --out A.gguf
 *   edgetune adapter info   --adapter A [--model M.gguf]
 *   edgetune merge --model M.gguf --adapter A --out MERGED.gguf [--type T]
 * A may be any of the three formats (a PEFT directory or its adapter_model.safetensors).  The
 * base model supplies the architecture (written into GGUF adapters; llama.cpp checks it) and
 * the head layout PEFT's q/k rows are permuted by. */
#include <stdio.h>
#include <string.h>
#include "adapter_io.h"
#include "cli.h"
#include "cli_base.h"
#include "llama_gguf.h"

static const char *et__ausage =
    "usage: edgetune adapter export --model M.gguf --adapter A --format gguf|peft --out PATH [--f16]\n"
    "       edgetune adapter import --model M.gguf --adapter PATH --out A.gguf\n"
    "       edgetune adapter info   --adapter A [--model M.gguf]\n"
    "  A / PATH: edgetune's adapter GGUF (edgetune finetune --out), a llama.cpp LoRA GGUF, or a PEFT\n"
    "  directory (adapter_model.safetensors + adapter_config.json).  export --format gguf writes the\n"
    "  layout llama.cpp's --lora loads (f32, or f16 with --f16); --format peft writes a PEFT directory.\n";

static void et__print_info(const char *path, const et_adapter *a) {
    const char *kind = a->kind == ET_ADAPTER_IO_LORA ? "lora" : a->kind == ET_ADAPTER_IO_IA3 ? "ia3" : "prompt";
    printf("%s: %s adapter (trained as %s, base %s), %lld tensors", path, kind, a->method, a->base_type,
           (long long)a->n);
    if (a->kind == ET_ADAPTER_IO_LORA) {
        printf(", rank %d, alpha %g (scale %g), modules", a->rank, a->alpha, a->alpha / (float)a->rank);
        for (int m = 0; m < 7; m++)
            if (a->targets & (1u << m)) printf(" %s", et_adapter_module_names[m]);
    }
    if (a->kind == ET_ADAPTER_IO_PROMPT) printf(", %d virtual tokens", a->n_prompt);
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++) n += a->t[i].ne[0] * a->t[i].ne[1];
    printf(", %lld parameters\n", (long long)n);
}

int et_cmd_adapter(int argc, char **argv) {
    const char *sub = argc > 1 ? argv[1] : "", *model = NULL, *adapter = NULL, *format = NULL, *out = NULL;
    bool f16 = false;
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) { fputs(et__ausage, stdout); return 0; }
    if (strcmp(sub, "export") && strcmp(sub, "import") && strcmp(sub, "info")) {
        fprintf(stderr, "edgetune adapter: unknown subcommand '%s'\n%s", sub, et__ausage);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && val) model = argv[++i];
        else if (!strcmp(a, "--adapter") && val) adapter = argv[++i];
        else if (!strcmp(a, "--format") && val) format = argv[++i];
        else if (!strcmp(a, "--out") && val) out = argv[++i];
        else if (!strcmp(a, "--f16")) f16 = true;
        else { fprintf(stderr, "edgetune adapter: unknown or incomplete option '%s'\n%s", a, et__ausage); return 2; }
    }
    bool exp = !strcmp(sub, "export"), info = !strcmp(sub, "info");
    if (!adapter || (!info && (!model || !out)) || (exp && !format)) {
        fprintf(stderr, "edgetune adapter %s: --adapter%s are required\n%s", sub,
                info ? "" : exp ? ", --model, --format and --out" : ", --model and --out", et__ausage);
        return 2;
    }
    if (exp && strcmp(format, "gguf") && strcmp(format, "peft")) {
        fprintf(stderr, "edgetune adapter export: --format '%s' is not gguf or peft\n", format);
        return 2;
    }
    et_cli_base b = {0};
    if (model && et_cli_open_base("adapter", model, &b)) { if (b.g) et_gguf_close(b.g); return 1; }
    char err[1024];
    et_adapter a;
    int rc = 1;
    if (et_adapter_load(adapter, model ? &b.lay : NULL, &a, err, sizeof err)) {
        fprintf(stderr, "edgetune adapter %s: %s\n", sub, err);
        goto done;
    }
    if (info) { et__print_info(adapter, &a); rc = 0; }
    else if (!exp) rc = et_adapter_save(&a, b.arch, out, err, sizeof err) ? 1 : 0;
    else if (!strcmp(format, "gguf")) rc = et_adapter_export_llamacpp(&a, b.arch, f16 ? ET_F16 : ET_F32, out, err, sizeof err) ? 1 : 0;
    else rc = et_adapter_export_peft(&a, &b.lay, b.name[0] ? b.name : NULL, out, err, sizeof err) ? 1 : 0;
    if (rc) fprintf(stderr, "edgetune adapter %s: %s\n", sub, err);
    else if (!info) {
        printf("wrote %s (%s): ", out, exp ? format : "edgetune adapter");
        et__print_info(adapter, &a);
    }
    et_adapter_free(&a);
done:
    if (b.g) et_gguf_close(b.g);
    return rc;
}
