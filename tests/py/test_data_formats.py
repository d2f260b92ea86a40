"""Parsers of the data tooling (tools/data/) on small fixture files this test writes itself:
R's XDR serialization and lazy-load databases, deb822 lists, the maintainer filter, fortune
files, dictd databases, SWORD zText modules and WordNet data files.  The study packages are
not installed in CI, so nothing here reads /usr/share.  Each decoded value is compared
exactly (these are parsers: any difference is a bug); each malformed input must raise the
module's own error type, never crash or hang.
"""
import gzip
import os
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "data"))
from harness import case, main  # noqa: E402
import deb  # noqa: E402
import rdata  # noqa: E402
import textsrc  # noqa: E402

TMP = tempfile.mkdtemp(prefix="et_data_formats_")


# ------------------------------------------------ an independent minimal XDR writer

def _i(v):
    return struct.pack(">i", v)


def _flags(t, attr=False, tag=False, obj=False, levels=0):
    return _i(t | (1 << 8 if obj else 0) | (1 << 9 if attr else 0) | (1 << 10 if tag else 0)
              | (levels << 12))


def _charsxp(s):
    if s is None:
        return _flags(9) + _i(-1)
    b = s.encode("utf-8")
    return _flags(9, levels=8) + _i(len(b)) + b


def _sym(name):
    return _flags(1) + _charsxp(name)


def _attrs(pairs):
    """A pairlist of (tag, encoded value)."""
    out = b""
    for tag, val in pairs:
        out += _flags(2, tag=True) + _sym(tag) + val
    return out + _i(254)


def _ints(vals, attrs=None):
    body = _i(len(vals)) + b"".join(_i(-2147483648 if v is None else v) for v in vals)
    return _flags(13, attr=bool(attrs), obj=bool(attrs)) + body + (_attrs(attrs) if attrs else b"")


def _reals(vals, attrs=None):
    body = _i(len(vals)) + b"".join(struct.pack(">d", float("nan") if v is None else v)
                                    for v in vals)
    return _flags(14, attr=bool(attrs)) + body + (_attrs(attrs) if attrs else b"")


def _strs(vals, attrs=None):
    body = _i(len(vals)) + b"".join(_charsxp(v) for v in vals)
    return _flags(16, attr=bool(attrs)) + body + (_attrs(attrs) if attrs else b"")


def _list(items, attrs=None):
    body = _i(len(items)) + b"".join(items)
    return _flags(19, attr=bool(attrs), obj=bool(attrs)) + body + (_attrs(attrs) if attrs else b"")


def _stream(item, version=3):
    head = b"X\n" + _i(version) + _i(0x40200) + _i(0x30500)
    if version == 3:
        head += _i(5) + b"UTF-8"
    return head + item


def _movie_frame():
    genre = _ints([2, 1, None], attrs=[("levels", _strs(["Comedy", "Drama"])),
                                       ("class", _strs(["factor"]))])
    return _list([_ints([7, 7, 9]), _strs(["Heat", None, "Up"]), genre,
                  _reals([4.5, 0.5, None])],
                 attrs=[("names", _strs(["userId", "title", "genres", "rating"])),
                        ("class", _strs(["data.frame"])),
                        ("row.names", _ints([None, -3]))])


@case
def rdata_frame_roundtrip():
    for version in (2, 3):
        df = rdata.data_frame(rdata.unserialize(_stream(_movie_frame(), version)))
        assert df["userId"] == [7, 7, 9], df["userId"]
        assert df["title"] == ["Heat", None, "Up"], df["title"]
        assert df["genres"] == ["Drama", "Comedy", None], df["genres"]
        assert df["rating"][:2] == [4.5, 0.5] and df["rating"][2] is None, df["rating"]


