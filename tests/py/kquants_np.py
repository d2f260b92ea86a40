"""A numpy port of ggml's K-quant and IQ4_NL quantizers, used by gen_quant.py as a second,
independently written implementation for tests/test_quant.c to match byte for byte.

gguf (PyPI) has dequantizers for these types but no quantizers, so this is the oracle for
the quantize direction: written from ggml's algorithms (ggml-quants.c: make_qkx2_quants,
make_qx_quants, quantize_row_q4_K_ref, quantize_row_q6_K_ref, quantize_row_q8_K_ref, and
llama-quantize's quantize_iq4_nl, i.e. quantize_row_iq4_nl_impl with ntry = 7).

To reproduce C float arithmetic exactly, every value is float32, every operation is one
numpy ufunc on float32 arrays (one rounding each, no fused multiply-add), and every sum runs
element by element in ggml's order, vectorized across blocks only.  nearest_int is
round-half-even (np.rint), as ggml's magic-number trick is.  Inputs must keep block scales
inside binary16 (the C code saturates beyond; this port does not).
"""
import numpy as np

F32 = np.float32
GROUP_MAX_EPS = F32(1e-15)
IQ4NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10,
                         1, 13, 25, 38, 53, 69, 89, 113], dtype=np.int8)


def f(v):
    return np.asarray(v, dtype=F32)


def nearest_int(v):
    return np.rint(v).astype(np.int64)


def fp16_round(v):
    """binary16 bits of v and their value as float32 (numpy rounds to nearest even)."""
    h = f(v).astype(np.float16)
    return h.view(np.uint16), h.astype(F32)


def signed_absmax(x):
    """The signed value of largest magnitude per row, the first on ties (ggml's '>' scan)."""
    i = np.abs(x).argmax(axis=1)
    return x[np.arange(x.shape[0]), i], np.abs(x).max(axis=1)


# ---- Q4_K ----------------------------------------------------------------------------------

def make_qkx2(x, w, nmax=15, rmin=-1.0, rdelta=0.1, nstep=20):
    """make_qkx2_quants over rows of x (n_rows, n) with weights w; squared error."""
    n = x.shape[1]
    mn, mx = x[:, 0].copy(), x[:, 0].copy()
    sum_w = w[:, 0].copy()
    sum_x = sum_w * x[:, 0]
    for i in range(1, n):
        mn = np.where(x[:, i] < mn, x[:, i], mn)
        mx = np.where(x[:, i] > mx, x[:, i], mx)
        sum_w = sum_w + w[:, i]
        sum_x = sum_x + w[:, i] * x[:, i]
    mn = np.where(mn > 0, F32(0), mn)
    same = mx == mn
    rng = np.where(same, F32(1), mx - mn)            # (same rows are overwritten below)
    xm = x - mn[:, None]
    iscale = F32(nmax) / rng
    scale = F32(1) / iscale
    L = np.clip(nearest_int(iscale[:, None] * xm), 0, nmax)
    best = np.zeros_like(sum_w)
    for i in range(n):
        diff = scale * f(L[:, i]) + mn - x[:, i]
        best = best + w[:, i] * (diff * diff)
    for step in range(nstep + 1):
        # ggml updates min as it finds better fits, and later steps use the new min
        rng = np.where(same, F32(1), mx - mn)
        iscale = (F32(rmin) + F32(rdelta) * F32(step) + F32(nmax)) / rng
        Laux = np.clip(nearest_int(iscale[:, None] * (x - mn[:, None])), 0, nmax)
        lf = f(Laux)
        sum_l = np.zeros_like(sum_w)
        sum_l2 = np.zeros_like(sum_w)
        sum_xl = np.zeros_like(sum_w)
        for i in range(n):
            wl = w[:, i] * lf[:, i]
            sum_l = sum_l + wl
            sum_l2 = sum_l2 + wl * lf[:, i]
            sum_xl = sum_xl + wl * x[:, i]
        D = sum_w * sum_l2 - sum_l * sum_l
        ok = D > 0
        Ds = np.where(ok, D, F32(1))
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / Ds
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / Ds
        pos = this_min > 0
        this_min = np.where(pos, F32(0), this_min)
        with np.errstate(divide="ignore", invalid="ignore"):
            this_scale = np.where(pos, sum_xl / sum_l2, this_scale)
        cur = np.zeros_like(sum_w)
        for i in range(n):
            diff = this_scale * lf[:, i] + this_min - x[:, i]
            cur = cur + w[:, i] * (diff * diff)
        upd = ok & (cur < best) & ~same
        L = np.where(upd[:, None], Laux, L)
        best = np.where(upd, cur, best)
        scale = np.where(upd, this_scale, scale)
        mn = np.where(upd, this_min, mn)
    scale = np.where(same, F32(0), scale)
    L = np.where(same[:, None], 0, L)
    return f(scale), f(-mn), L


