/* The base model behind `edgetune adapter` and `edgetune merge`: its GGUF handle, architecture,
 * name and the head layout PEFT's q/k rows are permuted by. */
#ifndef ET_CLI_BASE_H
#define ET_CLI_BASE_H

#include "adapter_io.h"
#include "io/gguf.h"

typedef struct et_cli_base {
    et_gguf *g;
    char arch[32];
    char name[128];
    et_adapter_layout lay;
} et_cli_base;

/* Open and describe a base model; on failure prints "edgetune <cmd>: <why>" and returns -1
 * (b->g may then be open: close it). */
int et_cli_open_base(const char *cmd, const char *path, et_cli_base *b);

#endif
