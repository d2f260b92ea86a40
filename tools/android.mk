# Android cross-build: `make android ANDROID_NDK=/path/to/android-ndk-r26d CJSON_SRC=/path/to/cJSON`
# builds build/android-arm64/edgetune for arm64-v8a phones (README: "Running on an Android
# phone").  The same sources and rules as every build (the Makefile, re-entered with ARCH=aarch64),
# with:
#   CC       the NDK's clang, --target=aarch64-linux-android$(ANDROID_API) (default 24: Android 7)
#   kernels  kernels/arm (NEON, with dot-product and i8mm paths chosen at run time from
#            getauxval(AT_HWCAP)); BLAS=0, so matrix products use the engine's own GEMM
#   OpenMP   the NDK's libomp, linked statically (-static-openmp): nothing extra to push
#   Vulkan   not linked: libvulkan.so is opened at run time (engine/vulkan/vk_loader.c), so the
#            binary also runs, on the CPU, on a phone without a Vulkan driver
#   cJSON    Android has no libcjson: cJSON.c and cJSON.h from CJSON_SRC (a cJSON 1.7 source
#            tree, e.g. `apt-get source cjson` or github.com/DaveGamble/cJSON) are compiled in
#   libc     tools/android_compat.h is force-included: aligned_alloc and glob (bionic API 28)
#            and qsort_r (not in bionic) over what API 24 has
# The NDK's clang must be 17 or newer (NDK r26+): the NEON kernels' per-function
# target("arch=armv8.2-a+dotprod") attributes need it.  Nothing here runs without an NDK;
# the tested stand-in for the ARM code is `make ARCH=aarch64` under qemu (tests/test_arm.sh),
# and tests/test_android_mk.sh checks this file's errors and the commands it would run.

ANDROID_NDK   ?=
ANDROID_API   ?= 24
ANDROID_HOST  ?= linux-x86_64
ANDROID_BUILD ?= build/android-arm64
CJSON_SRC     ?=
ANDROID_CLANG  = $(ANDROID_NDK)/toolchains/llvm/prebuilt/$(ANDROID_HOST)/bin/clang
ANDROID_CC     = $(ANDROID_CLANG) --target=aarch64-linux-android$(ANDROID_API)

.PHONY: android
android:
	@if [ -z "$(ANDROID_NDK)" ]; then \
	    echo "make android: set ANDROID_NDK to an Android NDK (r26 or newer), e.g. make android ANDROID_NDK=\$$HOME/android-ndk-r26d CJSON_SRC=..." >&2; exit 2; fi
	@if [ ! -x "$(ANDROID_CLANG)" ]; then \
	    echo "make android: ANDROID_NDK=$(ANDROID_NDK) is not an NDK: no $(ANDROID_CLANG) (ANDROID_HOST=$(ANDROID_HOST))" >&2; exit 2; fi
	@v=$$("$(ANDROID_CLANG)" -dumpversion 2>/dev/null | cut -d. -f1); \
	 if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
	    echo "make android: $(ANDROID_CLANG) is clang '$$v'; the NEON kernels need clang 17 or newer (NDK r26+)" >&2; exit 2; fi
	@if [ -z "$(CJSON_SRC)" ] || [ ! -f "$(CJSON_SRC)/cJSON.c" ] || [ ! -f "$(CJSON_SRC)/cJSON.h" ]; then \
	    echo "make android: CJSON_SRC='$(CJSON_SRC)' must be a directory with cJSON.c and cJSON.h (Android has no libcjson; apt-get source cjson, or github.com/DaveGamble/cJSON)" >&2; exit 2; fi
	@mkdir -p $(ANDROID_BUILD)/include/cjson $(ANDROID_BUILD)/obj
	cp "$(CJSON_SRC)/cJSON.h" $(ANDROID_BUILD)/include/cjson/cJSON.h
	$(ANDROID_CC) -std=gnu11 -O2 -fPIC -c "$(CJSON_SRC)/cJSON.c" -o $(ANDROID_BUILD)/obj/cJSON.o
	$(MAKE) ARCH=aarch64 BLAS=0 BUILD=$(ANDROID_BUILD) CC="$(ANDROID_CC)" \
	    EXTRA_CFLAGS="-include tools/android_compat.h -I$(ANDROID_BUILD)/include" \
	    LDLIBS="$(ANDROID_BUILD)/obj/cJSON.o -fopenmp -static-openmp -lm -ldl" \
	    $(ANDROID_BUILD)/edgetune
	@echo "built $(ANDROID_BUILD)/edgetune for arm64-v8a (API $(ANDROID_API)): adb push $(ANDROID_BUILD)/edgetune /data/local/tmp/"
