"""The study's task builders: four LaMP-style personalization tasks built from real data in
Debian packages (see tools/data/README.md for the file layout and the prompt templates).

  rating          MovieLens ratings (r-cran-dslabs): a user's 1-5 rating of a movie from
                  their earlier ratings (like LaMP-3); half stars round up: 0.5|1 -> 1 ...
  section         a Debian package's section from its description, users = individual
                  maintainers (like LaMP-2), the K most common sections
  attribution     which of two quotations is by the author whose quotations form the
                  profile (fortunes and GCIDE citations), like LaMP-1
  synopsis        a package's one-line synopsis from its long description, users =
                  maintainers (like LaMP-4/5)

Every builder turns source items into per-user item lists ("units"), then one shared routine
samples users, splits each user's items into profile / train queries / test queries,
writes the records and computes the baselines.  Each builder returns plain Python data, so
the tests run it on fixture inputs.
"""
import collections
import math
import os

import common

SEED = 20240601
N_USERS = 100            # users sampled per task (fewer when fewer are eligible)
PROFILE_CAP = 200        # profile items kept per user (the study's "all" means up to this)

RATING_PROMPT = ("What rating from 1 to 5 would this user give the following movie? Just "
                 "answer with 1, 2, 3, 4, or 5 without further explanation. movie: {item}")
SECTION_PROMPT = ("Which Debian section does the following package belong to among the "
                  "following sections? Just answer with the section name without further "
                  "explanation. sections: [{labels}] description: {description}")
ATTRIB_PROMPT = ("For an author who has written the quotations in the profile, which of the "
                 "following two quotations is also by them? Just answer with [1] or [2] "
                 "without explanation. [1]: \"{a}\" [2]: \"{b}\"")
SYNOPSIS_PROMPT = ("Generate a one-line synopsis for the following Debian package "
                   "description: {description}")

# per task: items a user needs beyond the queries, and queries per user (test, train)
CONFIG = {
    "rating": {"min_profile": 64, "n_test": 4, "n_train": 2},
    "section": {"min_profile": 12, "n_test": 4, "n_train": 2},
    "attribution": {"min_profile": 8, "n_test": 2, "n_train": 1},
    "synopsis": {"min_profile": 12, "n_test": 4, "n_train": 2},
}
N_SECTIONS = 12


# ---------------------------------------------------------------- rating

def rating_label(r):
    """MovieLens half stars to 1-5: round up, so 0.5 and 1.0 -> 1, 1.5 and 2.0 -> 2, ...,
    4.5 and 5.0 -> 5.  Returns None for values outside (0, 5]."""
    if r is None or not 0 < r <= 5:
        return None
    return int(math.ceil(r - 1e-9))


def rating_units(df):
    """{user: [item]} from the movielens data frame columns; items sorted by time so the
    queries are the user's latest ratings (predicting the future from the history)."""
    users = collections.defaultdict(list)
    n = len(df["userId"])
    for i in range(n):
        lab = rating_label(df["rating"][i])
        if lab is None or df["userId"][i] is None or not df["title"][i]:
            continue
        year = df["year"][i]
        text = f"{df['title'][i]} ({year}) genres: {df['genres'][i]}" if year else \
            f"{df['title'][i]} genres: {df['genres'][i]}"
        users[f"ml{df['userId'][i]}"].append({
            "key": f"m{df['movieId'][i]}", "text": text, "label": str(lab),
            "raw": df["rating"][i], "t": df["timestamp"][i] or 0})
    for u in users:
        users[u].sort(key=lambda it: (it["t"], it["key"]))
    return dict(users)


# ---------------------------------------------------------------- Debian packages

