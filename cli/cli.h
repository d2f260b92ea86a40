/* Shared helpers for the thin command-line front end. */
#ifndef ET_CLI_H
#define ET_CLI_H

#define ET_CMD(name, fn, help) int fn(int argc, char **argv);
#include "commands.def"
#undef ET_CMD

#define ET_VERSION "0.1.0"

#endif
