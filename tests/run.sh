#!/bin/bash
# Runs every test and prints, as its last line, "N passed, N failed".
#   C tests:       $BUILD/tests/test_*        (each prints PASS/FAIL lines per case)
#   shell tests:   tests/test_*.sh            (same protocol; get $BUILD and $ET in the env)
#   Python tests:  tests/py/test_*.py         (oracles: torch, numpy, PyPI gguf ...; skipped
#                                              when ET_TEST_ONLY_C=1, e.g. under `make asan`)
# A binary that exits non-zero without printing a FAIL line (a crash, a sanitizer report)
# counts as one failed case.  Logs go to $BUILD/test-logs/.
set -u
BUILD=${BUILD:-build}
export BUILD ET="$BUILD/edgetune"
PY=${ET_PYTHON:-build/venv/bin/python}
[ -x "$PY" ] || PY=/usr/bin/python3
export ET_PYTHON="$PY"
logs="$BUILD/test-logs"
mkdir -p "$logs" "$logs/py"
passed=0 failed=0
failed_names=()

run_one() {   # name, command...
    local name=$1; shift
    local log="$logs/$name.log" t0=$SECONDS
    timeout "${ET_TEST_TIMEOUT:-900}" "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "FAIL $name: exited with status $rc (see $log)" >>"$log"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    printf '%-34s %4d passed %3d failed %5ds\n' "$name" "$p" "$f" $((SECONDS - t0))
    if [ "$f" -ne 0 ]; then
        grep '^FAIL ' "$log" | head -20 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
        failed_names+=("$name")
    fi
}

# Golden files from the Python oracles first (tests/py/gen_*.py write build/golden/), so the
# C tests that compare against them — also under `make asan`, which reuses them — find them.
if [ -z "${ET_TEST_ONLY_C:-}" ]; then
    mkdir -p build/golden
    for g in tests/py/gen_*.py; do
        [ -f "$g" ] || continue
        run_one "py/$(basename "$g")" "$PY" "$g"
    done
fi
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
if [ -z "${ET_TEST_ONLY_C:-}" ]; then
    for t in tests/test_*.sh; do
        [ -f "$t" ] || continue
        run_one "$(basename "$t")" bash "$t"
    done
    for t in tests/py/test_*.py; do
        [ -f "$t" ] || continue
        run_one "py/$(basename "$t")" "$PY" "$t"
    done
fi
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
