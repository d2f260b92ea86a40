"""Debian-side readers for the set-up tooling: deb822 paragraphs (apt's Packages and
Translation-en indexes), maintainer parsing with the people-versus-teams filter the
classification and synopsis tasks use for their users, fetching apt's English translation
index into a build-local list directory, and the version and licence of an installed package.

apt stores its lists compressed (lz4, gz, xz ... depending on configuration); they are read
through `/usr/lib/apt/apt-helper cat-file`, which knows every compression apt writes, and
plain files are read directly (the tests use plain fixtures).
"""
import email.utils
import gzip
import os
import re
import subprocess

APT_HELPER = "/usr/lib/apt/apt-helper"


class DebError(ValueError):
    pass


def parse_deb822(text, where="<text>"):
    """Paragraphs of a deb822 file as a list of {field: value}.  Continuation lines (starting
    with a space or tab) are kept with their leading space removed and joined by '\\n'.
    Field names keep their case; a malformed line raises DebError naming file and line."""
    paras, cur, last = [], {}, None
    for ln, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, last = {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise DebError(f"{where}:{ln}: continuation line before any field")
            cur[last] += "\n" + line[1:]
            continue
        k, sep, v = line.partition(":")
        if not sep or not k or " " in k:
            raise DebError(f"{where}:{ln}: not a 'Field: value' line: {line[:60]!r}")
        last = k
        cur[k] = v.strip()
    if cur:
        paras.append(cur)
    return paras


def read_list_file(path):
    """The text of an apt list file, compressed or not."""
    if path.endswith((".lz4", ".xz", ".zst", ".bz2", ".lzma")):
        r = subprocess.run([APT_HELPER, "cat-file", path], capture_output=True, check=False)
        if r.returncode != 0:
            raise DebError(f"{path}: apt-helper cat-file failed: {r.stderr.decode()[:200]}")
        data = r.stdout
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    return data.decode("utf-8", errors="replace")


def list_files(lists_dir, kind):
    """apt list files of one kind ('Packages' or 'Translation-en') in a list directory,
    the release suite first, then -updates / -security (sorted, so the order is fixed)."""
    out = []
    for name in sorted(os.listdir(lists_dir)):
        base = re.sub(r"\.(lz4|gz|xz|zst|bz2|lzma)$", "", name)
        if base.endswith("_" + kind):
            out.append(os.path.join(lists_dir, name))
    return sorted(out, key=lambda p: (("-updates" in p) or ("-security" in p), p))


def fetch_lists(lists_dir):
    """`apt-get update` into a build-local list directory with the English translations
    enabled, leaving the system's lists alone.  Needs root (apt drops to the _apt user to
    download).  Returns the release dates from the InRelease files, for the manifest."""
    os.makedirs(os.path.join(lists_dir, "partial"), exist_ok=True)
    cache = os.path.join(os.path.dirname(os.path.abspath(lists_dir)), "apt-cache")
    os.makedirs(cache, exist_ok=True)
    cmd = ["apt-get", "update", "-q", "-o", "Acquire::Languages=en",
           "-o", f"Dir::State::Lists={os.path.abspath(lists_dir)}",
           "-o", f"Dir::Cache={cache}", "-o", "Dir::Cache::pkgcache=",
           "-o", "Dir::Cache::srcpkgcache="]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise DebError(f"{' '.join(cmd)} failed (root needed?): {r.stderr.strip()[-300:]}")
    return release_dates(lists_dir)


def release_dates(lists_dir):
    """{InRelease file name: its Date field}: the archive dates the lists come from."""
    out = {}
    for name in sorted(os.listdir(lists_dir)):
        if name.endswith("_InRelease"):
            with open(os.path.join(lists_dir, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Date:"):
                        out[name] = line[5:].strip()
                        break
    return out


def load_index(lists_dir, kind, key):
    """All paragraphs of one kind of list, keyed by key(paragraph); the first list file
    (the release suite) wins over -updates / -security for the same key."""
    out = {}
    for path in list_files(lists_dir, kind):
        for p in parse_deb822(read_list_file(path), path):
            k = key(p)
            if k is not None and k not in out:
                out[k] = p
    return out


# Names of maintainers that are groups, not people.  A team has its own list address or a
# collective name; a person has a personal address.  The test fixtures cover each pattern.
_TEAM_WORDS = re.compile(
    r"\b(team|teams|maintainers?|group|project|packagers?|packaging|developers|"
    r"task ?force|qa|committee|community|debian|ubuntu|foundation|consortium|"
    r"hackers|contributors|authors|uploaders|admins?|staff|list|organi[sz]ation)\b", re.I)
_TEAM_EMAIL = re.compile(
    r"(@lists\.|lists\.alioth\.|alioth-lists|@tracker\.debian\.org|@packages\.debian\.org|"
    r"@qa\.debian\.org|-maint(ainers?)?@|-devel?@|-team@|^pkg-|^team\+|^debian-|^packages@)",
    re.I)


def parse_maintainer(field):
    """(name, email) of a Maintainer field such as 'Jane Doe <jane@example.org>'."""
    name, addr = email.utils.parseaddr(field or "")
    return name.strip(), addr.strip().lower()


def is_person(field):
    """True when a Maintainer field names one person rather than a team or mailing list."""
    name, addr = parse_maintainer(field)
    if not name or "@" not in addr:
        return False
    if _TEAM_EMAIL.search(addr) or _TEAM_WORDS.search(name):
        return False
    # a person's name has letters and at most a handful of words
    words = name.split()
    return 1 <= len(words) <= 6 and any(c.isalpha() for c in name)


def long_description(desc_field):
    """(synopsis, body) of a Description / Description-en field: the first line is the
    synopsis; continuation lines form the body, where ' .' marks a paragraph break.  After
    parse_deb822 the leading space is gone, so a lone '.' is the paragraph separator."""
    lines = desc_field.split("\n")
    synopsis = lines[0].strip()
    paras, cur = [], []
    for line in lines[1:]:
        if line.strip() == ".":
            if cur:
                paras.append(" ".join(cur))
            cur = []
        else:
            cur.append(line.strip())
    if cur:
        paras.append(" ".join(cur))
    body = "\n".join(re.sub(r"\s+", " ", p).strip() for p in paras if p.strip())
    return synopsis, body


def package_version(pkg):
    """The installed version of a Debian package, or raise DebError."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0 or "install ok installed" not in r.stdout:
        raise DebError(f"package {pkg} is not installed (run: make deps-study)")
    return r.stdout.split("\t", 1)[1]


# Licence grants a free-form copyright file states in prose, as SPDX-style names.  Only
# the wordings below are recognised; anything else leaves the list empty and the excerpt
# and statement fields say what the file says.
_LICENCE_PROSE = [
    (re.compile(r"GNU\s+Free\s+Documentation\s+License,?\s+Version\s+(\d+(?:\.\d+)?)"
                r"(\s+or\s+any\s+later\s+version)?", re.I), "GFDL-{0}{1}"),
    (re.compile(r"GNU\s+General\s+Public\s+License[^.]{0,80}?version\s+(\d+(?:\.\d+)?)"
                r"((?:[^.]{0,40}?)or\s+\(at\s+your\s+option\)\s+any\s+later)?", re.I), "GPL-{0}{1}"),
    (re.compile(r"\bin\s+the\s+public\s+domain\b", re.I), "public-domain"),
    (re.compile(r"permission\s+is\s+granted\s+to\s+make\s+and\s+distribute\s+verbatim\s+copies",
                re.I), "verbatim-copies-only"),
]


def licences_in_prose(text):
    """(names, statements) of the licence grants a free-form copyright text states: each
    name once, in order of appearance, with the paragraph that grants it (whitespace
    collapsed, at most 400 characters)."""
    names, statements = [], []
    for para in re.split(r"\n\s*\n", text):
        flat = re.sub(r"\s+", " ", para).strip()
        for rx, fmt in _LICENCE_PROSE:
            m = rx.search(flat)
            if not m:
                continue
            name = fmt.format(*(["+" if g and i == 1 else (g or "") for i, g in enumerate(m.groups())]))
            if name not in names:
                names.append(name)
                statements.append(flat[:400])
    return names, statements


def package_licences(pkg, root="/usr/share/doc"):
    """Licence names from /usr/share/doc/<pkg>/copyright: the 'License:' fields of a
    machine-readable (DEP-5) file, or, for a free-form file, the grants its prose states
    (licences_in_prose) with those paragraphs, and its first non-empty lines."""
    path = os.path.join(root, pkg, "copyright")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise DebError(f"{path}: {e.strerror}") from None
    names = []
    for m in re.finditer(r"^License:[ \t]*(\S.*)$", text, re.M):
        if m.group(1).strip() not in names:
            names.append(m.group(1).strip())
    if names:
        return {"licenses": names, "copyright_file": path}
    head = [ln.strip() for ln in text.split("\n") if ln.strip()][:6]
    names, statements = licences_in_prose(text)
    out = {"licenses": names, "copyright_excerpt": " ".join(head)[:400], "copyright_file": path}
    if statements:
        out["licence_statements"] = statements
    return out