def package_units(packages, translations, person):
    """{maintainer email: [item]} from Packages paragraphs (by name) and Translation-en
    paragraphs (by (name, Description-md5)).  Only maintainers for which person(field) is
    true; transitional / dummy packages and empty long descriptions are dropped, and a
    description repeated by several packages of one maintainer is kept once."""
    import deb
    users = collections.defaultdict(list)
    seen = set()
    for name in sorted(packages):
        p = packages[name]
        m = p.get("Maintainer", "")
        if not person(m):
            continue
        desc = p.get("Description-en") or p.get("Description", "")
        t = translations.get((name, p.get("Description-md5")))
        if t is not None:
            desc = t.get("Description-en", desc)
        synopsis, body = deb.long_description(desc)
        if not body or len(body.split()) < 8 or not synopsis:
            continue
        low = synopsis.lower()
        if "transitional" in low or "dummy" in low:
            continue
        section = p.get("Section", "").split("/")[-1]
        email = deb.parse_maintainer(m)[1]
        if (email, body) in seen:
            continue
        seen.add((email, body))
        src = p.get("Source", name).split()[0]
        users[email].append({"key": name, "source": src, "synopsis": synopsis,
                             "body": body, "section": section})
    return dict(users)


def top_sections(units, k):
    c = collections.Counter(it["section"] for items in units.values() for it in items)
    return sorted(s for s, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:k])


# ---------------------------------------------------------------- fortunes

def quote_units(entries, min_words=4, max_words=80):
    """{"<source>:<author>": [item]} from parsed quotations (textsrc.parse_fortunes or
    parse_gcide_quotes, each with 'src' and 'file' added); the same quotation found twice
    is kept once (first seen)."""
    users = collections.defaultdict(list)
    seen = set()
    for e in entries:
        if not e["author"]:
            continue
        text = " ".join(e["text"].split())
        n = len(text.split())
        norm = " ".join(common.words(text))
        if n < min_words or n > max_words or norm in seen:
            continue
        seen.add(norm)
        users[f"{e['src']}:{e['author']}"].append({"key": f"{e['file']}#{e['index']}",
                                                   "text": text})
    return dict(users)


# ---------------------------------------------------------------- shared split

def split_user(items, task, cfg, user, seed=SEED, keep_order=False):
    """(profile, train, test) of one user, or None when the profile ends up smaller than
    min_profile.  Items are shuffled with a per-user seeded stream unless keep_order
    (rating: time order, so the queries are the latest ratings).  Queries are taken from the
    end, at most one per Debian source package, and every item sharing a source package
    with a query leaves the profile, so no sibling package leaks the answer."""
    items = list(items)
    if not keep_order:
        common.rng(seed, f"{task}:items:{user}").shuffle(items)
    nq = cfg["n_test"] + cfg["n_train"]
    queries, qsrc, qidx = [], set(), set()
    for i in range(len(items) - 1, -1, -1):
        if len(queries) == nq:
            break
        src = items[i].get("source")
        if src is not None and src in qsrc:
            continue
        queries.append(items[i])
        qidx.add(i)
        if src is not None:
            qsrc.add(src)
    if len(queries) < nq:
        return None
    queries.reverse()
    profile = [it for i, it in enumerate(items)
               if i not in qidx and (it.get("source") is None or it["source"] not in qsrc)]
    profile = profile[-PROFILE_CAP:]
    if len(profile) < cfg["min_profile"]:
        return None
    return profile, queries[:cfg["n_train"]], queries[cfg["n_train"]:]


def split_users(units, task, cfg, seed=SEED, n_users=N_USERS, keep_order=False):
    """Split every user (each split depends only on the user's own items and the seed),
    keep those with a large enough profile, and sample n_users of them with a seeded
    stream.  Returns [(user, profile, train, test)] sorted by user."""
    ok = {}
    for u in sorted(units):
        s = split_user(units[u], task, cfg, u, seed, keep_order)
        if s is not None:
            ok[u] = s
    r = common.rng(seed, f"{task}:users")
    chosen = sorted(r.sample(sorted(ok), min(n_users, len(ok))))
    return [(u,) + ok[u] for u in chosen]


# ---------------------------------------------------------------- record makers

