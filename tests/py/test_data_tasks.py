"""Task builders (tools/data/tasks.py) on fixture users made up here: the half-star mapping,
deterministic and leak-free splits, the LaMP records of each task kind, the baselines in
stats.json (compared with values worked out by hand, exactly: they are counts and ratios of
small integers) and the manifest's hashes (a changed byte must be detected).
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "data"))
from harness import case, main  # noqa: E402
import common  # noqa: E402
import deb  # noqa: E402
import tasks  # noqa: E402

TMP = tempfile.mkdtemp(prefix="et_data_tasks_")


@case
def half_stars_round_up():
    want = {0.5: 1, 1.0: 1, 1.5: 2, 2.0: 2, 2.5: 3, 3.0: 3, 3.5: 4, 4.0: 4, 4.5: 5, 5.0: 5}
    for r, lab in want.items():
        assert tasks.rating_label(r) == lab, (r, tasks.rating_label(r))
    for bad in (0.0, -1.0, 5.5, None):
        assert tasks.rating_label(bad) is None, bad


def _movie_df():
    # user 1: 70 ratings in time order (enough for min_profile 64 + 6 queries); user 2: 10
    df = {k: [] for k in ("userId", "movieId", "title", "year", "genres", "rating", "timestamp")}
    for u, n in ((1, 70), (2, 10)):
        for i in range(n):
            df["userId"].append(u)
            df["movieId"].append(100 + i)
            df["title"].append(f"Film {i}")
            df["year"].append(1990 + i % 10)
            df["genres"].append("Drama")
            df["rating"].append([0.5, 3.0, 4.5, 4.0][i % 4])
            df["timestamp"].append(1000 - i)       # later rows are older
    return df


@case
def rating_queries_are_latest():
    units = tasks.rating_units(_movie_df())
    assert sorted(units) == ["ml1", "ml2"]
    splits = tasks.split_users(units, "rating", tasks.CONFIG["rating"], keep_order=True)
    assert [s[0] for s in splits] == ["ml1"], "user 2 has too few ratings"
    _, profile, train, test = splits[0]
    assert len(profile) == 64 and len(train) == 2 and len(test) == 4
    tq = [it["t"] for it in train + test]
    assert min(tq) > max(it["t"] for it in profile), "queries must be the latest ratings"
    recs, users, ev = tasks.make_records("rating", splits, list("12345"))
    r = recs["test"][0]
    assert r["input"].endswith("movie: " + test[0]["text"]), r["input"]
    assert r["output"] == test[0]["label"] and r["profile"][0]["score"] in "12345"
    assert set(ev["queries"]) == {x["id"] for x in recs["test"]}


def _pkg_units():
    """Maintainer 'a' with 20 packages, 3 of them siblings of source s0; 'b' with 5."""
    units = {"a": [], "b": []}
    for i in range(20):
        units["a"].append({"key": f"p{i}", "source": "s0" if i < 3 else f"s{i}",
                           "synopsis": f"tool number {i}", "body": f"body of package {i} " * 3,
                           "section": ["utils", "devel", "libs"][i % 3]})
    for i in range(5):
        units["b"].append({"key": f"q{i}", "source": f"t{i}", "synopsis": "x",
                           "body": "y z", "section": "net"})
    return units


@case
def splits_deterministic_and_leak_free():
    units = _pkg_units()
    cfg = {"min_profile": 8, "n_test": 4, "n_train": 2}
    a = tasks.split_users(units, "section", cfg, seed=1)
    b = tasks.split_users(units, "section", cfg, seed=1)
    c = tasks.split_users(units, "section", cfg, seed=2)
    assert a == b, "same seed, different split"
    assert a != c, "the seed has no effect"
    assert [s[0] for s in a] == ["a"], "user b must be dropped (5 items)"
    for seed in range(30):
        _, profile, train, test = tasks.split_users(units, "section", cfg, seed=seed)[0]
        qsrc = [it["source"] for it in train + test]
        assert len(set(qsrc)) == len(qsrc), "two queries from one source package"
        assert not set(qsrc) & {it["source"] for it in profile}, "sibling leaked to profile"
        keys = [it["key"] for it in profile + train + test]
        assert len(keys) == len(set(keys))


@case
def package_units_filter():
    pk = {"vim": {"Package": "vim", "Maintainer": "Jane Doe <jane@example.org>",
                  "Section": "editors", "Description-md5": "m1"},
          "vim-tiny": {"Package": "vim-tiny", "Source": "vim", "Maintainer": "Jane Doe <jane@example.org>",
                       "Section": "editors", "Description-md5": "m2"},
          "old": {"Package": "old", "Maintainer": "Jane Doe <jane@example.org>",
                  "Section": "oldlibs", "Description-md5": "m3"},
          "t": {"Package": "t", "Maintainer": "Debian X Team <x@lists.debian.org>",
                "Section": "utils", "Description-md5": "m4"}}
    long = " eight words are needed for a long description here"
    tr = {("vim", "m1"): {"Description-en": "Vi IMproved\n" + long},
          ("vim-tiny", "m2"): {"Description-en": "Vi IMproved - tiny\n" + long},
          ("old", "m3"): {"Description-en": "transitional package\n" + long},
          ("t", "m4"): {"Description-en": "team tool\n" + long}}
    u = tasks.package_units(pk, tr, deb.is_person)
    assert list(u) == ["jane@example.org"], u
    items = u["jane@example.org"]
    # vim-tiny repeats vim's body -> kept once; the transitional package is dropped
    assert [it["key"] for it in items] == ["vim"], items
    assert items[0]["synopsis"] == "Vi IMproved" and items[0]["section"] == "editors"


@case
def attribution_records_and_labels():
    entries = [{"src": src, "file": src, "index": i, "author": f"Author{k}",
                "text": f"{src} quote {i} of author {k} ok"}
               for src in ("fortunes", "gcide") for k in range(3) for i in range(12)]
    entries.append(dict(entries[0], index=99))            # a duplicate quotation
    units = tasks.quote_units(entries)
    assert sorted(units) == [f"{s}:Author{k}" for s in ("fortunes", "gcide") for k in range(3)]
    assert all(len(v) == 12 for v in units.values()), "duplicate not removed"
    splits = tasks.split_users(units, "attribution", tasks.CONFIG["attribution"])
    recs, users, ev = tasks.make_records("attribution", splits, ["[1]", "[2]"], pool=units)
    assert len(recs["test"]) == 6 * tasks.CONFIG["attribution"]["n_test"]
    gold = [r["output"] for r in recs["test"]]
    assert gold.count("[1]") == gold.count("[2]"), "test positions not balanced"
    for r in recs["test"] + recs["train"]:
        own = {p["text"] for p in units[r["user"]]}
        src = r["user"].split(":")[0]
        a = r["input"].split('[1]: "')[1].split('" [2]')[0]
        b = r["input"].split('[2]: "')[1].rstrip('"')
        right = a if r["output"] == "[1]" else b
        wrong = b if r["output"] == "[1]" else a
        assert right in own and wrong not in own, r
        assert wrong.startswith(src), "distractor from the other source"
        assert right not in {p["text"] for p in r["profile"]}, "query quote in profile"
    st = tasks.task_stats("attribution", recs, ["[1]", "[2]"])
    assert sum(st["label_distribution"].values()) == len(recs["test"])
    assert st["profile_prior_baseline"] is None


@case
def stats_baselines_by_hand():
    # two users; labels: training side (profiles + train queries) majority is "b"
    def rec(user, out, prof):
        return {"id": f"{user}{out}", "user": user, "output": out, "input": "",
                "profile": [{"id": "p", "tag": t, "description": ""} for t in prof]}
    recs = {"train": [rec("u1", "b", ["a", "b", "b"]), rec("u2", "b", ["c", "c", "b"])],
            "test": [rec("u1", "b", ["a", "b", "b"]), rec("u1", "a", ["a", "b", "b"]),
                     rec("u2", "c", ["c", "c", "b"]), rec("u2", "c", ["c", "c", "b"])]}
    st = tasks.task_stats("section", recs, ["a", "b", "c"])
    assert st["label_distribution"] == {"a": 1, "b": 1, "c": 2}
    assert st["majority_baseline"]["label"] == "b"
    assert st["majority_baseline"]["accuracy"] == 0.25
    # profile prior: u1 -> b, u2 -> c: correct on 3 of 4
    assert st["profile_prior_baseline"]["accuracy"] == 0.75
    # macro-F1 of the prior: a: f1 0; b: tp1 fp1 fn0 -> 2/3; c: tp2 -> 1  => (0+2/3+1)/3
    assert abs(st["profile_prior_baseline"]["macro_f1"] - (2 / 3 + 1) / 3) < 1e-12
    assert abs(st["label_entropy_bits"] - 1.5) < 1e-12
    # rating MAE / RMSE: gold 5,1 vs prior 4,4 -> errors 1,3
    rr = {"train": [], "test": [
        {"id": "1", "user": "u", "output": "5", "profile": [{"score": "4"}, {"score": "4"}]},
        {"id": "2", "user": "u", "output": "1", "profile": [{"score": "4"}, {"score": "2"}]}]}
    st = tasks.task_stats("rating", rr, list("12345"))
    pp = st["profile_prior_baseline"]
    # second profile ties 4 vs 2: the tie goes to the label first in the label order -> "2"
    assert pp["mae"] == (1 + 1) / 2 and abs(pp["rmse"] - 1.0) < 1e-12, pp


@case
def write_task_and_manifest():
    out = os.path.join(TMP, "data")
    units = _pkg_units()
    st = tasks.write_task(out, "synopsis", units, n_users=5)
    assert st["n_users"] == 1 and st["n_labels"] is None
    for name in ("train.json", "test.json", "users.json", "stats.json", "task.json",
                 "eval_texts.json"):
        assert os.path.exists(os.path.join(out, "synopsis", name)), name
    with open(os.path.join(out, "synopsis", "test.json")) as f:
        test = json.load(f)
    assert all(set(r) == {"id", "user", "input", "output", "profile"} for r in test)
    first = common.hash_tree(out)
    tasks.write_task(out, "synopsis", units, n_users=5)
    assert common.hash_tree(out) == first, "rebuild is not byte-identical"
    common.write_json(os.path.join(out, "manifest.json"), {"files": first})
    assert common.verify_manifest(out) == []
    with open(os.path.join(out, "synopsis", "stats.json"), "a") as f:
        f.write(" ")
    bad = common.verify_manifest(out)
    assert len(bad) == 1 and "stats.json" in bad[0], bad


main()
