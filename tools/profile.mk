# Profiling (engine/profile.h, `edgetune profile`).
#   make profile    a LoRA training step of the bench config profiled into build/profile/:
#                   table on stdout, profile.jsonl, trace.json (Perfetto / chrome://tracing),
#                   roofline.png (ceilings from build/bench/kernels.jsonl: run `make bench`
#                   first, else the roofline has points but no ceilings), memory.png.
#   PROFILE_ARGS    extra options, e.g. PROFILE_ARGS="--method qlora --recompute --steps 5"
PROFILE_ARGS ?=
.PHONY: profile
profile: $(BUILD)/edgetune
	$(BUILD)/edgetune profile --config bench --out build/profile $(PROFILE_ARGS)
