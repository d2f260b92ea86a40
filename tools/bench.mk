# Benchmarks.  `make bench` runs every benchmark named in BENCH_LIST, in order; results go to
# build/bench/.  Add one from your own tools/<name>.mk:
#     BENCH_LIST += mine
#     BENCH_CMD_mine = $(BUILD)/edgetune bench mine --json --out $(BENCH_DIR)/mine.jsonl
#     bench: <its other prerequisites, if any>
#   kernels   edgetune bench kernels --json  (bench/bench_kernels.c)   -> build/bench/kernels.jsonl
BENCH_DIR  := build/bench
BENCH_LIST += kernels
BENCH_CMD_kernels = $(BUILD)/edgetune bench kernels --json --out $(BENCH_DIR)/kernels.jsonl
#   decode    edgetune bench decode --json   (bench/bench_decode.c: a SmolLM-135M-shaped random q8_0
#             model it writes itself; pp128, tg64, TTFT, cold/warm load, 60 s sustained) -> decode.jsonl
BENCH_LIST += decode
BENCH_CMD_decode = $(BUILD)/edgetune bench decode --json --out $(BENCH_DIR)/decode.jsonl

.PHONY: bench
bench: $(BUILD)/edgetune
	@mkdir -p $(BENCH_DIR)
	@set -e; $(foreach b,$(BENCH_LIST),echo '$(BENCH_CMD_$(b))'; $(BENCH_CMD_$(b));)

# The benchmark records how it was built (provenance line).
$(BUILD)/obj/bench/bench_kernels.o: CFLAGS += -DET_BUILD_FLAGS='"$(strip $(MARCH)) -O2 -fopenmp$(if $(filter 1,$(BLAS)), openblas)"'