@case
def rdata_refs_and_altrep():
    # the symbol "names" written twice, the second time as REFSXP index 1 (flags 1 << 8)
    ref = _i(255 | (1 << 8))
    item = _flags(19, attr=True) + _i(2) + _ints([1]) + _ints([2]) + \
        _flags(2, tag=True) + _sym("names") + _strs(["a", "b"]) + \
        _flags(2, tag=True) + ref + _strs(["c"]) + _i(254)
    v = rdata.unserialize(_stream(item))
    # the second tag resolves to the same symbol, so its value replaces the first
    assert list(v) == [[1], [2]] and v.attrs == {"names": ["c"]}, (list(v), v.attrs)
    # ALTREP compact_intseq 5:8 (info pairlist: class sym, package sym, type int)
    info = _flags(2) + _sym("compact_intseq") + _flags(2) + _sym("base") + \
        _flags(2) + _ints([13]) + _i(254)
    alt = _i(238) + info + _reals([4.0, 5.0, 1.0]) + _i(254)
    assert list(rdata.unserialize(_stream(alt))) == [5, 6, 7, 8]


@case
def rdata_lazyload_database():
    chunk_obj = _stream(_movie_frame())
    comp = zlib.compress(chunk_obj)
    rdb = b"\x00" * 3 + struct.pack(">I", len(chunk_obj)) + comp   # offset 3, not 0
    index = _list([_list([_ints([3, len(rdb) - 3])], attrs=[("names", _strs(["movies"]))]),
                   _list([]), _flags(10) + _i(1) + _i(1)],
                  attrs=[("names", _strs(["variables", "references", "compressed"]))])
    d = os.path.join(TMP, "lazy")
    os.makedirs(d, exist_ok=True)
    with gzip.open(os.path.join(d, "Rdata.rdx"), "wb") as f:
        f.write(_stream(index))
    with open(os.path.join(d, "Rdata.rdb"), "wb") as f:
        f.write(rdb)
    rdx = os.path.join(d, "Rdata.rdx")
    assert rdata.lazyload_names(rdx) == ["movies"]
    assert rdata.data_frame(rdata.lazyload(rdx, "movies"))["userId"] == [7, 7, 9]
    try:
        rdata.lazyload(rdx, "nope")
        raise AssertionError("missing variable accepted")
    except rdata.RDataError as e:
        assert "nope" in str(e)


