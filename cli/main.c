/* edgetune: the command-line program.  Thin by design: it parses arguments and calls library
 * functions.  Subcommands are rows of cli/commands.def. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "kernels.h"

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } et_cmd;

static const et_cmd et__cmds[] = {
#define ET_CMD(name, fn, help) { name, fn, help },
#include "commands.def"
#undef ET_CMD
};

static void et__usage(FILE *f) {
    fprintf(f, "usage: edgetune <command> [options]   (edgetune <command> --help for more)\n\n");
    for (size_t i = 0; i < sizeof et__cmds / sizeof et__cmds[0]; i++)
        fprintf(f, "  %-14s %s\n", et__cmds[i].name, et__cmds[i].help);
}

int et_cmd_version(int argc, char **argv) {
    printf("edgetune %s\nkernel path: %s (best on this CPU: %s)\n", ET_VERSION,
           et_isa_name(et_kern_isa()), et_isa_name(et_kern_isa_best()));
#ifdef ET_HAVE_BLAS
    printf("blas: OpenBLAS (OpenMP)\n");
#else
    printf("blas: none (engine GEMM)\n");
#endif
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        et__usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof et__cmds / sizeof et__cmds[0]; i++)
        if (!strcmp(argv[1], et__cmds[i].name)) return et__cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "edgetune: unknown command '%s'\n\n", argv[1]);
    et__usage(stderr);
    return 2;
}
