# `make models`: edgetune's own base models, built from the corpus (`make corpus`) on this
# machine and cached: each target is rebuilt only when its file is missing.
#   build/models/tokenizer.etok   byte-level BPE (Llama 3 pre-tokenizer), 4096 tokens
#   build/models/{tiny,small,medium}.gguf   Llama architecture, ~0.30M / ~1.2M / ~3.1M
#                                 non-embedding parameters; a fixed step count each (sized
#                                 for ~3 / 10 / 30 minutes here, models/pretrain.c), context 1024
#   build/models/<name>.log       the training curve (step, loss, lr, tokens/s), both phases
#   build/models/<name>.sample.txt  a greedy continuation of MODELS_SAMPLE_PROMPT
# The last step (tools/models_check.sh) prints every model's held-out perplexity and sample
# and fails unless the perplexity falls strictly tiny > small > medium.
MODELS_DIR := build/models
MODEL_NAMES := tiny small medium
MODELS_SAMPLE_PROMPT := Once upon a time, the
.PHONY: models
models: $(MODEL_NAMES:%=$(MODELS_DIR)/%.gguf) $(MODEL_NAMES:%=$(MODELS_DIR)/%.sample.txt)
	tools/models_check.sh $(BUILD)/edgetune $(MODELS_DIR) $(MODEL_NAMES)

$(MODELS_DIR)/tokenizer.etok: | $(BUILD)/edgetune
	$(MAKE) corpus
	@mkdir -p $(MODELS_DIR)
	$(BUILD)/edgetune tokenizer train --text build/corpus/train.txt --vocab-size 4096 --pretok llama3 --out $@

$(MODELS_DIR)/%.gguf: | $(MODELS_DIR)/tokenizer.etok $(BUILD)/edgetune
	nice $(BUILD)/edgetune pretrain --corpus build/corpus --tokenizer $(MODELS_DIR)/tokenizer.etok \
	    --preset $* --out $@ --log $(MODELS_DIR)/$*.log

$(MODELS_DIR)/%.sample.txt: $(MODELS_DIR)/%.gguf | $(BUILD)/edgetune
	{ printf '%s' "$(MODELS_SAMPLE_PROMPT)"; $(BUILD)/edgetune generate --model $< \
	    --prompt "$(MODELS_SAMPLE_PROMPT)" --max-new 48; } > $@.tmp
	mv $@.tmp $@