@case
def rdata_malformed_inputs_raise():
    good = _stream(_movie_frame())
    bad = [b"", b"A\n" + good[2:], good[:len(good) // 2],
           _stream(_i(255 | (9 << 8))),                   # reference to an empty table
           _stream(_flags(16) + _i(1 << 30)),             # length far beyond the data
           _stream(_i(99))]                               # unknown type
    for k, b in enumerate(bad):
        try:
            rdata.unserialize(b, f"fixture{k}")
            raise AssertionError(f"malformed input {k} accepted")
        except rdata.RDataError as e:
            assert f"fixture{k}" in str(e), str(e)
    for cut in range(0, len(good), 7):                    # every truncation raises cleanly
        try:
            rdata.unserialize(good[:cut])
        except rdata.RDataError:
            continue
        raise AssertionError(f"truncation at {cut} accepted")


@case
def rdata_mutated_streams_never_crash():
    """Byte flips of a valid stream: each decode either succeeds or raises RDataError
    (no other exception, no hang); 2,000 seeded mutations, milliseconds each."""
    import random
    good = bytearray(_stream(_movie_frame()))
    r = random.Random(7)
    ok = bad = 0
    for _ in range(2000):
        b = bytearray(good)
        for _ in range(r.randint(1, 4)):
            b[r.randrange(len(b))] = r.randrange(256)
        try:
            rdata.data_frame(rdata.unserialize(bytes(b), "mut"), "mut")
            ok += 1
        except rdata.RDataError:
            bad += 1
    assert bad > 100, f"only {bad} of 2000 mutations rejected ({ok} decoded): checks too lax"


# ------------------------------------------------ deb822, maintainers

PACKAGES = """Package: vim
Maintainer: Jane Doe <jane@example.org>
Section: editors
Description: Vi IMproved - enhanced vi editor
Description-md5: 0123

Package: foo-doc
Source: foo (1.2-1)
Maintainer: Debian Foo Team <pkg-foo@lists.alioth.debian.org>
Section: contrib/doc
Description: docs
"""

TRANSLATION = """Package: vim
Description-md5: 0123
Description-en: Vi IMproved - enhanced vi editor
 Vim is an almost compatible version
 of the UNIX editor Vi.
 .
 Second   paragraph.
"""


@case
def deb822_and_long_description():
    ps = deb.parse_deb822(PACKAGES, "Packages")
    assert [p["Package"] for p in ps] == ["vim", "foo-doc"]
    assert ps[1]["Source"] == "foo (1.2-1)" and ps[1]["Section"] == "contrib/doc"
    t = deb.parse_deb822(TRANSLATION)[0]
    syn, body = deb.long_description(t["Description-en"])
    assert syn == "Vi IMproved - enhanced vi editor", syn
    assert body == "Vim is an almost compatible version of the UNIX editor Vi.\nSecond paragraph.", body
    for bad in (" continuation first\n", "Package vim\n", "Two words: x\n"):
        try:
            deb.parse_deb822(bad, "fixture")
            raise AssertionError(f"accepted {bad!r}")
        except deb.DebError as e:
            assert "fixture:1" in str(e), str(e)


@case
def deb_index_over_list_files():
    d = os.path.join(TMP, "lists")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "x_dists_bookworm_main_binary-amd64_Packages"), "w") as f:
        f.write(PACKAGES)
    with gzip.open(os.path.join(d, "x_dists_bookworm-updates_main_binary-amd64_Packages.gz"),
                   "wt") as f:
        f.write("Package: vim\nMaintainer: Other <o@example.org>\nSection: x\n\n"
                "Package: new\nMaintainer: N <n@example.org>\n")
    with open(os.path.join(d, "x_dists_bookworm_InRelease"), "w") as f:
        f.write("Origin: Debian\nDate: Sat, 07 Oct 2023 09:04:14 UTC\n")
    idx = deb.load_index(d, "Packages", lambda p: p.get("Package"))
    assert sorted(idx) == ["foo-doc", "new", "vim"], sorted(idx)
    assert idx["vim"]["Section"] == "editors", "the release suite must win over -updates"
    assert deb.release_dates(d) == {"x_dists_bookworm_InRelease": "Sat, 07 Oct 2023 09:04:14 UTC"}


@case
def maintainer_people_not_teams():
    people = ["Jane Doe <jane@example.org>", "Dmitry Smirnov <onlyjob@debian.org>",
              "Andreas Tille <tille@debian.org>", "José Núñez <jn@correo.es>",
              "\"Doe, John\" <jd@example.net>"]
    teams = ["Debian Foo Team <pkg-foo@lists.alioth.debian.org>",
             "Debian QA Group <packages@qa.debian.org>",
             "Docker Compose Team <team+docker-compose@tracker.debian.org>",
             "Aide Maintainers <aide@packages.debian.org>",
             "Matrix Packaging Team <pkg-matrix-maintainers@alioth-lists.debian.net>",
             "pkg-lxc <pkg-lxc-devel@lists.alioth.debian.org>",
             "Linaro Packagers <linaro-pkg@lists.launchpad.net>",
             "Debian OpenStack <team+openstack@tracker.debian.org>",
             "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
             "", "nobody", "Jane Doe"]
    for p in people:
        assert deb.is_person(p), f"person rejected: {p}"
    for t in teams:
        assert not deb.is_person(t), f"team accepted: {t}"
    assert deb.parse_maintainer("Jane Doe <Jane@Example.org>") == ("Jane Doe", "jane@example.org")


# ------------------------------------------------ fortunes, dictd, SWORD, WordNet

FORTUNES = """A plain fortune with no author.
%
Always do right.  This will gratify some people and astonish the rest.
		-- Mark Twain
%
The only way to get rid of a temptation
is to yield to it.
		-- Oscar Wilde, "The Picture of Dorian Gray"
%
Quote from a sign.
		-- Seen on a bumper sticker
%
%
Last one.
	-- Lao Tse (570 BC)
"""


