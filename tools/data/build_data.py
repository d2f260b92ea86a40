#!/usr/bin/python3
"""`make data`: build the study's four tasks into build/data/ from installed Debian packages
(tools/deps-study.txt) and apt's package lists, then write build/data/manifest.json with the
source package versions, the archive dates of the lists and a sha256 of every built file.

    /usr/bin/python3 tools/data/build_data.py [--out build/data] [--lists DIR]

--lists names an apt list directory holding *_Packages and *_Translation-en files; the
default is build/data-work/apt-lists, filled by `apt-get update -o Acquire::Languages=en`
into that directory (root needed) when it has no Translation-en yet.  The system's own lists
(/var/lib/apt/lists) are never touched.  The build is deterministic for fixed inputs.
"""
import argparse
import glob
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import deb  # noqa: E402
import rdata  # noqa: E402
import tasks  # noqa: E402
import textsrc  # noqa: E402

DSLABS = "/usr/lib/R/site-library/dslabs/data/Rdata.rdx"
FORTUNES = "/usr/share/games/fortunes"
GCIDE = "/usr/share/dictd/gcide.dict.dz"
SOURCES = {"rating": ["r-cran-dslabs"], "attribution": ["fortunes", "fortunes-min", "dict-gcide"],
           "section": ["apt lists"], "synopsis": ["apt lists"]}


def read_gcide(path):
    with gzip.open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    entries = textsrc.parse_gcide_quotes(text, path)
    for e in entries:
        e["src"], e["file"] = "gcide", "gcide"
    return entries


def read_fortune_dir(d):
    entries = []
    for path in sorted(glob.glob(os.path.join(d, "*"))):
        base = os.path.basename(path)
        if "." in base or os.path.isdir(path) or os.path.islink(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for e in textsrc.parse_fortunes(f.read(), path):
                e["file"], e["src"] = base, "fortunes"
                entries.append(e)
    return entries


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/data")
    ap.add_argument("--lists", default="build/data-work/apt-lists")
    args = ap.parse_args(argv)
    try:
        versions = {p: deb.package_version(p) for p in ("r-cran-dslabs", "fortunes", "fortunes-min", "dict-gcide")}
        if not glob.glob(os.path.join(args.lists, "*_Translation-en*")):
            print(f"data: fetching apt lists with English translations into {args.lists}")
            deb.fetch_lists(args.lists)
        dates = deb.release_dates(args.lists)
    except deb.DebError as e:
        print(f"data: {e}", file=sys.stderr)
        return 1
    out = args.out
    stats = {}
    # the manifest marks a finished build: drop the old one before touching files
    if os.path.exists(os.path.join(out, "manifest.json")):
        os.remove(os.path.join(out, "manifest.json"))

    # rating: MovieLens in r-cran-dslabs
    df = rdata.data_frame(rdata.lazyload(DSLABS, "movielens"), DSLABS + ":movielens")
    stats["rating"] = tasks.write_task(out, "rating", tasks.rating_units(df), labels=list("12345"),
                                       keep_order=True, source="r-cran-dslabs movielens")

    # section + synopsis: apt's Packages and Translation-en
    pk = deb.load_index(args.lists, "Packages", lambda p: p.get("Package"))
    tr = deb.load_index(args.lists, "Translation-en",
                        lambda p: (p.get("Package"), p.get("Description-md5")))
    units = tasks.package_units(pk, tr, deb.is_person)
    labels = tasks.top_sections(units, tasks.N_SECTIONS)
    sec_units = {u: [it for it in items if it["section"] in labels] for u, items in units.items()}
    stats["section"] = tasks.write_task(out, "section", sec_units, labels=labels,
                                        source="apt Packages + Translation-en")
    stats["synopsis"] = tasks.write_task(out, "synopsis", units,
                                         source="apt Packages + Translation-en")

    # attribution: fortunes and GCIDE citations
    qunits = tasks.quote_units(read_fortune_dir(FORTUNES) + read_gcide(GCIDE))
    stats["attribution"] = tasks.write_task(out, "attribution", qunits, labels=["[1]", "[2]"],
                                            pool=qunits, source="fortunes, fortunes-min, dict-gcide")

    common.write_json(os.path.join(out, "manifest.json"), {
        "format": "edgetune-data", "version": common.MANIFEST_VERSION,
        "packages": versions, "apt_lists": dates, "task_sources": SOURCES,
        "apt_list_files": {os.path.basename(p): common.sha256_file(p)
                           for kind in ("Packages", "Translation-en")
                           for p in deb.list_files(args.lists, kind)},
        "seed": tasks.SEED, "tasks": sorted(stats),
        "files": common.hash_tree(out)})
    for t, st in sorted(stats.items()):
        maj = st["majority_baseline"]["accuracy"] if st["majority_baseline"] else None
        pp = st["profile_prior_baseline"]["accuracy"] if st["profile_prior_baseline"] else None
        print(f"data: {t:12s} users {st['n_users']:3d}  test {st['n_test']:4d}  "
              f"labels {st['n_labels']}  majority acc {maj}  profile-prior acc {pp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
