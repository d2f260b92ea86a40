# `make check-real`: checks against llama.cpp itself, through the PyPI llama-cpp-python package
# (which compiles llama.cpp from source).  Not part of `make test`; each part prints a notice
# and succeeds when llama-cpp-python is not installed.  Other parts add themselves as
# prerequisites of check-real.
#
#   make venv-lcpp          build/venv-lcpp: Debian's python + llama-cpp-python + gguf
#                           (about 10-15 minutes of compiling on 2 cores)
#   make check-real-adapter an adapter exported by `edgetune adapter export --format gguf` loads
#                           in llama.cpp (--lora) and moves its logits as `edgetune merge` predicts
#                           (tools/check_adapter_llamacpp.py)
#   make check-real-gemma   a real pretrained model (Gemma 3 270M, downloaded by `make real-model`)
#                           end to end, and its logits and speed against llama.cpp's
#                           (tools/real_model.mk)

LCPP_VENV    ?= build/venv-lcpp
LCPP_VERSION ?= 0.3.36
LCPP_PY      := $(if $(wildcard $(LCPP_VENV)/bin/python),$(LCPP_VENV)/bin/python,/usr/bin/python3)

.PHONY: check-real check-real-adapter venv-lcpp
check-real: check-real-adapter

check-real-adapter: $(BUILD)/edgetune
	@$(LCPP_PY) tools/check_adapter_llamacpp.py $(BUILD)/edgetune $(BUILD)/check-real/adapter

venv-lcpp: $(LCPP_VENV)/.done
$(LCPP_VENV)/.done:
	/usr/bin/python3 -m venv --system-site-packages $(LCPP_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF" \
	    nice $(LCPP_VENV)/bin/pip install -q --no-input -c tools/constraints.txt llama-cpp-python==$(LCPP_VERSION) gguf==0.17.1
	@touch $@

# make check-real-models: edgetune's built-in base models (`make models`) load in llama.cpp,
# tokenize as edgetune does, give edgetune's logits and generate (tools/check_models_llamacpp.py)
.PHONY: check-real-models
check-real: check-real-models
check-real-models: models $(BUILD)/tools/real_logits
	@$(LCPP_PY) tools/check_models_llamacpp.py $(BUILD)/tools/real_logits build/models build/corpus $(BUILD)/check-real/models
