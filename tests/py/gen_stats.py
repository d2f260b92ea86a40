"""Golden for tests/test_stats.c: the two-level bootstrap CI recomputed with numpy.

The resampling indices come from the same xorshift64* stream as bench/stats.c (re-written
here from its definition), so the replicate means are the same numbers; numpy.percentile
(linear interpolation, numpy's default) then gives the CI the C code must reproduce.  This
checks the resampling scheme (users, then seeds), NaN handling, the replicate means and the
percentile rule independently of the C implementation's arithmetic.  Also: exact sign-flip
p-values by enumerating all 2^n sign patterns with numpy.

    build/golden/stats_boot.json
"""
import itertools
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "golden")
M64 = (1 << 64) - 1
SEED = 20240601


def rng(state):
    s = state[0]
    s ^= s >> 12
    s ^= (s << 25) & M64
    s ^= s >> 27
    state[0] = s
    return (s * 0x2545F4914F6CDD1D) & M64


def below(state, n):
    return int((rng(state) >> 11) * (1.0 / 9007199254740992.0) * n)


def boot(x, n_seeds, n_users, n_boot, seed):
    st = [seed]
    reps = []
    for _ in range(n_boot):
        us = [below(st, n_users) for _ in range(n_users)]
        ss = [below(st, n_seeds) for _ in range(n_seeds)]
        vals = np.array([x[s * n_users + u] for s in ss for u in us])
        vals = vals[~np.isnan(vals)]
        if vals.size:
            reps.append(vals.mean())
    finite = np.array([v for v in x if not np.isnan(v)])
    lo, hi = np.percentile(np.array(reps), [2.5, 97.5])
    return float(finite.mean()), float(lo), float(hi)


def signflip_exact(d):
    d = np.array(d)
    obs = abs(d.sum())
    signs = np.array(list(itertools.product([1, -1], repeat=len(d))))
    sums = np.abs(signs @ d)
    return float(np.mean(sums >= obs - 1e-12 * (obs + 1)))


def main():
    os.makedirs(OUT, exist_ok=True)
    r = np.random.default_rng(7)
    cases = []
    for n_seeds, n_users in ((1, 12), (3, 8), (3, 25), (5, 4)):
        x = list(r.normal(0.5, 0.2, n_seeds * n_users))
        if n_users == 8:
            x[3] = float("nan")   # a missing per-user value
        mean, lo, hi = boot(x, n_seeds, n_users, 500, SEED)
        cases.append({"n_seeds": n_seeds, "n_users": n_users, "x": [None if np.isnan(v) else v for v in x],
                      "n_boot": 500, "mean": mean, "lo": lo, "hi": hi})
    flips = []
    for n in (1, 5, 9, 12):
        d = list(np.round(r.normal(0.05, 0.1, n), 3))
        flips.append({"d": d, "p": signflip_exact(d)})
    with open(os.path.join(OUT, "stats_boot.json"), "w") as f:
        json.dump({"seed": SEED, "boot": cases, "signflip": flips}, f)
    print(f"PASS gen_stats ({len(cases)} bootstrap cases, {len(flips)} sign-flip cases)")


if __name__ == "__main__":
    main()