def quantize_q4_k(x):
    nb = x.size // 256
    xb = f(x).reshape(nb, 8, 32)
    sum_x2 = np.zeros((nb, 8), F32)
    for l in range(32):
        sum_x2 = sum_x2 + xb[:, :, l] * xb[:, :, l]
    av_x = np.sqrt(sum_x2 / F32(32))
    w = av_x[:, :, None] + np.abs(xb)
    scales, mins, L = make_qkx2(xb.reshape(-1, 32), w.reshape(-1, 32))
    scales, mins, L = scales.reshape(nb, 8), mins.reshape(nb, 8), L.reshape(nb, 8, 32)
    max_scale = np.maximum(scales.max(axis=1), F32(0))
    max_min = np.maximum(mins.max(axis=1), F32(0))
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0))
        inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0))
    ls = np.minimum(63, nearest_int(inv_scale[:, None] * scales))
    lm = np.minimum(63, nearest_int(inv_min[:, None] * mins))
    sc = np.zeros((nb, 12), np.int64)
    sc[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    sc[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    sc[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    dh, d = fp16_round(max_scale / F32(63))
    mh, dmin = fp16_round(max_min / F32(63))
    dj = d[:, None] * f(ls)
    dm = dmin[:, None] * f(lm)
    safe = np.where(dj == 0, F32(1), dj)
    Lr = np.clip(nearest_int((xb + dm[:, :, None]) / safe[:, :, None]), 0, 15)
    L = np.where((dj != 0)[:, :, None], Lr, L).reshape(nb, 4, 2, 32)
    qs = (L[:, :, 0, :] | (L[:, :, 1, :] << 4)).reshape(nb, 128)
    return np.concatenate([dh.view(np.uint8).reshape(nb, 2), mh.view(np.uint8).reshape(nb, 2),
                           sc.astype(np.uint8), qs.astype(np.uint8)], axis=1).reshape(-1)


# ---- Q6_K ----------------------------------------------------------------------------------

def make_qx(x, nmax=32):
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL) over rows of x."""
    n = x.shape[1]
    mx, amax = signed_absmax(x)
    zero = amax < GROUP_MAX_EPS
    mxs = np.where(zero, F32(1), mx)

    def levels(iscale):
        return np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1)

    def sums(l):
        lf = f(l)
        sumlx = np.zeros(x.shape[0], F32)
        suml2 = np.zeros(x.shape[0], F32)
        for i in range(n):
            wi = x[:, i] * x[:, i]
            sumlx = sumlx + wi * x[:, i] * lf[:, i]
            suml2 = suml2 + wi * lf[:, i] * lf[:, i]
        return sumlx, suml2

    iscale = F32(-nmax) / mxs
    l = levels(iscale)
    L = l + nmax
    sumlx, suml2 = sums(l)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0))
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = -(F32(nmax) + F32(0.1) * F32(step)) / mxs
        l = levels(iscale)
        sumlx, suml2 = sums(l)
        upd = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        with np.errstate(divide="ignore", invalid="ignore"):
            new_scale = sumlx / suml2
        L = np.where(upd[:, None], l + nmax, L)
        scale = np.where(upd, new_scale, scale)
        best = np.where(upd, scale * sumlx, best)
    scale = np.where(zero, F32(0), scale)
    L = np.where(zero[:, None], 0, L)
    return f(scale), L


def quantize_q6_k(x):
    nb = x.size // 256
    xb = f(x).reshape(nb, 16, 16)
    scales, L = make_qx(xb.reshape(-1, 16))
    scales, L = scales.reshape(nb, 16), L.reshape(nb, 16, 16)
    max_scale, max_abs = signed_absmax(scales)
    zero = max_abs < GROUP_MAX_EPS
    iscale = F32(-128) / np.where(zero, F32(1), max_scale)
    dh, d = fp16_round(F32(1) / iscale)
    sc = np.minimum(127, nearest_int(iscale[:, None] * scales))
    dj = d[:, None] * f(sc)
    safe = np.where(dj == 0, F32(1), dj)
    Lr = np.clip(nearest_int(xb / safe[:, :, None]), -32, 31) + 32
    L = np.where((dj != 0)[:, :, None], Lr, L).reshape(nb, 2, 4, 32)     # [half][quarter][l]
    ql = np.concatenate([L[:, :, 0] & 0xF | ((L[:, :, 2] & 0xF) << 4),
                         L[:, :, 1] & 0xF | ((L[:, :, 3] & 0xF) << 4)], axis=2).reshape(nb, 128)
    qh = ((L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) |
          ((L[:, :, 3] >> 4) << 6)).reshape(nb, 64)
    out = np.concatenate([ql.astype(np.uint8), qh.astype(np.uint8),
                          sc.astype(np.int8).view(np.uint8), dh.view(np.uint8).reshape(nb, 2)],
                         axis=1)
    out[zero] = 0
    return out.reshape(-1)


# ---- Q8_K ----------------------------------------------------------------------------------

def quantize_q8_k(x):
    nb = x.size // 256
    xb = f(x).reshape(nb, 256)
    mx, amax = signed_absmax(xb)
    zero = amax == 0
    iscale = F32(-127) / np.where(zero, F32(1), mx)
    qs = np.minimum(127, nearest_int(iscale[:, None] * xb))
    qs[zero] = 0
    bsums = qs.reshape(nb, 16, 16).sum(axis=2).astype(np.int16)
    d = np.where(zero, F32(0), F32(1) / iscale).astype(F32)
    return np.concatenate([d.view(np.uint8).reshape(nb, 4), qs.astype(np.int8).view(np.uint8),
                           bsums.view(np.uint8).reshape(nb, 32)], axis=1).reshape(-1)


# ---- IQ4_NL --------------------------------------------------------------------------------

def best_index_iq4nl(v):
    """ggml's best_index_int8 over the IQ4_NL codebook: nearest value, ties upward."""
    vals = f(IQ4NL_VALUES)
    hi = np.clip(np.searchsorted(vals, v, side="right"), 1, 15)
    lo = hi - 1
    idx = np.where(v - vals[lo] < vals[hi] - v, lo, hi)
    idx = np.where(v <= vals[0], 0, idx)
    return np.where(v >= vals[15], 15, idx)


def quantize_iq4_nl(x):
    nb = x.size // 32
    xb = f(x).reshape(nb, 32)
    vals = f(IQ4NL_VALUES)
    mx, amax = signed_absmax(xb)
    zero = amax < GROUP_MAX_EPS
    mxs = np.where(zero, F32(1), mx)
    w = xb * xb

    def sums(idv):
        q = vals[best_index_iq4nl(idv[:, None] * xb)]
        sqx = np.zeros(nb, F32)
        sq2 = np.zeros(nb, F32)
        for j in range(32):
            wq = w[:, j] * q[:, j]
            sqx = sqx + wq * xb[:, j]
            sq2 = sq2 + wq * q[:, j]
        return sqx, sq2

    d = -mxs / F32(-127)
    sqx, sq2 = sums(F32(1) / d)
    with np.errstate(divide="ignore", invalid="ignore"):     # all-zero blocks, reset below
        d = sqx / sq2
    best = d * sqx
    for itry in range(-7, 8):
        sqx, sq2 = sums(F32(itry - 127) / mxs)
        upd = (sq2 > 0) & (sqx * sqx > best * sq2)
        with np.errstate(divide="ignore", invalid="ignore"):
            nd = sqx / sq2
        d = np.where(upd, nd, d)
        best = np.where(upd, d * sqx, best)
    d = np.where(zero, F32(0), d)
    dh, _ = fp16_round(d)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, F32(1) / d, F32(0))
    L = best_index_iq4nl(idv[:, None] * xb)
    qs = L[:, :16] | (L[:, 16:] << 4)
    return np.concatenate([dh.view(np.uint8).reshape(nb, 2), qs.astype(np.uint8)],
                          axis=1).reshape(-1)
