# Study tasks and pretraining corpus (tools/data/README.md).  Set-up tooling in Python
# (/usr/bin/python3, standard library only); nothing of the engine is built or needed.
#   make data     build/data/    the four LaMP-style tasks + manifest.json
#   make corpus   build/corpus/  pretraining corpus + contamination.json (needs build/data)
# Both rebuild only when their manifest is missing (delete it to force a rebuild), and both
# are deterministic for the same installed packages and apt lists.
.PHONY: data corpus
DATA_DIR   := build/data
CORPUS_DIR := build/corpus

data: $(DATA_DIR)/manifest.json
$(DATA_DIR)/manifest.json:
	@tools/deps.sh study
	/usr/bin/python3 tools/data/build_data.py --out $(DATA_DIR) --lists build/data-work/apt-lists

corpus: $(CORPUS_DIR)/manifest.json
$(CORPUS_DIR)/manifest.json: | $(DATA_DIR)/manifest.json
	@tools/deps.sh study
	nice /usr/bin/python3 tools/data/corpus.py --data $(DATA_DIR) --out $(CORPUS_DIR)
