"""An independent plain-PyTorch Llama-family model, the oracle for tests/test_llama_parity.c.

Written from the model definitions (Llama / Mistral / Qwen2 / Gemma 3 as Hugging Face and
llama.cpp define them) and PEFT's adapter definitions, not from edgetune's C code:

  * RMSNorm            y = x / sqrt(mean(x^2) + eps) * w
  * rope               llama.cpp's GGUF convention: arch "llama"/"mistral" rotates the pairs
                       (2i, 2i+1) of each head (the converter permuted q/k for it); arch "qwen2"
                       is stored in HF layout and rotates the "neox" pairs (i, i + d/2).
                       The angle of pair i at position p is p * theta^(-2i/d).
  * attention          causal, grouped-query (query head h reads kv head h // (n_heads/n_kv),
                       HF's repeat_kv), optional sliding window (key s visible from query t
                       when t - window < s <= t), scale 1/sqrt(head_dim)
  * MLP                SwiGLU: down(silu(gate(x)) * up(x))
  * qwen2              biases on q, k and v
  * gemma3             (HF Gemma3ForCausalLM / llama.cpp's gemma3 graph, GGUF layout)
                       embeddings times sqrt(dim) (HF's Gemma3TextScaledWordEmbedding: the
                       scale belongs to the token lookup, so a soft prompt enters unscaled);
                       q and k RMSNorm'ed over each head (q_norm / k_norm) before a neox rope;
                       the attention output and the MLP output RMSNorm'ed (post_attention_norm,
                       post_feedforward_layernorm) before their residual adds; MLP
                       down(gelu_tanh(gate(x)) * up(x)); layer types by HF's
                       sliding_window_pattern p: layer l is "full_attention" when (l + 1) % p == 0,
                       else "sliding_attention" with the window and the local rope base
                       (rope_local_base_freq).  The converter stores Gemma's (1 + w) norm
                       weights already shifted, so every norm here is plain RMSNorm.
  * tied embeddings    the output matrix is the token embedding
  * LoRA (PEFT)        y = W x + b + (alpha / r) * B(A(x)),  A: (r, in), B: (out, r)
  * IA3 (PEFT)         k and v projections' outputs scaled by l_k, l_v; the MLP's
                       "feedforward" module down_proj has its *input* scaled by l_ff
  * prompt tuning      n trainable embeddings prepended to every sequence; positions run
                       0 .. n + T - 1 over the virtual tokens and the text

base_emu emulates edgetune's fast paths for a quantized base (weights already dequantized):
  "bf16"  (NF4 on AVX512-BF16) activations and weights rounded to bf16, round to nearest even;
  "int8"  (Q8_0, Q4_0, Q4_K, ... on every SIMD path) activations quantized per group of 32 as
          Q8_0 rounds them in float32: d = amax/127, q = rint(x * (1/d)) clamped to +-127,
          x' = q * d; the weights exact.
  "int8b" the int8 forward with the bf16 dX below (the int8 family on AVX512-BF16).
Products are accumulated exactly.  The input gradient dX = dY·W: "bf16" and "int8b" round dY
and W to bf16 as the engine's bf16 dX kernel does (every type but f32 where the CPU has
vdpbf16ps); "int8" uses the unrounded weights and dY, as the f32 dX kernel does.

Weights are numpy arrays in GGUF's numpy shapes ((out, in) for a linear layer, (vocab, dim)
for embeddings), which are also PyTorch's nn.Linear shapes.  Everything runs in float64 so
the reference is exact to far below the f32 engine's rounding.
"""
import math

import torch

DT = torch.float64


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, theta, neox):
    """x (B, heads, T, d); pos (T,) absolute positions."""
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=DT) / d)           # (d/2,)
    ang = pos.to(DT)[:, None] * inv[None, :]                         # (T, d/2)
    cos, sin = torch.cos(ang), torch.sin(ang)
    if neox:
        x0, x1 = x[..., : d // 2], x[..., d // 2:]
        return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2)


