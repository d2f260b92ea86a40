"""Shared helpers of the data tooling: deterministic random streams, canonical JSON writing,
file hashes and the manifest both `make data` and `make corpus` write.

Determinism: every random choice draws from random.Random seeded with a string
("<seed>:<purpose>"); Python seeds string seeds through SHA-512, so the stream is the same
on every run and machine (unlike hash()).  JSON is written with sorted keys, no ASCII
escaping and a trailing newline, so identical data gives identical bytes and hashes.
"""
import hashlib
import json
import os
import random
import re

MANIFEST_VERSION = 1


def rng(seed, purpose):
    return random.Random(f"{seed}:{purpose}")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, sort_keys=True, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_tree(root, skip=("manifest.json",)):
    """{relative path: sha256} of every file under root, sorted, except the manifest."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            if rel in skip or name.endswith(".tmp"):
                continue
            out[rel] = sha256_file(p)
    return dict(sorted(out.items()))


def verify_manifest(root):
    """Recompute every hash the manifest lists; returns a list of mismatch messages."""
    path = os.path.join(root, "manifest.json")
    with open(path, encoding="utf-8") as f:
        man = json.load(f)
    bad = []
    for rel, digest in man.get("files", {}).items():
        p = os.path.join(root, rel)
        if not os.path.exists(p):
            bad.append(f"{p}: listed in {path} but missing")
        elif sha256_file(p) != digest:
            bad.append(f"{p}: sha256 differs from {path}")
    return bad


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text):
    """Lower-cased word tokens: the unit of the contamination n-grams."""
    return _WORD.findall(text.lower())
