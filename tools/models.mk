# `make models`: edgetune's own base models, built from the corpus (`make corpus`) on this
# machine and cached: each target is rebuilt only when its file is missing.
#   build/models/tokenizer.etok   byte-level BPE (Llama 3 pre-tokenizer), 4096 tokens
#   build/models/{tiny,small,medium}.gguf   Llama architecture, ~0.2M / ~1.3M / ~3.5M
#                                 non-embedding parameters, 3 / 10 / 30 minutes of training
#   build/models/<name>.log       the training curve (step, loss, lr, tokens/s)
MODELS_DIR := build/models
MODEL_NAMES := tiny small medium
.PHONY: models
models: $(MODEL_NAMES:%=$(MODELS_DIR)/%.gguf)
	@for m in $(MODEL_NAMES); do printf '%-7s ' $$m; \
	  $(BUILD)/edgetune gguf dump $(MODELS_DIR)/$$m.gguf 2>/dev/null | grep -m1 'heldout_ppl' || echo; done

$(MODELS_DIR)/tokenizer.etok: | $(BUILD)/edgetune
	$(MAKE) corpus
	@mkdir -p $(MODELS_DIR)
	$(BUILD)/edgetune tokenizer train --text build/corpus/train.txt --vocab-size 4096 --pretok llama3 --out $@

$(MODELS_DIR)/%.gguf: | $(MODELS_DIR)/tokenizer.etok $(BUILD)/edgetune
	nice $(BUILD)/edgetune pretrain --corpus build/corpus --tokenizer $(MODELS_DIR)/tokenizer.etok \
	    --preset $* --out $@ --log $(MODELS_DIR)/$*.log
