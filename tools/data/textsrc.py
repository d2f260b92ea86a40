"""Readers for the text formats Debian's text packages ship, used by the task builders and
the corpus: fortune files (fortunes, fortunes-min), dictd databases (dict-foldoc,
dict-jargon, dict-gcide), SWORD zText Bible modules (sword-text-web) and WordNet data files
(wordnet-base).  Each reader takes paths (so tests can give small fixture files) and returns
plain Python values; a malformed file raises SourceError naming the file and the position.

Formats:
  * fortune: entries separated by a line holding only '%'; an attribution is a last line
    of the form '<spaces>-- Author[, source]'.  (The .dat files are strfile indexes, unused.)
  * GCIDE citations: in the dictd text, an indented block quotation whose last line ends
    with '--Author.' (e.g. '--Shak.', '--Milton.').
  * dictd: <name>.index lines 'headword TAB offset TAB length' with offset and length in
    dictd's base64 digits (A-Z a-z 0-9 + /, most significant first) into the uncompressed
    <name>.dict (dictzip is gzip with a random-access table, so gzip reads it whole).
  * SWORD zText (sword's zverse.cpp): <t>.bzs holds per block three little-endian uint32s
    (offset in <t>.bzz, compressed size, uncompressed size); <t>.bzv holds per verse slot a
    uint32 block number, a uint32 offset in the uncompressed block and a uint16 size; blocks
    are zlib streams (CompressType=ZIP).  The text is OSIS XML; chapter milestones
    (<chapter sID=.../>) start a new chapter, notes and titles are dropped.
  * WordNet data.<pos>: lines starting with two spaces are the licence header; each synset
    line ends with '| gloss'.
"""
import gzip
import os
import re
import struct
import zlib


class SourceError(ValueError):
    pass


# ---------------------------------------------------------------- fortunes

_ATTRIB = re.compile(r"^\s*--\s*(\S.*?)\s*$")


def normalize_author(raw):
    """The author part of an attribution: 'Mark Twain, "Pudd'nhead Wilson"' -> 'Mark Twain'.
    Returns None for attributions that name no person (a title in quotes, 'Seen on ...',
    an address, anything without a capitalized word)."""
    a = raw.strip()
    a = re.split(r",|;|\(|\[|\s+-\s+|\s+in\s+\"|\s+\"", a)[0].strip(" .\t")
    if not a or a[0] in "\"'`<#" or "@" in a or len(a) > 40:
        return None
    if re.match(r"(?i)(seen|found|overheard|heard|graffit|sign|unknown|anon|author|from|"
                r"bumper|message|the |a |an |on |in |as |via )", a):
        return None
    if any(c.isdigit() for c in a) or not re.match(r"[A-Z]", a):
        return None
    return a


def parse_fortunes(text, where="<fortunes>"):
    """Entries of a fortune file as dicts {text, author (or None), index}."""
    text = text.replace("\r\n", "\n")
    out = []
    for i, chunk in enumerate(re.split(r"\n%[ \t]*\n", "\n" + text + "\n")):
        lines = chunk.strip("\n").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or not "".join(lines).strip():
            continue
        author = None
        m = _ATTRIB.match(lines[-1])
        if m and len(lines) > 1:
            author = normalize_author(m.group(1))
            lines = lines[:-1]
        body = "\n".join(ln.rstrip() for ln in lines).strip("\n")
        if body.strip():
            out.append({"text": body, "author": author, "index": i})
    return out


def parse_gcide_quotes(text, where="<gcide>"):
    """Block quotations of the GCIDE dictionary text: runs of lines indented by 8 or more
    spaces whose last line ends in '  --Author.' (the 1913 Webster citation form), as dicts
    {text, author, index}.  Inline usage fragments ("..." --Shak.) are not taken."""
    out, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n") + [""]:
        if re.match(r"^ {8,}\S", line):
            cur.append(line.strip())
            continue
        if cur:
            m = re.search(r"(?:^|\s)--\s*([A-Z][^\n]*?)\s*$", cur[-1])
            if m:
                author = m.group(1).rstrip(".").strip()
                body = " ".join(cur)
                body = body[:body.rfind("--")].strip()
                if body and author and not any(c.isdigit() for c in author):
                    out.append({"text": body, "author": author, "index": len(out)})
            cur = []
    return out


# ---------------------------------------------------------------- dictd

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def dictd_b64(s):
    """A dictd base64 number (most significant digit first)."""
    v = 0
    for c in s:
        d = _B64.find(c)
        if d < 0:
            raise SourceError(f"bad dictd base64 digit {c!r} in {s!r}")
        v = v * 64 + d
    return v


