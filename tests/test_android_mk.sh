#!/bin/bash
# `make android` (tools/android.mk) without an Android NDK, which this machine does not have:
#  - ANDROID_NDK unset, a path that is not an NDK, an NDK whose clang is older than 17, and a
#    missing cJSON source each stop with exit 2 and a message naming what is wrong;
#  - with a stand-in NDK (a clang that only answers -dumpversion 17.0.2) and a stand-in cJSON,
#    `make -n android` shows the commands it would run: every C file compiled by that clang
#    with --target=aarch64-linux-android24, the NEON kernels (kernels/arm) in and the x86 ones
#    out, OpenBLAS not defined or linked, libomp static, no libvulkan and no system libcjson
#    linked (cJSON.o instead), tools/android_compat.h force-included.
# The real cross-build and its run on a phone are not tested here (no NDK, no device).
set -u
fail=0
check() { if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT

make -s android > "$D/o1" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'set ANDROID_NDK' "$D/o1"
check "android_without_ndk_says_so" $?

make -s android ANDROID_NDK=/nonexistent/ndk > "$D/o2" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'ANDROID_NDK=/nonexistent/ndk is not an NDK' "$D/o2"
check "android_bad_ndk_path_named" $?

mkdir -p "$D/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin" "$D/cjson"
CLANG="$D/ndk/toolchains/llvm/prebuilt/linux-x86_64/bin/clang"
printf '#!/bin/sh\n[ "$1" = -dumpversion ] && echo 14.0.6 && exit 0\nexit 1\n' > "$CLANG"
chmod +x "$CLANG"
make -s android ANDROID_NDK="$D/ndk" > "$D/o3" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "clang '14'; the NEON kernels need clang 17" "$D/o3"
check "android_old_clang_refused" $?

printf '#!/bin/sh\n[ "$1" = -dumpversion ] && echo 17.0.2 && exit 0\nexit 1\n' > "$CLANG"
make -s android ANDROID_NDK="$D/ndk" > "$D/o4" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "CJSON_SRC='' must be a directory with cJSON.c and cJSON.h" "$D/o4"
check "android_without_cjson_says_so" $?

touch "$D/cjson/cJSON.c" "$D/cjson/cJSON.h"
make -n android ANDROID_NDK="$D/ndk" CJSON_SRC="$D/cjson" ANDROID_BUILD="$D/out" > "$D/n" 2>&1
rc=$?
cc_lines=$(grep -c -- "$CLANG --target=aarch64-linux-android24 .* -c " "$D/n")
[ $rc -eq 0 ] && [ "$cc_lines" -gt 50 ]
check "android_dry_run_compiles_with_the_ndk_clang" $?
grep -q -- "-c kernels/arm/gemm_neon.c" "$D/n" && ! grep -q "kernels/x86/" "$D/n"
check "android_dry_run_neon_not_x86" $?
! grep -q -- "-DET_HAVE_BLAS\|openblas" "$D/n"
check "android_dry_run_no_openblas" $?
link=$(grep -- "-o $D/out/edgetune " "$D/n")
echo "$link" | grep -q -- "-static-openmp" && echo "$link" | grep -q "cJSON.o" &&
    ! echo "$link" | grep -q -- "-lcjson\|-lvulkan"
check "android_dry_run_links_static_omp_cjson_no_vulkan" $?
grep -q -- "-include tools/android_compat.h" "$D/n"
check "android_dry_run_compat_header" $?
exit $fail
