"""How charge lines find their knowledge points, measured on the shipped national pack.

Usage: python bench/pack_matching.py

1. Code prefixes (pipeline/packs/codes.py): for every code a point lists, hide that code and look
   it up by each prefix length: recall = the points that list it are found through their other
   codes; precision = found points that do list it. The chosen length per family is marked.
   Service items (codes within one point are different items, a pair) are measured instead by how
   often the codes of one base item listed in the pack carry the same rule classes.
2. Name matching (pipeline/packs/index.py) for lines without a national code: the pack's own
   names as bills write them (exact, with a specification or maker appended, one character
   substituted or dropped as OCR does, both), plus names held out of the index (a fifth of them)
   and the generator's items that are not in the pack, which should find nothing or the same
   product. A name match counts as right when it finds a name whose codes share a product prefix
   with the query's own. Precision and recall per threshold; the shipped threshold is marked.
"""
from __future__ import annotations

import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.packs import active, codes  # noqa: E402
from pipeline.packs.index import NAME_THRESHOLD, CodeIndex, item_names  # noqa: E402
from pipeline.synth import catalog  # noqa: E402

SPECS = ["0.25g*24片", "10ml:0.5g*5支", "(500ml)", "1g/支", "0.1g×12粒", "[国产]", "(进口)", "/盒", "5mg*28片/盒", "(扬子江)"]
KINDS = ["exact", "spec", "sub", "del", "spec+sub"]


def prefix_table(points) -> None:
    code_points = defaultdict(set)
    for p in points:
        for c in p.med_codes:
            code_points[c].add(p.kp_id)
    print("1. drug code prefixes: leave-one-code-out over the points in force")
    print(f"{'family':<14}{'prefix':>7}{'recall':>9}{'precision':>11}")
    for fam in (codes.BY_KEY["X"], codes.BY_KEY["Z"]):
        fam_codes = [c for c in code_points if codes.family(c) is fam]
        for k in range(max(4, fam.prefix_len - 4), min(fam.length, fam.prefix_len + 5)):
            idx = defaultdict(lambda: defaultdict(int))
            for c in fam_codes:
                for kp in code_points[c]:
                    idx[c[:k]][kp] += 1
            tp = fp = fn = 0
            for c in fam_codes:
                truth = code_points[c]
                found = {kp for kp, n in idx[c[:k]].items() if n - (kp in truth) > 0}
                tp, fp, fn = tp + len(found & truth), fp + len(found - truth), fn + len(truth - found)
            mark = "  <- shipped" if k == fam.prefix_len else ""
            print(f"{fam.label:<14}{k:>7}{tp / (tp + fn):>9.3f}{tp / max(1, tp + fp):>11.3f}{mark}")
    classes = defaultdict(set)
    for p in points:
        for c in p.med_codes:
            if codes.family(c) is codes.BY_KEY["S"]:
                classes[c].add(p.rule_class)
    t = [p for p in points if any(codes.family(c) is codes.BY_KEY["T"] for c in p.med_codes)]
    print(f"   中药饮片: {sum(len(p.med_codes) > 1 for p in t)} of {len(t)} points list more than one code: the whole code")
    print("   service items sharing a prefix: pairs of listed codes with the same rule classes")
    for k in (9, 11, 13):
        groups = defaultdict(list)
        for c in classes:
            groups[c[:k]].append(c)
        same = diff = 0
        for cs in groups.values():
            for i, a in enumerate(cs):
                for b in cs[i + 1:]:
                    same, diff = (same + 1, diff) if classes[a] == classes[b] else (same, diff + 1)
        mark = "  <- shipped" if k == codes.BY_KEY["S"].prefix_len else ""
        print(f"   prefix {k:>2}: {same} of {same + diff} pairs ({same / max(1, same + diff):.3f}){mark}")