def read_dictd(index_path, dict_path):
    """Entries of a dictd database as (headword, text), in index order; dictd's own
    00-database-* meta entries are skipped."""
    opener = gzip.open if dict_path.endswith(".dz") or dict_path.endswith(".gz") else open
    try:
        with opener(dict_path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise SourceError(f"{dict_path}: cannot read: {e}") from None
    out = []
    with open(index_path, encoding="utf-8", errors="replace") as f:
        for ln, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise SourceError(f"{index_path}:{ln}: expected 3 tab-separated fields")
            try:
                off, n = dictd_b64(parts[1]), dictd_b64(parts[2])
            except SourceError as e:
                raise SourceError(f"{index_path}:{ln}: {e}") from None
            if off + n > len(data):
                raise SourceError(f"{index_path}:{ln}: entry {parts[0]!r} at {off}+{n} "
                                  f"runs past the end of {dict_path} ({len(data)} bytes)")
            if parts[0].startswith("00-database") or parts[0].startswith("00database"):
                continue
            out.append((parts[0], data[off:off + n].decode("utf-8", errors="replace")))
    return out


# ---------------------------------------------------------------- SWORD zText

def _osis_to_text(s):
    s = re.sub(r"<note\b[^>]*/>", "", s)
    s = re.sub(r"<note\b.*?</note>", " ", s, flags=re.S)
    s = re.sub(r"<title\b.*?</title>", "", s, flags=re.S)
    s = re.sub(r"<(div|p|l|lg)\b[^>]*type=\"x-p\"[^>]*/>", "\n", s)
    s = re.sub(r"<(lb|l|lg|p)\b[^>]*/?>", "\n", s)
    s = re.sub(r"<[^>]*>", "", s)
    s = re.sub(r"[ \t]+([,.;:!?])", r"\1", s)
    s = s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return s


def read_ztext(module_dir, testament):
    """Chapters of one testament ('ot' or 'nt') of a zText module as a list of
    (chapter osisID, text).  Verse texts join with a space; paragraph marks become newlines."""
    paths = {ext: os.path.join(module_dir, f"{testament}.{ext}") for ext in ("bzs", "bzv", "bzz")}
    raw = {}
    for ext, p in paths.items():
        with open(p, "rb") as f:
            raw[ext] = f.read()
    if len(raw["bzs"]) % 12 or len(raw["bzv"]) % 10:
        raise SourceError(f"{paths['bzs']}: index sizes {len(raw['bzs'])}/{len(raw['bzv'])} "
                          "are not multiples of 12/10")
    blocks = []
    for i in range(0, len(raw["bzs"]), 12):
        off, csize, usize = struct.unpack("<III", raw["bzs"][i:i + 12])
        if off + csize > len(raw["bzz"]):
            raise SourceError(f"{paths['bzs']}: block {i // 12} at {off}+{csize} past the end "
                              f"of {paths['bzz']}")
        try:
            b = zlib.decompress(raw["bzz"][off:off + csize]) if csize else b""
        except zlib.error as e:
            raise SourceError(f"{paths['bzz']}: block {i // 12}: {e}") from None
        blocks.append(b)
    chapters, cur_id, cur = [], None, []
    for i in range(0, len(raw["bzv"]), 10):
        bnum, start, size = struct.unpack("<IIH", raw["bzv"][i:i + 10])
        if size == 0:
            continue
        if bnum >= len(blocks) or start + size > len(blocks[bnum]):
            raise SourceError(f"{paths['bzv']}: verse slot {i // 10} points outside block {bnum}")
        osis = blocks[bnum][start:start + size].decode("utf-8", errors="replace")
        m = re.search(r"<chapter\b[^>]*\bsID=\"([^\"]+)\"", osis)
        if m:
            if cur_id is not None:
                chapters.append((cur_id, _tidy(" ".join(cur))))
            cur_id, cur = m.group(1), []
            continue
        if cur_id is not None:
            cur.append(_osis_to_text(osis))
    if cur_id is not None:
        chapters.append((cur_id, _tidy(" ".join(cur))))
    return [(cid, t) for cid, t in chapters if t]


def _tidy(s):
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in s.split("\n")]
    return "\n".join(ln for ln in lines if ln)


# ---------------------------------------------------------------- WordNet

def read_wordnet_glosses(data_path):
    """(synset offset, first lemma, gloss) of every synset line of a WordNet data file."""
    out = []
    with open(data_path, encoding="utf-8", errors="replace") as f:
        for ln, line in enumerate(f, 1):
            if line.startswith("  ") or not line.strip():
                continue
            head, sep, gloss = line.partition(" | ")
            if not sep:
                raise SourceError(f"{data_path}:{ln}: synset line without ' | ' gloss")
            fields = head.split()
            if len(fields) < 5:
                raise SourceError(f"{data_path}:{ln}: synset line with {len(fields)} fields")
            out.append((fields[0], fields[4].replace("_", " "), gloss.strip()))
    return out
