# Vulkan shaders: every variant in shaders/variants.txt is compiled with glslc to SPIR-V and
# embedded as C arrays into $(BUILD)/gen/shaders_spv.c, whose object joins libedgetune.a (an
# extra prerequisite of the archive: the Makefile's `ar rcs $@ $^` picks it up).
#   make shaders        just (re)generate the embedded SPIR-V
#   make spirv-val      validate every variant with spirv-val
SHADER_DEPS := $(wildcard shaders/*.comp shaders/*.glsl) shaders/variants.txt tools/embed_spv.sh
SHADER_GEN  := $(BUILD)/gen/shaders_spv.c
SHADER_OBJ  := $(BUILD)/obj/gen/shaders_spv.o

$(SHADER_GEN): $(SHADER_DEPS)
	@mkdir -p $(dir $@)
	tools/embed_spv.sh shaders/variants.txt $(BUILD)/gen/spv $@
$(SHADER_OBJ): $(SHADER_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/libedgetune.a: $(SHADER_OBJ)

.PHONY: shaders spirv-val
shaders: $(SHADER_GEN)
spirv-val: $(SHADER_GEN)
	@for f in $(BUILD)/gen/spv/*.spv; do spirv-val --target-env vulkan1.1 $$f || exit 1; done; \
	 echo "spirv-val: all variants valid"
