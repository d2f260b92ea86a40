"""The Python side of the test protocol (see tests/run.sh): each case prints
"PASS <name>" or "FAIL <name>: <reason>"; main() exits non-zero if any case failed.

    from harness import case, main
    @case
    def test_something(): assert ...
    main()
"""
import os
import sys
import time
import traceback

_cases = []
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
ET = os.path.join(BUILD, "edgetune")


def case(fn):
    _cases.append(fn)
    return fn


def main():
    failed = 0
    for fn in _cases:
        t0 = time.time()
        try:
            fn()
            print(f"PASS {fn.__name__} ({(time.time() - t0) * 1e3:.0f} ms)", flush=True)
        except Exception as e:  # noqa: BLE001 - any exception fails the case
            failed += 1
            traceback.print_exc()
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"FAIL {fn.__name__}: {msg}", flush=True)
    print(f"# {len(_cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
