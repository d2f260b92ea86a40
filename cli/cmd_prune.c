/* `edgetune prune IN.gguf OUT.gguf (--sparsity P% | --2:4)`: magnitude pruning of a GGUF
 * model's linear layers (models/compress.h).  Prints the sparsity achieved per tensor, as
 * measured on the written weights, and over all pruned tensors. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "compress.h"

static void et__print_tensor(void *ctx, const et_compress_stat *s) {
    if (s->changed)
        printf("  %-32s %-6s sparsity %7.3f%% (%lld of %lld zero)\n", s->name, et_type_get(s->to)->name,
               100.0 * (double)s->zeros / (double)s->n, (long long)s->zeros, (long long)s->n);
}

static const char *et__pusage =
    "usage: edgetune prune IN.gguf OUT.gguf (--sparsity P% | --2:4) [--quiet]\n"
    "  magnitude pruning of the linear layers' weights, per tensor: --sparsity 50% zeroes exactly\n"
    "  that fraction (smallest |w|); --2:4 zeroes the 2 smallest of every 4 consecutive weights of a row.\n"
    "  Each tensor keeps its type; the sparsity reported is measured on the written weights.\n";

int et_cmd_prune(int argc, char **argv) {
    const char *pos[2] = {0};
    int npos = 0;
    bool quiet = false;
    et_compress_opts o = { .type = ET_TYPE_COUNT, .emb_type = ET_TYPE_COUNT };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(et__pusage, stdout); return 0; }
        else if (!strcmp(a, "--sparsity") && val && !o.prune) o.prune = argv[++i];
        else if (!strcmp(a, "--2:4") && !o.prune) o.prune = "2:4";
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] != '-' && npos < 2) pos[npos++] = a;
        else { fprintf(stderr, "edgetune prune: unknown, repeated or incomplete argument '%s'\n%s", a, et__pusage); return 2; }
    }
    char err[1024];
    if (npos != 2 || !o.prune) {
        fprintf(stderr, "edgetune prune: IN, OUT and one of --sparsity P%% / --2:4 are required\n%s", et__pusage);
        return 2;
    }
    if (et_prune_parse(o.prune, err, sizeof err) < 0) { fprintf(stderr, "edgetune prune: %s\n", err); return 2; }
    o.on_tensor = quiet ? NULL : et__print_tensor;
    et_compress_report r;
    if (et_gguf_compress(pos[0], pos[1], &o, &r, err, sizeof err)) {
        fprintf(stderr, "edgetune prune: %s\n", err);
        return 1;
    }
    printf("%s: %lld tensors pruned (%s); overall sparsity %.4f%% (%lld of %lld weights zero)\n", pos[1],
           (long long)r.n_changed, o.prune, r.pruned_n ? 100.0 * (double)r.pruned_zeros / (double)r.pruned_n : 0.0,
           (long long)r.pruned_zeros, (long long)r.pruned_n);
    return 0;
}
