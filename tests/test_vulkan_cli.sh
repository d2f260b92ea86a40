#!/bin/bash
# `edgetune devices` with lavapipe and with no Vulkan driver at all (EDGETUNE_VK_LOADER at a
# missing library): the program must list the CPU, say once that Vulkan is missing, and exit 0.
# Needs $ET (tests/run.sh sets it).  EDGETUNE_NO_VULKAN_TESTS=1 skips only the lavapipe part.
set -u
ET=${ET:-build/edgetune}
fail=0
check() {   # name, condition-status
    if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi
}

out=$(EDGETUNE_VK_LOADER=/nonexistent/libvulkan.so.1 "$ET" devices 2>/tmp/et_vk_cli_err.$$)
rc=$?
err=$(cat /tmp/et_vk_cli_err.$$); rm -f /tmp/et_vk_cli_err.$$
echo "$out" | grep -q '^cpu ' && echo "$out" | grep -q '^vulkan: none' && [ $rc -eq 0 ]
check "devices_without_driver_lists_cpu" $?
[ "$(echo "$err" | grep -c 'no Vulkan')" -eq 1 ] && echo "$err" | grep -q 'running on the CPU'
check "devices_without_driver_says_so_once" $?

if [ "${EDGETUNE_NO_VULKAN_TESTS:-}" = 1 ]; then
    echo "NOTICE: EDGETUNE_NO_VULKAN_TESTS=1: lavapipe part not run"
else
    out=$("$ET" devices 2>&1)
    rc=$?
    echo "$out" | grep -q '^vulkan:0 ' && echo "$out" | grep -q 'shaderFloat16' &&
        echo "$out" | grep -q 'subgroup size' && echo "$out" | grep -q 'max storage buffer range' &&
        echo "$out" | grep -q 'shared memory' && echo "$out" | grep -q 'integer dot product' &&
        [ $rc -eq 0 ]
    check "devices_lists_vulkan_features" $?
    "$ET" devices extra >/dev/null 2>&1
    [ $? -eq 2 ]
    check "devices_rejects_arguments" $?
fi
exit $fail
