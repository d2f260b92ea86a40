# `make demo`: the end-to-end demo (README's first command until the study exists).
.PHONY: demo
demo: $(BUILD)/edgetune
	$(BUILD)/edgetune demo
