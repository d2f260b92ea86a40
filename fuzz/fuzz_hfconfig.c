/* libFuzzer target for the Hugging Face config.json parser (engine/io/hfconfig.c): any text
 * parses into a consistent struct or fails with a message naming the input; no crash, no
 * out-of-bounds read, no undefined behaviour.  Seeds: real configs in fuzz/corpus/hfconfig. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "io/hfconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    et_hf_config c;
    if (et_hf_config_parse((const char *)data, size, "fuzz", &c, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0) abort();
        return 0;
    }
    /* What the parser promises about an accepted config. */
    if (c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads || c.head_dim < 1 ||
        c.vocab_size < 1 || c.hidden_size < 1 || !(c.rms_eps > 0) || !(c.rope_theta > 0))
        abort();
    return 0;
}
