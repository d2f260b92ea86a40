# The personalization study (issue 8; bench/study/README.md).
#   make study        quick profile into build/study/ (report.md + figures); reruns skip
#                     finished cells
#   make study-full   the designed full profile into build/study-full/
#   make study-plan   print the quick plan's cells and estimated hours
# The runner calls the model contract (models/lm.h).  It is compiled in only when
# models/*.c define every et_lm function it uses, so the library links in every state of
# the tree; run.o is rebuilt whenever a models/lm*.c changes.

STUDY_LM_FUNCS := et_lm_load et_lm_free et_lm_count_tokens et_lm_score et_lm_generate \
                  et_lm_finetune et_lm_reset_adapter et_lm_score_cost et_lm_generate_cost \
                  et_lm_weight_types
STUDY_LP := (
STUDY_LM_FOUND := $(foreach f,$(STUDY_LM_FUNCS),$(if $(shell grep -s -l -E '^(int|void)[[:space:]]+$(f)[$(STUDY_LP)]' models/*.c),$(f)))
ifeq ($(words $(STUDY_LM_FOUND)),$(words $(STUDY_LM_FUNCS)))
  CFLAGS += -DET_STUDY_HAVE_LM=1
endif
$(BUILD)/obj/bench/study/run.o: $(wildcard models/lm*.c models/lm*.h)

.PHONY: study study-full study-plan
# The default study runs on the built-in base models (`make models`, cached).
study: $(BUILD)/edgetune data models
	$(BUILD)/edgetune study --profile quick --out build/study $(STUDY_ARGS)
study-full: $(BUILD)/edgetune data models
	$(BUILD)/edgetune study --profile full --out build/study-full $(STUDY_ARGS)
study-plan: $(BUILD)/edgetune data
	$(BUILD)/edgetune study --plan --profile quick $(STUDY_ARGS)
