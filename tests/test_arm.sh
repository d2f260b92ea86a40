#!/bin/bash
# aarch64: cross-build the engine library with aarch64-linux-gnu-gcc (make ARCH=aarch64, into
# $BUILD_ARM, default build/aarch64) and run the kernel test binary under qemu-aarch64 twice:
# -cpu cortex-a53 (plain NEON: paths ref, neon) and -cpu max (dotprod + i8mm: ref, neon,
# neon-dotprod, neon-i8mm — the last the smmla kernel).  test_kernels compares every path it
# can run with the scalar references, with the tolerances it states (ET_KERNELS_SMALL=1:
# without its two largest shapes, as qemu is slow); its PASS/FAIL lines are passed through,
# prefixed by the CPU model.  tests/test_arm_cli.sh runs the whole program the same way.
# The test binary is linked here rather than by the Makefile's test rule so that the kernels
# are tested without the arm64 cJSON sysroot the program needs (they do not use it).
set -u
BUILD_ARM=${BUILD_ARM:-build/aarch64}
QEMU=qemu-aarch64
SYSROOT=/usr/aarch64-linux-gnu
CC=aarch64-linux-gnu-gcc
for tool in "$CC" "$QEMU"; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL arm_toolchain: $tool not found (make deps-test installs gcc-aarch64-linux-gnu, qemu-user)"
        exit 1
    fi
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if nice make -s ARCH=aarch64 BUILD="$BUILD_ARM" -j2 "$BUILD_ARM/libedgetune.a" >"$log" 2>&1; then
    echo "PASS arm_build_lib"
else
    echo "FAIL arm_build_lib: make ARCH=aarch64 failed: $(grep -m3 -E 'error' "$log" | tr '\n' ' ')"
    exit 1
fi
mkdir -p "$BUILD_ARM/tests"
if nice "$CC" -std=gnu11 -O2 -g -march=armv8-a -fopenmp -Wall -Wextra -Wno-unused-parameter \
        -Werror -D_GNU_SOURCE -Iengine -Ikernels -I. -Itests -o "$BUILD_ARM/tests/test_kernels" \
        tests/test_kernels.c "$BUILD_ARM/libedgetune.a" -fopenmp -lm >"$log" 2>&1; then
    echo "PASS arm_build_test"
else
    echo "FAIL arm_build_test: $(head -3 "$log" | tr '\n' ' ')"
    exit 1
fi
rc=0
for cpu in cortex-a53 max; do
    out=$(ET_KERNELS_SMALL=1 OMP_NUM_THREADS=2 timeout 300 "$QEMU" -L "$SYSROOT" -cpu "$cpu" "$BUILD_ARM/tests/test_kernels" 2>&1)
    st=$?
    echo "$out" | sed -n "s/^\(PASS\|FAIL\) /\1 $cpu:/p"
    best=$(echo "$out" | sed -n 's/^# best path: //p')
    case "$cpu:$best" in
        cortex-a53:neon|max:neon-i8mm) echo "PASS $cpu:detected_path_$best" ;;
        *) echo "FAIL $cpu:detected_path: got '$best'"; rc=1 ;;
    esac
    if [ $st -ne 0 ] && ! echo "$out" | grep -q '^FAIL'; then
        echo "FAIL $cpu:exit: status $st: $(echo "$out" | tail -3 | tr '\n' ' ')"
        rc=1
    fi
done
exit $rc