def make_records(task, splits, labels=None, pool=None, seed=SEED):
    """LaMP records for both splits plus the source texts the evaluation shows a model
    ({"queries": {test id: [texts]}, "profiles": {user: [texts]}}), which the corpus
    excludes and checks for contamination.  pool: for attribution, {author: [item]} the distractors
    are drawn from."""
    recs = {"train": [], "test": []}
    eval_texts = {"queries": {}, "profiles": {}}
    users = []
    for ui, (u, profile, train, test) in enumerate(splits):
        prof = [profile_item(task, i, it) for i, it in enumerate(profile)]
        uinfo = {"user": u, "n_profile": len(prof), "train": [], "test": []}
        # attribution: the true quotation's position alternates within a user's queries
        # from a seeded start, so [1] and [2] are balanced (exactly so for an even n_test)
        first = common.rng(seed, f"{task}:pos:{u}").randrange(2)
        for split, qs in (("train", train), ("test", test)):
            for qi, it in enumerate(qs):
                rid = f"{task}-{ui:03d}-{split}{qi}"
                inp, out, texts = query(task, u, it, labels, pool, common.rng(seed, rid),
                                        (first + qi) % 2)
                recs[split].append({"id": rid, "user": u, "input": inp, "output": out,
                                    "profile": prof})
                uinfo[split].append(rid)
                if split == "test":
                    eval_texts["queries"][rid] = texts
        eval_texts["profiles"][u] = [profile_text(task, p) for p in profile]
        users.append(uinfo)
    return recs, users, eval_texts


def profile_item(task, i, it):
    pid = f"p{i}"
    if task == "rating":
        return {"id": pid, "text": it["text"], "score": it["label"]}
    if task == "section":
        return {"id": pid, "description": f"{it['synopsis']}\n{it['body']}", "tag": it["section"]}
    if task == "attribution":
        return {"id": pid, "text": it["text"]}
    return {"id": pid, "text": it["body"], "title": it["synopsis"]}


def profile_text(task, it):
    if task in ("rating", "attribution"):
        return it["text"]
    return f"{it['synopsis']}\n{it['body']}"


def query(task, user, it, labels, pool, r, pos=0):
    if task == "rating":
        return RATING_PROMPT.format(item=it["text"]), it["label"], [it["text"]]
    if task == "section":
        desc = f"{it['synopsis']}\n{it['body']}"
        return (SECTION_PROMPT.format(labels=", ".join(labels), description=desc),
                it["section"], [desc])
    if task == "synopsis":
        return (SYNOPSIS_PROMPT.format(description=it["body"]), it["synopsis"],
                [it["body"], it["synopsis"]])
    # the distractor comes from the same source (fortunes / GCIDE): the two differ in style
    # so much that a cross-source distractor would give the answer away
    src = user.split(":", 1)[0]
    others = sorted(a for a in pool if a != user and a.split(":", 1)[0] == src)
    other = pool[r.choice(others)]
    d = other[r.randrange(len(other))]["text"]
    if pos == 0:
        return ATTRIB_PROMPT.format(a=it["text"], b=d), "[1]", [it["text"], d]
    return ATTRIB_PROMPT.format(a=d, b=it["text"]), "[2]", [it["text"], d]


# ---------------------------------------------------------------- baselines

def macro_f1(gold, pred, labels):
    f1s = []
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred) if g == lab and p != lab)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def _mode(values, order):
    """Most frequent value; ties go to the one first in `order` (fixed, documented)."""
    c = collections.Counter(values)
    return min(c, key=lambda v: (-c[v], order.index(v) if v in order else len(order), v))


