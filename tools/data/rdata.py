"""A reader for R's XDR serialization format and for the lazy-load databases R packages ship
their data sets in (data/Rdata.rdx + data/Rdata.rdb), so set-up tooling can read the
MovieLens ratings (r-cran-dslabs) and the novels (r-cran-janeaustenr, r-cran-tokenizers)
without R installed.

Format facts (R Internals, "Serialization Formats"; src/main/serialize.c):
  * a stream starts "X\\n" (XDR, big-endian), then ints version, writer version, minimal
    reader version; version 3 adds an int length and the native encoding name;
  * every item starts with an int of flags: type = flags & 0xff, is-object bit 8, has-attr
    bit 9, has-tag bit 10, and for CHARSXP the encoding "levels" in flags >> 12;
  * pairlist-like items (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP) carry attr, tag, car and
    then the cdr; vectors carry a length, the elements, then the attributes;
  * symbols, environments and persistent names enter a reference table that REFSXP items
    index from 1 (index in flags >> 8, or in the next int when that is 0);
  * ALTREP items (type 238) carry (class info, state, attributes); the classes R writes for
    data are compact sequences, wrappers and deferred strings, decoded here to plain vectors.
A lazy-load database: .rdx is one compressed serialized list (variables = name -> c(offset,
length) into .rdb); each .rdb chunk is a 4-byte big-endian uncompressed length followed by a
zlib stream (compression type 1) or by a type byte 'Z' / '2' / 'X' (zlib, bzip2, xz).

Decoded values are plain Python: RVector (a list with .rtype and .attrs), RNull, RSymbol,
dicts for environments.  Data frames become {column: list} via data_frame(); factors are
expanded to their level strings.  Every malformed input raises RDataError naming the file
and the offset; nothing here trusts a length read from the file beyond the bytes present.
"""
import bz2
import gzip
import lzma
import math
import struct
import zlib

NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE = 254, 253, 252, 251, 250
NAMESPACESXP, PACKAGESXP, PERSISTSXP, EMPTYENV, BASEENV = 249, 248, 247, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP, REFSXP = 240, 239, 238, 255
SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP = 7, 8, 9, 10, 13, 14
CPLXSXP, STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP = 15, 16, 17, 19, 20, 21
EXTPTRSXP, WEAKREFSXP, RAWSXP, S4SXP = 22, 23, 24, 25

NA_INTEGER = -2147483648
MAX_DEPTH = 2000   # nesting bound: a malformed file must not exhaust Python's stack


class RDataError(ValueError):
    pass


class RNullType:
    def __repr__(self):
        return "NULL"


RNull = RNullType()


class RSymbol(str):
    """A symbol (name), kept distinct from a character string."""


class RVector(list):
    """An R vector: elements in the list, R type in .rtype, attributes in .attrs (dict)."""

    def __init__(self, items=(), rtype=VECSXP, attrs=None):
        super().__init__(items)
        self.rtype = rtype
        self.attrs = attrs or {}


class _Pairlist(list):
    """A pairlist as a list of (tag, value); attributes are read into dicts from these."""

    def __init__(self, items=(), rtype=LISTSXP, attrs=None):
        super().__init__(items)
        self.rtype = rtype
        self.attrs = attrs or {}