@case
def fortunes_parse_and_authors():
    es = textsrc.parse_fortunes(FORTUNES, "fixture")
    assert [e["author"] for e in es] == [None, "Mark Twain", "Oscar Wilde", None, "Lao Tse"], \
        [e["author"] for e in es]
    assert es[2]["text"] == "The only way to get rid of a temptation\nis to yield to it."
    assert es[0]["text"] == "A plain fortune with no author."
    assert textsrc.normalize_author('"Star Wars"') is None
    assert textsrc.normalize_author("Anonymous") is None
    assert textsrc.normalize_author("J. R. R. Tolkien, The Hobbit") == "J. R. R. Tolkien"


GCIDE = """Abide \\A*bide"\\, v. t.
   1. To wait for; to be prepared for.
      [1913 Webster]

            Bonds and afflictions abide me.       --Acts xx. 23.
      [1913 Webster]

            Thou shalt abide her judgment on it.
                                                  --Tennyson.

   2. To endure. "Not to be abided." --Shak.
            An indented line without attribution.
"""


@case
def gcide_block_citations():
    got = textsrc.parse_gcide_quotes(GCIDE, "fixture")
    # the Acts citation has digits (a Bible reference, not a person) and the inline
    # "--Shak." fragment is no block quotation: only Tennyson remains
    assert [(e["author"], e["text"]) for e in got] == \
        [("Tennyson", "Thou shalt abide her judgment on it.")], got


def _b64(v):
    s = ""
    while True:
        s = textsrc._B64[v % 64] + s
        v //= 64
        if v == 0:
            return s


@case
def dictd_read():
    entries = [("00-database-url", "http://x\n"), ("banner", "banner\n  n. A top graphic.\n"),
               ("kludge", "kludge\n  n. A clever hack.\n")]
    data, index = b"", ""
    for head, body in entries:
        b = body.encode()
        index += f"{head}\t{_b64(len(data))}\t{_b64(len(b))}\n"
        data += b
    ip, dp = os.path.join(TMP, "x.index"), os.path.join(TMP, "x.dict.dz")
    with open(ip, "w") as f:
        f.write(index)
    with gzip.open(dp, "wb") as f:
        f.write(data)
    got = textsrc.read_dictd(ip, dp)
    assert got == [("banner", "banner\n  n. A top graphic.\n"),
                   ("kludge", "kludge\n  n. A clever hack.\n")], got
    assert textsrc.dictd_b64("BA") == 64 and textsrc.dictd_b64("/") == 63
    with open(ip, "a") as f:
        f.write(f"past\t{_b64(len(data))}\tZ\n")
    try:
        textsrc.read_dictd(ip, dp)
        raise AssertionError("entry past the end accepted")
    except textsrc.SourceError as e:
        assert "x.index:4" in str(e), str(e)


@case
def sword_ztext_read():
    # two blocks; verse slots: empty, book intro, chapter 1, two verses, chapter 2, a verse
    b0 = ('<div osisID="Gen" type="book"/><title>Genesis</title>'
          '<chapter osisID="Gen.1" sID="Gen.1"/>'
          '<w lemma="x">In</w> <w>the</w> beginning,<note placement="foot">a note</note>God.'
          '<div type="x-p" sID="p1"/>And it was so.').encode()
    b1 = '<chapter osisID="Gen.2" sID="Gen.2"/>Thus &amp; so.'.encode()
    s0 = b0.index(b"<chapter")
    e0 = b0.index(b"<w lemma")
    e1 = b0.index(b"<div type")
    slots = [(0, 0, 0), (0, 0, s0), (0, s0, e0 - s0), (0, e0, e1 - e0), (0, e1, len(b0) - e1),
             (1, 0, b1.index(b"Thus")), (1, b1.index(b"Thus"), len(b1) - b1.index(b"Thus"))]
    d = os.path.join(TMP, "ztext")
    os.makedirs(d, exist_ok=True)
    bzz, bzs = b"", b""
    for b in (b0, b1):
        c = zlib.compress(b)
        bzs += struct.pack("<III", len(bzz), len(c), len(b))
        bzz += c
    for name, data in (("nt.bzs", bzs), ("nt.bzz", bzz),
                       ("nt.bzv", b"".join(struct.pack("<IIH", *s) for s in slots))):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    got = textsrc.read_ztext(d, "nt")
    assert got == [("Gen.1", "In the beginning, God.\nAnd it was so."),
                   ("Gen.2", "Thus & so.")], got
    with open(os.path.join(d, "nt.bzv"), "ab") as f:
        f.write(struct.pack("<IIH", 5, 0, 10))
    try:
        textsrc.read_ztext(d, "nt")
        raise AssertionError("verse in a missing block accepted")
    except textsrc.SourceError:
        pass