def task_stats(task, recs, labels):
    """Label counts and baselines over the test split (see README, "stats.json")."""
    test = recs["test"]
    st = {"task": task, "n_users": len({r["user"] for r in test}),
          "n_test": len(test), "n_train": len(recs["train"]),
          "profile_size": _summary([len(r["profile"]) for r in test])}
    if task == "synopsis":
        st.update({"n_labels": None, "label_distribution": None,
                   "majority_baseline": None, "profile_prior_baseline": None,
                   "note": "free-text generation: no label set; scored by ROUGE-1/ROUGE-L",
                   "output_words": _summary([len(r["output"].split()) for r in test])})
        return st
    gold = [r["output"] for r in test]
    dist = collections.Counter(gold)
    st["n_labels"] = len(labels)
    st["labels"] = labels
    st["label_distribution"] = {lab: dist.get(lab, 0) for lab in labels}
    st["label_entropy_bits"] = -sum(n / len(gold) * math.log2(n / len(gold))
                                    for n in dist.values() if n)
    # the majority label is taken from what a learner may see (the train queries and every
    # sampled user's profile, each profile once), so the baseline does not peek at test gold
    train_labels = [r["output"] for r in recs["train"]]
    if task != "attribution":
        profiles = {r["user"]: r["profile"] for r in recs["train"] + test}
        train_labels += [_profile_label(task, p) for u in sorted(profiles) for p in profiles[u]]
    maj = _mode(train_labels, labels) if train_labels else labels[0]
    st["majority_baseline"] = _scores(task, gold, [maj] * len(gold), labels)
    st["majority_baseline"]["label"] = maj
    if task == "attribution":
        st["profile_prior_baseline"] = None
        st["profile_prior_note"] = "profiles hold quotations only, no labels"
    else:
        pred = [_mode([_profile_label(task, p) for p in r["profile"]], labels)
                if r["profile"] else maj for r in test]
        st["profile_prior_baseline"] = _scores(task, gold, pred, labels)
    return st


def _profile_label(task, p):
    return p["score"] if task == "rating" else p["tag"]


def _scores(task, gold, pred, labels):
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    s = {"accuracy": acc, "macro_f1": macro_f1(gold, pred, labels)}
    if task == "rating":
        err = [abs(int(g) - int(p)) for g, p in zip(gold, pred)]
        s["mae"] = sum(err) / len(err)
        s["rmse"] = math.sqrt(sum(e * e for e in err) / len(err))
    return s


def _summary(xs):
    if not xs:
        return {"min": 0, "median": 0, "max": 0}
    xs = sorted(xs)
    return {"min": xs[0], "median": xs[len(xs) // 2], "max": xs[-1]}


# ---------------------------------------------------------------- writing one task

KINDS = {"rating": ("rating", ["mae", "rmse"]),
         "section": ("classification", ["accuracy", "macro_f1"]),
         "attribution": ("attribution", ["accuracy"]),
         "synopsis": ("generation", ["rouge1", "rougeL"])}
PROMPTS = {"rating": RATING_PROMPT, "section": SECTION_PROMPT,
           "attribution": ATTRIB_PROMPT, "synopsis": SYNOPSIS_PROMPT}


def write_task(out_dir, task, units, labels=None, pool=None, seed=SEED, n_users=N_USERS,
               keep_order=False, source=""):
    """Split, make records, compute stats and write build/data/<task>/; returns stats."""
    splits = split_users(units, task, CONFIG[task], seed, n_users, keep_order)
    recs, users, eval_texts = make_records(task, splits, labels, pool, seed)
    st = task_stats(task, recs, labels)
    d = os.path.join(out_dir, task)
    for split in ("train", "test"):
        common.write_json(os.path.join(d, f"{split}.json"), recs[split])
    common.write_json(os.path.join(d, "users.json"), users)
    common.write_json(os.path.join(d, "eval_texts.json"), eval_texts)
    common.write_json(os.path.join(d, "stats.json"), st)
    kind, metrics = KINDS[task]
    common.write_json(os.path.join(d, "task.json"), {
        "name": task, "kind": kind, "metrics": metrics, "labels": labels,
        "prompt_template": PROMPTS[task], "source": source, "seed": seed,
        "config": CONFIG[task], "profile_cap": PROFILE_CAP})
    return st
