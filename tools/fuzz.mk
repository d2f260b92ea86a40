# libFuzzer targets for the file readers (fuzz/fuzz_<name>.c: gguf, safetensors, hfconfig
# (config.json), tokenizer (ETOK / tokenizer.json), tok_gguf (a vocabulary in GGUF metadata),
# adapter (GGUF / PEFT adapters), task (the study's JSON task files and results.jsonl)),
# built with Debian's clang and -fsanitize=fuzzer,address,undefined.  Each target links only
# the readers it needs (not the whole library), so it builds while unrelated code is mid-change.
#
#   make fuzz           each target for FUZZ_TIME seconds (default 60)
#   make fuzz-ci        each target for 15 s (one per fuzz/fuzz_*.c; the run prints how many)
#   make fuzz-regress   every seed (fuzz/corpus/<name>/) and every kept crash
#                       (fuzz/regress/<name>/, listed in fuzz/regress/README.md) once through
#                       its target; fails on any finding
#
# New inputs found while fuzzing go to build/fuzz/corpus/<name>/ (not committed); crashes
# are written as build/fuzz/crash-<name>-*.  Fix the bug, then keep the input as
# fuzz/regress/<name>/<short-description> so fuzz-regress replays it forever.

FUZZ_BUILD   ?= build/fuzz
FUZZ_TIME    ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -Iengine -Ikernels -I. -D_GNU_SOURCE
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
# What each target links: the readers it exercises and what they need (the dtype table and
# its reference converters), not the whole library.  FUZZ_SRC_<name> overrides the default.
FUZZ_SRC_IO  := engine/io/gguf.c engine/io/gguf_util.c engine/io/gguf_write.c \
                engine/io/fileio.c engine/io/safetensors.c engine/io/hfconfig.c \
                kernels/dtype.c $(wildcard kernels/ref/*.c)
FUZZ_SRC_tokenizer := $(FUZZ_SRC_IO) $(wildcard engine/tok/*.c)
FUZZ_SRC_tok_gguf  := $(FUZZ_SRC_tokenizer)
FUZZ_SRC_task      := bench/study/task.c bench/study/results.c engine/metrics.c
fuzz_src = $(or $(FUZZ_SRC_$(1)),$(FUZZ_SRC_IO))
FUZZ_RUN_OPTS := -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1

.PHONY: fuzz fuzz-ci fuzz-regress fuzz-bins
fuzz-bins: $(FUZZ_BINS)

define ET_FUZZ_RULE
$(FUZZ_BUILD)/fuzz_$(1): fuzz/fuzz_$(1).c $(call fuzz_src,$(1)) $(wildcard fuzz/*.h) $(HDRS)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ $$< $(call fuzz_src,$(1)) -lcjson -lm
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call ET_FUZZ_RULE,$(n))))

fuzz: $(FUZZ_BINS)
	@echo "fuzz: $(words $(FUZZ_NAMES)) targets ($(FUZZ_NAMES)), $(FUZZ_TIME) s each"
	@set -e; for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "== fuzz_$$n for $(FUZZ_TIME) s"; \
	    if $(FUZZ_BUILD)/fuzz_$$n $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_TIME) \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- \
	        $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n >$(FUZZ_BUILD)/fuzz-$$n.log 2>&1; then \
	        grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' $(FUZZ_BUILD)/fuzz-$$n.log; \
	    else tail -40 $(FUZZ_BUILD)/fuzz-$$n.log; \
	        echo "fuzz_$$n: FAILED (input in $(FUZZ_BUILD)/crash-$$n-*, log $(FUZZ_BUILD)/fuzz-$$n.log)"; exit 1; fi; \
	done; echo "fuzz: no findings"

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=15

fuzz-regress: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	    dirs=""; for d in fuzz/corpus/$$n fuzz/regress/$$n; do \
	        if [ -d $$d ] && [ -n "$$(ls -A $$d)" ]; then dirs="$$dirs $$d"; fi; done; \
	    [ -n "$$dirs" ] || continue; \
	    if $(FUZZ_BUILD)/fuzz_$$n -runs=0 $$dirs >$(FUZZ_BUILD)/regress-$$n.log 2>&1; then \
	        echo "PASS fuzz-regress $$n ($$(cat $$(for d in $$dirs; do ls -d $$d/*; done) /dev/null | wc -c) bytes of inputs)"; \
	    else echo "FAIL fuzz-regress $$n (see $(FUZZ_BUILD)/regress-$$n.log)"; tail -20 $(FUZZ_BUILD)/regress-$$n.log; exit 1; fi; \
	done