def noisy(rng, n, kind, cjk):
    if kind == "exact":
        return n
    if kind == "spec":
        return n + rng.choice(SPECS)
    if len(n) < 4:
        return None
    i = rng.randrange(len(n))
    if kind == "sub":
        return n[:i] + rng.choice(cjk) + n[i + 1:]
    if kind == "del":
        return n[:i] + n[i + 1:]
    return n[:i] + rng.choice(cjk) + n[i + 1:] + rng.choice(SPECS)


def name_table(points, seed: int = 0) -> None:
    keys = defaultdict(set)
    for p in points:
        for n, c in item_names(p):
            keys[n].update(codes.prefix_key(x) for x in ([c] if c else p.med_codes))
    names = sorted(keys)
    rng = random.Random(seed)
    shuffled = list(names)
    rng.shuffle(shuffled)
    held = set(shuffled[: len(names) // 5])
    kept = [p for p in points if not any(n in held for n, _ in item_names(p))]
    index = CodeIndex(kept, name_threshold=0.0)
    held = sorted(held - set(index.names))
    cjk = sorted({ch for n in names for ch in n if "\u4e00" <= ch <= "\u9fff"})
    queries = []
    for n in rng.sample(index.names, min(600, len(index.names))):
        queries += [(q, keys[n], k) for k in KINDS if (q := noisy(rng, n, k, cjk))]
    queries += [(noisy(rng, n, k, cjk), keys[n], f"held-out {k}") for n in held[:400] for k in ("exact", "spec")]
    cat = catalog.load()
    for v in list(cat.items.values()) + list(cat.drugs.values()):
        key = codes.prefix_key(codes.normalize(v.get("code")))
        if v["name"] not in keys:
            queries.append((v["name"], {key} if key else set(), "generator item"))
    index_keys = [{codes.prefix_key(x) for p, c in pts for x in ([c] if c else p.med_codes)}
                  for pts in index.name_points]
    t = time.perf_counter()
    results = []
    for q, truth, kind in queries:
        hit = index.best_name(q)
        score, right = (hit[1], bool(truth & index_keys[hit[0]])) if hit else (0.0, False)
        answerable = kind in KINDS or any(truth & k for k in index_keys)
        results.append((score, right, answerable, kind))
    ms = (time.perf_counter() - t) * 1000 / len(queries)
    print(f"\n2. name matching: {len(queries)} lookups over {len(index.names)} indexed names ({ms:.2f} ms each, uncached)")
    answerable = sum(1 for r in results if r[2])
    outside = sum(1 for r in results if r[3] not in KINDS)
    print(f"{'threshold':>9}{'precision':>11}{'recall':>8}{'wrong':>7}{'wrong outside':>15}   recall by kind: " + " ".join(KINDS))
    for thr in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        acc = [r for r in results if r[0] >= thr]
        tp = sum(1 for r in acc if r[1])
        out_wrong = sum(1 for r in acc if r[3] not in KINDS and not r[1])
        by_kind = " ".join(f"{sum(1 for r in acc if r[1] and r[3] == k) / max(1, sum(1 for r in results if r[3] == k)):.2f}"
                           for k in KINDS)
        mark = "  <- shipped" if abs(thr - NAME_THRESHOLD) < 1e-9 else ""
        print(f"{thr:>9.2f}{tp / max(1, len(acc)):>11.3f}{tp / answerable:>8.3f}{len(acc) - tp:>7}"
              f"{f'{out_wrong}/{outside}':>15}   {by_kind}{mark}")
    kinds = sorted({r[3] for r in results} - set(KINDS))
    acc = [r for r in results if r[0] >= NAME_THRESHOLD]
    print("   at the shipped threshold, lines not in the index matched wrongly: "
          + ", ".join(f"{k} {sum(1 for r in acc if r[3] == k and not r[1])}/{sum(1 for r in results if r[3] == k)}"
                      for k in kinds))


def main() -> None:
    points = list(active.load_active().points.values())
    prefix_table(points)
    name_table(points)


if __name__ == "__main__":
    main()