@case
def wordnet_glosses():
    p = os.path.join(TMP, "data.noun")
    with open(p, "w") as f:
        f.write("  1 This software and database is being provided\n"
                "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived\n"
                "00002137 03 n 02 abstraction 0 abstract_entity 0 000 | a general concept  \n")
    got = textsrc.read_wordnet_glosses(p)
    assert got == [("00001740", "entity", "that which is perceived"),
                   ("00002137", "abstraction", "a general concept")], got
    with open(p, "a") as f:
        f.write("00003 03 n no gloss here\n")
    try:
        textsrc.read_wordnet_glosses(p)
        raise AssertionError("synset line without gloss accepted")
    except textsrc.SourceError as e:
        assert "data.noun:4" in str(e)


@case
def copyright_licences():
    """DEP-5 files give their License: fields; a free-form file (FOLDOC's) the grants its prose
    states, each with its paragraph; unrecognised prose no name, only the excerpt."""
    def put(pkg, text):
        os.makedirs(os.path.join(TMP, "doc", pkg), exist_ok=True)
        with open(os.path.join(TMP, "doc", pkg, "copyright"), "w", encoding="utf-8") as f:
            f.write(text)
    put("dep5", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                "Files: *\nLicense: MIT\n\nFiles: debian/*\nLicense: GPL-2+\n")
    put("prose", "This is the Debian prepackaged version of a dictionary.\n\n"
                 "     Permission is granted to copy, distribute and/or modify this\n"
                 "     document under the terms of the GNU Free Documentation\n"
                 "     License, Version 1.1 or any later version published by the Free\n"
                 "     Software Foundation.\n\n"
                 "  It is free software; you can redistribute it under the terms of the GNU General\n"
                 "  Public License as published by the Free Software Foundation; either version 2, or\n"
                 "  (at your option) any later version.\n\n"
                 "  Permission is granted to make and distribute verbatim copies of this file.\n")
    put("fixed", "Permission is granted ... under the GNU Free Documentation License, Version 1.3.\n")
    put("other", "Do what you like with it.\n")
    root = os.path.join(TMP, "doc")
    assert deb.package_licences("dep5", root)["licenses"] == ["MIT", "GPL-2+"]
    p = deb.package_licences("prose", root)
    assert p["licenses"] == ["GFDL-1.1+", "GPL-2+", "verbatim-copies-only"], p
    assert p["licence_statements"][0].startswith("Permission is granted to copy, distribute and/or modify "
                                                 "this document under the terms of the GNU Free"), p
    assert p["copyright_excerpt"].startswith("This is the Debian prepackaged"), p
    assert deb.package_licences("fixed", root)["licenses"] == ["GFDL-1.3"]
    o = deb.package_licences("other", root)
    assert o["licenses"] == [] and "licence_statements" not in o and o["copyright_excerpt"] == "Do what you like with it."
    try:
        deb.package_licences("absent", root)
        assert False, "a missing copyright file must raise"
    except deb.DebError as e:
        assert "absent/copyright" in str(e)


main()
