# Adapters and compression (models/adapter_io.c, models/compress.c): the fuzz target's sources.
# fuzz/fuzz_adapter.c exercises only the format readers, which need the GGUF and safetensors
# readers, the dtype table and cJSON — not the rest of the library.
FUZZ_SRC_adapter = $(FUZZ_SRC_IO) models/adapter_io.c
