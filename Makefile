# edgetune build.  `make` builds build/libedgetune.a and build/edgetune.
#
# Sources are discovered by directory, so adding a file never means editing this page:
#   kernels/*.c kernels/ref/*.c          portable code (ref is compiled -ffp-contract=off)
#   kernels/x86/*_avx2.c | *_avx512.c | *_amx.c   compiled with that ISA's flags; chosen at run time
#   kernels/arm/*.c                      aarch64 builds only
#   engine/*.c engine/*/*.c models/*.c bench/*.c bench/*/*.c    the library
#   cli/*.c                              the edgetune program
#   tests/test_*.c                       one test binary each (tests/run.sh runs them all)
#
# The baseline is x86-64-v3 (AVX2+FMA+F16C): the binary runs on any AVX2 machine and picks
# AVX-512 / VNNI / BF16 / AMX kernels at start-up from CPUID (kernels/dispatch.c).
# Cross build for aarch64:  make ARCH=aarch64   (gcc-aarch64-linux-gnu, runs under qemu-aarch64)
# The arm64 cJSON the edgetune program links comes from Debian's arm64 packages unpacked into
# ARM_SYSROOT (default build/aarch64-sysroot) by `make deps-test` (tools/deps.sh); run it with
#   qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=<ARM_SYSROOT>/usr/lib/aarch64-linux-gnu ...

ARCH    ?= $(shell uname -m)
BUILD   ?= build
ifeq ($(ARCH),aarch64)
  ifneq ($(shell uname -m),aarch64)
    CC    := aarch64-linux-gnu-gcc
    BUILD := build/aarch64
  endif
  MARCH   := -march=armv8-a
  ISA_DIR := arm
  BLAS    ?= 0
else
  CC      ?= gcc
  MARCH   := -march=x86-64-v3 -mtune=generic
  ISA_DIR := x86
  BLAS    ?= 1
endif

CFLAGS_BASE := -std=gnu11 -O2 -g $(MARCH) -fopenmp -Wall -Wextra -Wno-unused-parameter \
               -Werror=implicit-function-declaration -Iengine -Ikernels -Imodels -I. -D_GNU_SOURCE
CFLAGS  ?=
CFLAGS  += $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LDLIBS  := -fopenmp -lm -ldl -lcjson -lpthread
# Debian's cross compiler finds the arm64 cJSON in the sysroot (the Android build brings its own)
ifeq ($(ARCH)$(CC),aarch64aarch64-linux-gnu-gcc)
  ARM_SYSROOT ?= build/aarch64-sysroot
  CFLAGS      += -I$(ARM_SYSROOT)/usr/include
  LDLIBS      := -L$(ARM_SYSROOT)/usr/lib/aarch64-linux-gnu $(LDLIBS)
endif

ifeq ($(BLAS),1)
  BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
  CFLAGS   += -DET_HAVE_BLAS=1 -I/usr/include/x86_64-linux-gnu/openblas-openmp
  LDLIBS   := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(LDLIBS)
endif

ISA_FLAGS_avx2   := -mavx2 -mfma -mf16c
ISA_FLAGS_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mfma -mf16c
ISA_FLAGS_amx    := $(ISA_FLAGS_avx512) -mamx-tile -mamx-bf16

LIB_SRC := $(wildcard kernels/*.c kernels/ref/*.c kernels/$(ISA_DIR)/*.c \
                      engine/*.c engine/*/*.c models/*.c bench/*.c bench/*/*.c)
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC:= $(wildcard tests/test_*.c)
HDRS    := $(wildcard kernels/*.h kernels/*/*.h engine/*.h engine/*/*.h models/*.h bench/*.h bench/*/*.h tests/*.h) \
           $(wildcard engine/*.def cli/*.def cli/*.h)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all lib test-bins test asan fuzz bench clean deps deps-test deps-study venv help
all: $(BUILD)/libedgetune.a $(BUILD)/edgetune

$(BUILD)/obj/kernels/ref/%.o: kernels/ref/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -ffp-contract=off -c $< -o $@
$(BUILD)/obj/kernels/x86/%_avx2.o: kernels/x86/%_avx2.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS_avx2) -c $< -o $@
$(BUILD)/obj/kernels/x86/%_avx512.o: kernels/x86/%_avx512.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS_avx512) -c $< -o $@
$(BUILD)/obj/kernels/x86/%_amx.o: kernels/x86/%_amx.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS_amx) -c $< -o $@
$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libedgetune.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/edgetune: $(CLI_OBJ) $(BUILD)/libedgetune.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libedgetune.a $(LDLIBS)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libedgetune.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libedgetune.a $(LDLIBS)

lib: $(BUILD)/libedgetune.a
test-bins: $(TESTS) $(BUILD)/edgetune

# The README's test command.  Every test binary and Python oracle test runs; the last line
# is "N passed, N failed" and the exit status is non-zero on any failure.
test: test-bins venv
	@BUILD=$(BUILD) tests/run.sh

# C tests under AddressSanitizer + UBSan, in their own build tree, then every fuzz seed and
# regression input through the fuzz targets (clang, ASan + UBSan; tools/fuzz.mk).
asan:
	$(MAKE) BUILD=build/asan EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1" test-bins
	@BUILD=build/asan ET_TEST_ONLY_C=1 ASAN_OPTIONS=detect_leaks=1 tests/run.sh
	$(MAKE) fuzz-regress

# A project-local venv over Debian's python (torch 1.13, numpy 1.x) for the PyPI test oracles.
VENV := build/venv
venv: $(VENV)/.done
$(VENV)/.done: tools/requirements-test.txt
	@mkdir -p build
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --no-input -c tools/constraints.txt -r tools/requirements-test.txt
	@touch $@

deps: deps-test deps-study
deps-test:
	@tools/deps.sh test
deps-study:
	@tools/deps.sh study

clean:
	rm -rf build

# Feature fragments (fuzz, shaders, data, bench ...) add their own targets here.
-include $(wildcard tools/*.mk)
