# Tokenizer tooling.  `make unicode-tables` regenerates engine/tok/unicode_tables.c from Debian's
# unicode-data (tools/gen_unicode.py; deterministic, tests/py/test_tok_unicode.py checks it).
.PHONY: unicode-tables
unicode-tables:
	/usr/bin/python3 tools/gen_unicode.py > engine/tok/unicode_tables.c.tmp
	mv engine/tok/unicode_tables.c.tmp engine/tok/unicode_tables.c
