# Training benchmark (cli/cmd_bench_train.c): edgetune vs the PyTorch reference
# (tests/py/bench_train_torch.py), each configuration in its own process, same run.
#   make bench-train      -> build/bench/train.jsonl (JSON lines + "# " summary lines), ~5-15 min
.PHONY: bench-train
bench-train: $(BUILD)/edgetune
	@mkdir -p build/bench
	$(BUILD)/edgetune bench train --json --out build/bench/train.jsonl
	@cat build/bench/train.jsonl
# ... and part of `make bench` (after the kernels, whose measured limits it does not need)
BENCH_LIST += train
BENCH_CMD_train = $(BUILD)/edgetune bench train --json --out $(BENCH_DIR)/train.jsonl
