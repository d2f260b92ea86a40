#!/usr/bin/python3
"""PyTorch reference for `edgetune bench train`: the same Llama + LoRA training step in plain
torch (Debian's torch 1.13; no peft), timed the same way, printed as one JSON line.

Model: RMSNorm, rotary embeddings (rotate-half), causal multi-head attention, SwiGLU MLP,
untied output head; frozen f32 base; LoRA (A Kaiming-uniform, B zero, scale alpha/r) on
q,k,v,o,gate,up,down; AdamW over the LoRA parameters only.  Loss: cross-entropy over every
next-token position ("all") or only over the answer positions ("answer"), in which case the
head is evaluated only at those positions (hidden states gathered first), as edgetune does.

Timing: one warm-up step, then --steps timed steps; the figure is the median.  Memory: the
process's peak RSS (VmHWM) and its idle baseline (VmRSS after importing torch, before the model
exists), so the net figure excludes the interpreter and libtorch.

Used by bench/bench_train.c, one process per configuration (dtype, OMP_WAIT_POLICY).
"""
import argparse
import json
import math
import time


def vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=1376)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--answer", type=int, default=0, help="answer tokens per sequence (0: loss on all positions)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    baseline = vm("VmRSS")

    D, H, L, FF, V, R = args.dim, args.heads, args.layers, args.ffn, args.vocab, args.rank
    hd = D // H

    class LoRALinear(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(o, i) * 0.02, requires_grad=False)
            self.a = torch.nn.Parameter(torch.empty(R, i))
            torch.nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
            self.b = torch.nn.Parameter(torch.zeros(o, R))
            self.scale = 16.0 / R

        def forward(self, x):
            return F.linear(x, self.w) + F.linear(F.linear(x, self.a), self.b) * self.scale

    class RMSNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(D), requires_grad=False)

        def forward(self, x):
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * self.w

    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(args.seq).float()[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rope(x):  # (B, H, T, hd)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos.to(x.dtype) + torch.cat([-x2, x1], -1) * sin.to(x.dtype)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = RMSNorm(), RMSNorm()
            self.q, self.k, self.v, self.o = (LoRALinear(D, D) for _ in range(4))
            self.gate, self.up, self.down = LoRALinear(D, FF), LoRALinear(D, FF), LoRALinear(FF, D)

        def forward(self, x, mask):
            B, T, _ = x.shape
            h = self.n1(x)
            q = rope(self.q(h).view(B, T, H, hd).transpose(1, 2))
            k = rope(self.k(h).view(B, T, H, hd).transpose(1, 2))
            v = self.v(h).view(B, T, H, hd).transpose(1, 2)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
            x = x + self.o(y)
            h = self.n2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02, requires_grad=False)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
            self.norm = RMSNorm()
            self.head = torch.nn.Parameter(torch.randn(V, D) * 0.02, requires_grad=False)

        def forward(self, ids, sel, tgt):
            T = ids.shape[1]
            mask = torch.full((T, T), float("-inf")).triu(1)
            x = F.embedding(ids, self.emb)
            for b in self.blocks:
                x = b(x, mask)
            h = self.norm(x)
            if sel is not None:
                h = h.reshape(-1, D).index_select(0, sel)  # the head only where the loss counts
            else:
                h = h[:, :-1].reshape(-1, D)  # every position that has a next token
            return F.cross_entropy(F.linear(h, self.head).float(), tgt)

    model = Model()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    B, T = args.batch, args.seq
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (B, T), generator=g)
    if args.answer > 0:
        pos = torch.cat([torch.arange(T - 1 - args.answer, T - 1) + T * b for b in range(B)])
        tgt = ids.reshape(-1)[pos + 1]
        sel = pos
    else:
        sel = None
        tgt = ids[:, 1:].reshape(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        if args.dtype == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(ids, sel, tgt)
        else:
            loss = model(ids, sel, tgt)
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    times = []
    cpu0 = time.process_time()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / args.steps
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    peak = vm("VmHWM")
    import os
    print(json.dumps({
        "engine": "pytorch", "method": "lora", "base": "f32", "compute": args.dtype,
        "loss_positions": "answer" if args.answer > 0 else "all",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "batch": B, "seq": T, "tokens_per_s": B * T / med, "ms_per_step": med * 1e3, "cpu_ms_per_step": cpu * 1e3, "dim": D, "ffn": FF,
        "ms_per_step_min": times[0] * 1e3, "ms_per_step_max": times[-1] * 1e3, "steps": n,
        "peak_rss_bytes": peak, "idle_rss_bytes": baseline, "peak_rss_net_bytes": peak - baseline,
        "threads": args.threads, "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