def attention(q, k, v, window):
    """q (B, nh, T, d), k/v (B, nkv, T, d) -> (B, nh, T, d)."""
    nh, nkv, T, d = q.shape[1], k.shape[1], q.shape[2], q.shape[3]
    rep = nh // nkv
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(d)                       # (B, nh, T, T)
    t = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    visible = j <= t
    if window > 0:
        visible = visible & (j > t - window)
    s = s.masked_fill(~visible, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def bf16(x):
    return x.to(torch.bfloat16).to(DT)


def int8_act(x):
    """Q8_0-style activation quantization over groups of 32 along the last dim, in float32."""
    x32 = x.detach().to(torch.float32)
    g = x32.reshape(*x32.shape[:-1], -1, 32)
    d = g.abs().amax(-1, keepdim=True) / torch.tensor(127.0, dtype=torch.float32)
    inv = torch.where(d > 0, torch.tensor(1.0, dtype=torch.float32) / d, torch.zeros_like(d))
    q = torch.round(g * inv).clamp(-127, 127)          # torch.round: half to even, as rint
    return (q.to(DT) * d.to(DT)).reshape(x.shape)


class EmuLinear(torch.autograd.Function):
    """y = round(x) · round(W)^T forward (the path's roundings); dx = dy · W backward."""

    @staticmethod
    def forward(ctx, x, w, mode):
        ctx.save_for_backward(w)
        ctx.mode = mode
        if mode == "bf16":
            return bf16(x) @ bf16(w).T
        return int8_act(x) @ w.T

    @staticmethod
    def backward(ctx, dy):
        (w,) = ctx.saved_tensors
        if ctx.mode in ("bf16", "int8b"):
            return bf16(dy) @ bf16(w), None, None
        return dy @ w, None, None


class EmuHeadNLL(torch.autograd.Function):
    """Per-position NLL through a bf16 head as edgetune's fused cross-entropy computes it:
    logits z = bf16(h)·bf16(W)^T, and dh = dnll · (bf16(e)·bf16(W) / s − W_target) with
    e = exp(z − max z), s = sum e -- the exponentials rounded to bf16 before the product,
    the target row subtracted unrounded (exact: W is bf16 already).  (When the vocabulary is
    one chunk of the engine's online softmax, as in the parity models; with several chunks
    the engine rounds exp(z − running max) instead.)"""

    @staticmethod
    def forward(ctx, h, w, targets):
        wb = bf16(w)
        z = bf16(h) @ wb.T
        m = z.max(-1, keepdim=True).values
        e = torch.exp(z - m)
        s = e.sum(-1, keepdim=True)
        ctx.save_for_backward(e, s, wb, targets)
        return (m + torch.log(s)).squeeze(-1) - z.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def backward(ctx, dnll):
        e, s, wb, targets = ctx.saved_tensors
        u = (bf16(e) @ wb) / s - wb[targets]
        return dnll.unsqueeze(-1) * u, None, None


class Llama:
    """cfg: dict with vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn, rope_theta,
    rms_eps, arch ("llama" | "mistral" | "qwen2" | "gemma3"), sliding_window, tied; gemma3
    also swa_pattern and rope_local_theta.
    w: dict of GGUF tensor name -> numpy array (f32 values, any linear layer possibly the
    dequantized NF4 base), or torch tensors (full fine-tuning passes its parameters here).
    adapter: None or dict(kind="lora"|"ia3"|"prompt"|"full", ...) whose tensors (torch,
    float64, requires_grad) live in self.params under edgetune's names."""

    def __init__(self, cfg, w, adapter=None, base_emu=None, head_emu=False):
        self.c = cfg
        self.base_emu = base_emu
        self.head_emu = head_emu    # the output matrix runs the base's emulated path too
        self.w = {k: v if torch.is_tensor(v) else torch.tensor(v, dtype=DT) for k, v in w.items()}
        self.ad = adapter or {"kind": "none"}
        self.params = self.ad.get("params", {})

    def linear(self, l, mod, x, bias=None):
        """mod: GGUF suffix ("attn_q", ... "ffn_down")."""
        name = f"blk.{l}.{mod}.weight"
        y = EmuLinear.apply(x, self.w[name], self.base_emu) if self.base_emu else x @ self.w[name].T
        if bias is not None:
            y = y + bias
        if self.ad["kind"] == "lora" and name + ".lora_a" in self.params:
            A, B = self.params[name + ".lora_a"], self.params[name + ".lora_b"]
            y = y + (self.ad["alpha"] / self.ad["rank"]) * ((x @ A.T) @ B.T)
        return y

    def ia3(self, l, what):
        return self.params.get(f"blk.{l}.{what}.ia3") if self.ad["kind"] == "ia3" else None

    def layer_attn(self, l):
        """(window, rope base) of layer l: HF's layer_types for gemma3, else one kind."""
        c = self.c
        if c["arch"] != "gemma3":
            return c["sliding_window"], c["rope_theta"]
        if (l + 1) % c["swa_pattern"] == 0:          # "full_attention"
            return 0, c["rope_theta"]
        return c["sliding_window"], c["rope_local_theta"]

    def block(self, l, x, pos):
        c = self.c
        B, T, _ = x.shape
        nh, nkv, hd, eps = c["n_heads"], c["n_kv_heads"], c["head_dim"], c["rms_eps"]
        gemma = c["arch"] == "gemma3"
        neox = c["arch"] in ("qwen2", "gemma3")
        window, theta = self.layer_attn(l)
        W = lambda n: self.w[f"blk.{l}.{n}.weight"]  # noqa: E731
        bias = (lambda m: self.w[f"blk.{l}.{m}.bias"]) if c["arch"] == "qwen2" else (lambda m: None)
        h = rmsnorm(x, W("attn_norm"), eps)
        q = self.linear(l, "attn_q", h, bias("attn_q"))
        k = self.linear(l, "attn_k", h, bias("attn_k"))
        v = self.linear(l, "attn_v", h, bias("attn_v"))
        if self.ia3(l, "attn_k") is not None:
            k = k * self.ia3(l, "attn_k")
            v = v * self.ia3(l, "attn_v")
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nkv, hd).transpose(1, 2)
        if gemma:                                    # Gemma3Attention: q_norm, k_norm per head
            q = rmsnorm(q, W("attn_q_norm"), eps)
            k = rmsnorm(k, W("attn_k_norm"), eps)
        q = rope(q, pos, theta, neox)
        k = rope(k, pos, theta, neox)
        v = v.view(B, T, nkv, hd).transpose(1, 2)
        o = attention(q, k, v, window).transpose(1, 2).reshape(B, T, nh * hd)
        o = self.linear(l, "attn_output", o)
        if gemma:
            o = rmsnorm(o, W("post_attention_norm"), eps)
        x = x + o
        h = rmsnorm(x, W("ffn_norm"), eps)
        gate = self.linear(l, "ffn_gate", h)
        act = torch.nn.functional.gelu(gate, approximate="tanh") if gemma else torch.nn.functional.silu(gate)
        g = act * self.linear(l, "ffn_up", h)
        if self.ia3(l, "ffn_up") is not None:
            g = g * self.ia3(l, "ffn_up")          # PEFT: down_proj's input is scaled
        f = self.linear(l, "ffn_down", g)
        if gemma:
            f = rmsnorm(f, W("post_ffw_norm"), eps)
        return x + f

    def head_weight(self):
        return self.w["token_embd.weight"] if self.c["tied"] else self.w["output.weight"]

    def logits(self, ids):
        """ids (B, T) int64 -> logits (B, T', vocab), T' = n_prompt + T with prompt tuning."""
        x, out = self.hidden(ids), self.head_weight()
        return EmuLinear.apply(x, out, self.base_emu) if self.head_emu else x @ out.T

    def hidden(self, ids):
        """ids (B, T) int64 -> the head's input (B, T', dim): the last norm's output."""
        c = self.c
        emb = self.w["token_embd.weight"]
        x = emb[ids]                                                  # (B, T, dim)
        if c["arch"] == "gemma3":
            x = x * math.sqrt(c["dim"])
        if self.ad["kind"] == "prompt":
            sp = self.params["soft_prompt"]                           # (n, dim)
            x = torch.cat([sp.unsqueeze(0).expand(x.shape[0], -1, -1), x], dim=1)
        pos = torch.arange(x.shape[1])
        for l in range(c["n_layers"]):
            x = self.block(l, x, pos)
        return rmsnorm(x, self.w["output_norm.weight"], c["rms_eps"])
