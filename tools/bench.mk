# Benchmarks.  `make bench` runs each recipe line below in turn; results go to build/bench/.
#   kernels   edgetune bench kernels --json  (bench/bench_kernels.c)   -> build/bench/kernels.jsonl
# Add a benchmark by adding a line to BENCH_RECIPES's list (one shell command each).
BENCH_DIR := build/bench
BENCH_RECIPES := \
	$(BUILD)/edgetune bench kernels --json --out $(BENCH_DIR)/kernels.jsonl

.PHONY: bench
bench: $(BUILD)/edgetune
	@mkdir -p $(BENCH_DIR)
	@set -e; $(foreach r,$(BENCH_RECIPES),echo '$(r)'; $(r);)

# The benchmark records how it was built (provenance line).
$(BUILD)/obj/bench/bench_kernels.o: CFLAGS += -DET_BUILD_FLAGS='"$(strip $(MARCH)) -O2 -fopenmp$(if $(filter 1,$(BLAS)), openblas)"'