class _Reader:
    def __init__(self, buf, where):
        self.buf = buf
        self.pos = 0
        self.where = where
        self.refs = []
        self.depth = 0

    def fail(self, what):
        raise RDataError(f"{self.where}: {what} at byte {self.pos}")

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            self.fail(f"truncated: need {n} bytes, {len(self.buf) - self.pos} left")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) | (lo & 0xffffffff)
        if n < 0:
            self.fail(f"negative length {n}")
        return n

    def header(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            self.fail(f"format {fmt!r} is not XDR (only 'X\\n' streams are supported)")
        version = self.int()
        self.int()
        self.int()
        if version == 3:
            self.take(self.int())
        elif version != 2:
            self.fail(f"serialization version {version} (expected 2 or 3)")

    def attrs(self):
        pl = self.item()
        if pl is RNull:
            return {}
        if not isinstance(pl, _Pairlist):
            self.fail("attributes are not a pairlist")
        return {str(t): v for t, v in pl}

    def item(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH}")
        try:
            return self._item()
        finally:
            self.depth -= 1

    def _item(self):
        flags = self.int()
        t = flags & 0xff
        has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if t == NILVALUE:
            return RNull
        if t in (GLOBALENV, EMPTYENV, BASEENV, BASENAMESPACE, UNBOUNDVALUE, MISSINGARG):
            return {"__env__": t}
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            if not 1 <= i <= len(self.refs):
                self.fail(f"reference {i} outside table of {len(self.refs)}")
            return self.refs[i - 1]
        if t == PERSISTSXP or t in (NAMESPACESXP, PACKAGESXP):
            if self.int() != 0:
                self.fail("string vector in persistent name has non-zero flag")
            v = [self.item() for _ in range(self.length())]
            self.refs.append({"__persist__": v})
            return self.refs[-1]
        if t == SYMSXP:
            s = RSymbol(self.item() or "")
            self.refs.append(s)
            return s
        if t == ENVSXP:
            env = {"__env__": ENVSXP}
            self.refs.append(env)
            self.int()   # locked
            env["enclos"] = self.item()
            env["frame"] = self.item()
            env["hashtab"] = self.item()
            env["attrib"] = self.item()
            return env
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            # a pairlist: iterate along the cdr instead of recursing, long lists are common
            out = _Pairlist(rtype=t)
            while True:
                attrs = self.attrs() if has_attr else {}
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                if attrs and len(out) == 1:
                    out.attrs = attrs
                flags = self.int()
                t2 = flags & 0xff
                if t2 == NILVALUE:
                    return out
                if t2 not in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP,
                              ATTRLANGSXP, ATTRLISTSXP):
                    self.pos -= 4          # an improper cdr: read it as the last element
                    out.append((None, self.item()))
                    return out
                has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None                # NA_character_
            if n < 0:
                self.fail(f"CHARSXP length {n}")
            raw = self.take(n)
            enc = "latin-1" if (flags >> 12) & 4 else "utf-8"
            return raw.decode(enc, errors="replace")
        if t in (LGLSXP, INTSXP):
            n = self.length()
            vals = struct.unpack(f">{n}i", self.take(4 * n))
            v = RVector([None if x == NA_INTEGER else x for x in vals], t)
        elif t == REALSXP:
            n = self.length()
            vals = struct.unpack(f">{n}d", self.take(8 * n))
            v = RVector([None if math.isnan(x) else x for x in vals], t)
        elif t == CPLXSXP:
            n = self.length()
            vals = struct.unpack(f">{2 * n}d", self.take(16 * n))
            v = RVector([complex(vals[2 * i], vals[2 * i + 1]) for i in range(n)], t)
        elif t == RAWSXP:
            v = RVector(list(self.take(self.length())), t)
        elif t in (STRSXP, VECSXP, EXPRSXP):
            n = self.length()
            if n > len(self.buf) - self.pos:   # every element needs at least 4 bytes
                self.fail(f"vector length {n} exceeds the data left")
            v = RVector([self.item() for _ in range(n)], t)
        elif t == S4SXP:
            v = RVector([], t)
        elif t == ALTREP_SXP:
            return self.altrep()
        elif t == BCODESXP:
            self.fail("byte code (BCODESXP) is not supported in data files")
        elif t in (SPECIALSXP, BUILTINSXP):
            return RSymbol(self.take(self.int()).decode("latin-1"))
        elif t in (EXTPTRSXP, WEAKREFSXP):
            self.fail(f"type {t} (external pointer / weak ref) is not supported")
        else:
            self.fail(f"unknown SEXP type {t} (flags 0x{flags:x})")
        if has_attr:
            v.attrs = self.attrs()
        return v

    def altrep(self):
        info = self.item()
        state = self.item()
        attrs = self.item()
        cls = str(info[0][1]) if isinstance(info, _Pairlist) and info else "?"
        if cls in ("compact_intseq", "compact_realseq"):
            n, start, step = state[0], state[1], state[2]
            rt = INTSXP if cls == "compact_intseq" else REALSXP
            conv = int if rt == INTSXP else float
            v = RVector([conv(start + i * step) for i in range(int(n))], rt)
        elif cls.startswith("wrap_"):
            inner = state[0]
            v = RVector(list(inner), getattr(inner, "rtype", VECSXP), dict(inner.attrs))
        elif cls == "deferred_string":
            arg = state[0][1] if isinstance(state, _Pairlist) else state
            v = RVector([None if x is None else _num_to_str(x) for x in arg], STRSXP)
        else:
            self.fail(f"ALTREP class {cls!r} is not supported")
        if isinstance(attrs, _Pairlist):
            v.attrs.update({str(t): x for t, x in attrs})
        return v


