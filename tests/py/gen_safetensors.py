"""Golden safetensors files written by the PyPI `safetensors` package (the reference
implementation), for tests/test_safetensors.c: edgetune must read every tensor (dtype, shape,
bytes) and every __metadata__ entry exactly as the reference wrote them.

Writes to build/golden/safetensors/:
  ref.safetensors   every dtype safetensors.torch can write with torch 1.13 (incl. BF16,
                    BOOL, F64, a 0-d scalar, an empty [0, 3] tensor, a 4-d tensor), metadata
  ref.json          {"metadata": {...}, "tensors": [{"name", "dtype", "shape", "bin_offset",
                    "nbytes"}]}
  ref.bin           the expected bytes of every tensor, concatenated
  peft.safetensors  a PEFT-style adapter (lora_A / lora_B names, F32)
  peft.json, peft.bin
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT  # noqa: E402

OUT = os.path.join(ROOT, "build", "golden", "safetensors")
G = torch.Generator().manual_seed(7)

DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
         torch.int32: "I32", torch.int64: "I64", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write(name, tensors, metadata):
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=metadata)
    blob, desc = bytearray(), {"metadata": metadata, "tensors": []}
    for tname, t in tensors.items():
        b = raw_bytes(t)
        desc["tensors"].append({"name": tname, "dtype": DTYPE[t.dtype], "shape": list(t.shape),
                                "bin_offset": len(blob), "nbytes": len(b)})
        blob += b
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(desc, f, indent=1, ensure_ascii=False)
    print(f"wrote {name}.safetensors: {len(tensors)} tensors")


if __name__ == "__main__":
    r = lambda *s: torch.randn(*s, generator=G)  # noqa: E731
    write("ref", {
        "model.embed_tokens.weight": r(11, 8),
        "model.layers.0.self_attn.q_proj.weight": r(8, 8).half(),
        "model.layers.0.mlp.up_proj.weight": r(16, 8).bfloat16(),
        "f64": r(3).double(),
        "i32": torch.randint(-2**31, 2**31 - 1, (5,), generator=G, dtype=torch.int32),
        "i64": torch.tensor([-2**63, 2**63 - 1, 0], dtype=torch.int64),
        "i16": torch.tensor([-32768, 1, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.arange(0, 256, 51, dtype=torch.uint8),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(1.5),
        "empty": torch.zeros(0, 3),
        "four_d": r(2, 3, 1, 2),
        "ünïcode.name": r(2),
    }, {"format": "pt", "note": "héllo \"quoted\" \\ back"})
    write("peft", {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": r(4, 8),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": r(8, 4),
    }, {"format": "pt"})
    print("PASS gen_safetensors")