def _num_to_str(x):
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def unserialize(buf, where="<bytes>"):
    """Decode one serialized R object (XDR) from bytes."""
    r = _Reader(buf, where)
    try:
        r.header()
        return r.item()
    except (IndexError, TypeError, KeyError, ValueError, OverflowError, AttributeError,
            struct.error) as e:
        if isinstance(e, RDataError):
            raise
        # a well-formed stream of an unexpected shape (e.g. ALTREP state of the wrong type)
        raise RDataError(f"{where}: malformed object near byte {r.pos}: {e}") from None


def _decompress_rds(buf, where):
    """An .rds/.rdx file: gzip, bzip2, xz or plain."""
    try:
        if buf[:2] == b"\x1f\x8b":
            return gzip.decompress(buf)
        if buf[:3] == b"BZh":
            return bz2.decompress(buf)
        if buf[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(buf)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise RDataError(f"{where}: cannot decompress: {e}") from None
    return buf


def read_rds(path):
    with open(path, "rb") as f:
        buf = f.read()
    return unserialize(_decompress_rds(buf, path), path)


def _rdb_chunk(rdb, off, n, where):
    chunk = rdb[off:off + n]
    if off < 0 or len(chunk) != n or n < 5:
        raise RDataError(f"{where}: chunk at {off} (+{n}) lies outside the file")
    ulen = struct.unpack(">I", chunk[:4])[0]
    body = chunk[4:]
    try:
        if body[:1] == b"Z":
            out = zlib.decompress(body[1:])
        elif body[:1] == b"2":
            out = bz2.decompress(body[1:])
        elif body[:1] == b"X":
            out = lzma.decompress(body[1:])
        elif body[:1] == b"0":
            out = body[1:]
        else:
            out = zlib.decompress(body)
    except (zlib.error, OSError, lzma.LZMAError, ValueError) as e:
        raise RDataError(f"{where}: chunk at {off}: cannot decompress: {e}") from None
    if len(out) != ulen:
        raise RDataError(f"{where}: chunk at {off}: {len(out)} bytes, header says {ulen}")
    return out


def lazyload_names(rdx_path):
    """Names of the variables in a lazy-load database (path of the .rdx file)."""
    idx = read_rds(rdx_path)
    return sorted(_index_vars(idx, rdx_path))


def _index_vars(idx, where):
    if not isinstance(idx, RVector) or "names" not in idx.attrs:
        raise RDataError(f"{where}: index is not a named list")
    names = list(idx.attrs["names"])
    if "variables" not in names:
        raise RDataError(f"{where}: index has no 'variables' (fields: {names})")
    var = idx[names.index("variables")]
    return dict(zip(var.attrs.get("names", []), var))


def lazyload(rdx_path, name):
    """One variable of a lazy-load database: lazyload(".../data/Rdata.rdx", "movielens")."""
    idx = read_rds(rdx_path)
    var = _index_vars(idx, rdx_path)
    if name not in var:
        raise RDataError(f"{rdx_path}: no variable {name!r} (have {sorted(var)})")
    off, n = (int(x) for x in var[name][:2])
    rdb_path = rdx_path[:-4] + ".rdb"
    with open(rdb_path, "rb") as f:
        rdb = f.read()
    return unserialize(_rdb_chunk(rdb, off, n, rdb_path), f"{rdb_path}[{name}]")


def column(v):
    """A column as a plain list; a factor becomes its level strings."""
    cls = v.attrs.get("class", [])
    if "factor" in cls:
        levels = v.attrs.get("levels", [])
        return [None if i is None or not 1 <= i <= len(levels) else levels[i - 1] for i in v]
    return list(v)


def data_frame(v, where="<data.frame>"):
    """A data.frame as {column name: list of values}."""
    if not isinstance(v, RVector) or v.rtype != VECSXP:
        raise RDataError(f"{where}: not a list (type {getattr(v, 'rtype', type(v))})")
    if not all(isinstance(c, RVector) for c in v):
        raise RDataError(f"{where}: a column is not a vector")
    names = v.attrs.get("names")
    if names is None or len(names) != len(v):
        raise RDataError(f"{where}: data frame without matching names")
    cols = {str(n): column(c) for n, c in zip(names, v)}
    lens = {len(c) for c in cols.values()}
    if len(lens) > 1:
        raise RDataError(f"{where}: columns of unequal length {sorted(lens)}")
    return cols
