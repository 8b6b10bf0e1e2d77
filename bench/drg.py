"""Benchmark the DRG grouper (pipeline/drg) and the 高套分组 detection; prints tables.

    python bench/drg.py [--cases 12000] [--seed 7]            agreement, mutation check, speed
    python bench/drg.py --upcoding [--records 160 --seed 23 --out DIR]  upcoding precision/recall on a fresh synth batch

Agreement, per field (status, MDC, ADRG, DRG):
- on the 300 sample cases, against the reference grouper's output they carry (OpenDRG's own);
- on cases this script draws from the scheme's tables (each targets one ADRG: its MDC's entry
  condition and its own condition satisfied, other diagnoses from the MCC/CC tables, excluded ones
  among them, plus random and invalid cases). No reference output exists for these, so they are
  compared with bench/drg_oracle.py, a plain second interpreter written from the data's README
  that reads the source files itself. That agreement shows the engine's compiled, indexed form
  matches the plain reading of the schema on the cases drawn; only the 300 sample cases compare
  with OpenDRG. Trace invariants are checked on every case too (the matched ADRG's condition holds
  in the oracle, each counted/excluded MCC/CC agrees with the tables).
- the mutation check: one table row broken in the engine's copy (an MCC row dropped, a main
  diagnosis's exclusion table changed, a code taken out of an ADRG's list, an OR procedure
  dropped) must make the comparison fail.
Speed: cases per second on one core (this process), grouping only and CSV in → CSV out, per wall
second and per CPU second (the machine's load average is printed: other jobs slow the wall clock).
"""
from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from drg_oracle import Oracle  # noqa: E402

from pipeline.drg import batch, case as case_mod, scheme as scheme_mod  # noqa: E402
from pipeline.drg.engine import Grouper  # noqa: E402
from pipeline.drg.scheme import Table  # noqa: E402

SHARED = Path(os.environ.get("MEDREVIEW_SHARED_DATA", ROOT.parent / "shared" / "data")) / "chs-drg-1.1"
FIELDS = ("status", "mdc", "adrg", "drg")


# --- cases drawn from the tables ------------------------------------------------------------------

class CaseDrawer:
    """Draws cases that target an ADRG by satisfying the conditions on the way to it."""

    def __init__(self, sch, rng: random.Random):
        self.sch, self.rng = sch, rng
        self.targets = [(m, a) for m in sch.grouping["mdcs"] for a in m["adrgs"]]
        self.dx_all = sorted(sch.code_set("diagnoses"))
        self.px_all = sorted(sch.code_set("procedures"))
        self.or_px = sorted(sch.code_set("or_procedures"))
        self.non_or = sorted(set(self.px_all) - set(self.or_px))
        self.mcc, self.cc = sorted(sch.mcc), sorted(sch.cc)
        by_table: dict[str, list] = {}
        for code, t in list(sch.mcc.items()) + list(sch.cc.items()):
            by_table.setdefault(t, []).append(code)
        self.by_table = {t: sorted(v) for t, v in by_table.items()}

    def _walk(self, c: dict, need: dict) -> None:
        (kind, v), = c.items()
        if kind == "all":
            for x in v:
                self._walk(x, need)
        elif kind == "any":
            self._walk(self.rng.choice(v), need)
        elif kind == "not":
            (ik, iv), = v.items()
            if ik == "any_procedure_in_table":
                need["no_table"] = iv
        elif kind == "main_diagnosis_in":
            need.setdefault("main_dx", []).append(v)
        elif kind == "main_procedure_in":
            need.setdefault("main_px", []).append(v)
        elif kind == "main_procedure_in_table":
            need.setdefault("main_px", []).append(sorted(self.sch.code_set(v)))
        elif kind == "any_diagnosis_in":
            need.setdefault("other_dx", []).append(self.rng.choice(v))
        elif kind == "any_procedure_in":
            need.setdefault("other_px", []).append(self.rng.choice(v))
        elif kind == "any_procedure_in_table":
            need.setdefault("other_px", []).append(self.rng.choice(sorted(self.sch.code_set(v))))
        elif kind == "sex":
            need["sex"] = v
        elif kind == "age_years_eq":
            need["age"] = v
        elif kind == "age_days_max":
            need["age_day"] = self.rng.randint(0, v)
        elif kind == "weight_g":
            lo, hi = v
            need["weight"] = self.rng.randint(lo or 300, (hi or 5500) - 1)
        elif kind == "procedure_groups":
            req = self.rng.choice(v["require"])
            for label in req:
                need.setdefault("other_px", []).append(self.rng.choice(sorted(c for c, g in v["groups"].items() if g == label)))
        elif kind == "distinct_regions_min":
            by_region: dict[str, list] = {}
            for code, region in v["regions"].items():
                by_region.setdefault(region, []).append(code)
            for region in self.rng.sample(sorted(by_region), min(len(by_region), v["min"] + self.rng.randint(0, 1))):
                need.setdefault("other_dx", []).append(self.rng.choice(sorted(by_region[region])))

    def _pick(self, sets: list[list]) -> str | None:
        if not sets:
            return None
        smallest = min(sets, key=len)
        others = [set(s) for s in sets if s is not smallest]
        fits = [c for c in smallest if all(c in o for o in others)]
        return self.rng.choice(fits or smallest)

    def _others(self, main: str) -> list[str]:
        rng, out = self.rng, []
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            r = rng.random()
            table = self.sch.cce.get(main)
            if r < 0.3:
                out.append(rng.choice(self.mcc))
            elif r < 0.55:
                out.append(rng.choice(self.cc))
            elif r < 0.75 and table in self.by_table:
                out.append(rng.choice(self.by_table[table]))   # excluded by the main diagnosis
            else:
                out.append(rng.choice(self.dx_all))
        if out and rng.random() < 0.05:
            out.append(main)   # the main code repeated
        return out

    def demographics(self, need: dict) -> dict:
        rng = self.rng
        sex = need.get("sex", rng.choice((1, 2)))
        if "age" in need or "age_day" in need or "weight" in need or rng.random() < 0.08:
            age = need.get("age", 0)
            day = need.get("age_day", rng.choice((rng.randint(0, 28), rng.randint(29, 364))))
            weight = need.get("weight", rng.choice((None, 0, rng.randint(400, 5000))) if day > 28 else rng.randint(400, 5000))
        else:
            age, day, weight = rng.randint(1, 95), None, None
            if rng.random() < 0.5:
                day = age * 365 + rng.randint(0, 364)
        return {"sex": sex, "age": age, "age_day": day, "weight": weight}

    def targeted(self) -> case_mod.Case:
        m, a = self.rng.choice(self.targets)
        need: dict = {}
        self._walk(m["entry_condition"], need)
        self._walk(a["condition"], need)
        main = self._pick(need.get("main_dx", [])) or self.rng.choice(self.dx_all)
        pool = self.non_or if "no_table" in need else self.px_all
        main_px = self._pick(need.get("main_px", []))
        px = ([main_px] if main_px else []) + list(need.get("other_px", []))
        if not px and "no_table" not in need and self.rng.random() < 0.4:
            px.append(self.rng.choice(pool))
        px += [self.rng.choice(pool) for _ in range(self.rng.choice((0, 0, 1, 2)))]
        if "no_table" in need:
            px = [p for p in px if p not in self.sch.code_set(need["no_table"])]
        dx = [main] + list(need.get("other_dx", [])) + self._others(main)
        return case_mod.Case(dx=dx, px=px, **self.demographics(need))

    def random_case(self) -> case_mod.Case:
        rng = self.rng
        main = rng.choice(self.dx_all)
        px = [rng.choice(self.or_px if rng.random() < 0.4 else self.px_all) for _ in range(rng.choice((0, 1, 1, 2, 3)))]
        d = self.demographics({})
        r = rng.random()
        if r < 0.03:
            d["sex"] = rng.choice((None, 0, 3, "男", "女", "x"))
        elif r < 0.05:
            d["age"] = rng.choice((None, "abc", "12.5"))
        elif r < 0.07:
            d.update(age=0, age_day=rng.choice((None, "x", rng.randint(0, 28))), weight=None)
        return case_mod.Case(dx=[main] + self._others(main), px=px, **d)

    def draw(self, n: int) -> list[dict]:
        out = []
        for i in range(n):
            c = self.targeted() if self.rng.random() < 0.75 else self.random_case()
            c.index = str(i)
            out.append(c.to_row())
        return out


# --- agreement ------------------------------------------------------------------------------------

def agreement(rows: list[dict], grouper: Grouper, want) -> tuple[Counter, list]:
    """Per-field agreement of the engine with ``want(row)``; and the rows that differ."""
    same, diffs = Counter(), []
    for r in rows:
        res = grouper.group(case_mod.from_row(r))
        got = (res.status, res.mdc, res.adrg, res.drg)
        exp = want(r)
        for f, g, e in zip(FIELDS, got, exp):
            same[f] += g == e
        if got != exp:
            diffs.append((r["Index"], exp, got))
    return same, diffs


def invariants(rows: list[dict], grouper: Grouper, oracle: Oracle) -> Counter:
    """Trace facts checked against the oracle's reading of the tables."""
    bad = Counter()
    for r in rows:
        res = grouper.group(case_mod.from_row(r))
        k = oracle.parse(r)
        for t in res.trace:
            if t["step"] == "adrg" and t["adrg"]:
                if not oracle.holds(grouper.scheme.adrgs[t["adrg"]]["condition"], k):
                    bad["matched ADRG condition false"] += 1
            if t["step"] == "cc":
                for item in t["items"]:
                    table = oracle.mcc if item["kind"] == "MCC" else oracle.cc
                    if table.get(item["code"]) != item["exclusion_table"]:
                        bad["MCC/CC table row"] += 1
                    if item["counted"] != (oracle.cce.get(k["dx"][0]) != item["exclusion_table"]):
                        bad["counted/excluded"] += 1
                if t["mcc"] != oracle.has(oracle.mcc, k["dx"]) or t["cc"] != oracle.has(oracle.cc, k["dx"]):
                    bad["has MCC / has CC"] += 1
    return bad


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.2f}%" if total else "-"


def print_table(title: str, head: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


def mutations(sch, grouper: Grouper, rows: list[dict]) -> list[tuple[str, object]]:
    """Four single-row breaks of the scheme, each on a row that decides some drawn case's group."""
    mcc_use, cce_use, dx_use, or_use = Counter(), Counter(), Counter(), Counter()
    for r in rows:
        res = grouper.group(case_mod.from_row(r))
        drg = next((t for t in res.trace if t["step"] == "drg"), None)
        cc = next((t for t in res.trace if t["step"] == "cc"), None)
        splits = cc is not None and any(x["condition"] == "mcc" for x in drg["tried"])
        if cc is not None:
            counted = [i["code"] for i in cc["items"] if i["counted"] and i["kind"] == "MCC"]
            if drg["tried"][-1]["condition"] == "mcc" and drg["tried"][-1]["holds"] and len(counted) == 1:
                mcc_use[counted[0]] += 1          # the one MCC that gives the 伴MCC group
            if splits and not cc["mcc"] and any(not i["counted"] and i["kind"] == "MCC" for i in cc["items"]):
                cce_use[cc["main"]] += 1          # its exclusion keeps the case out of the 伴MCC group
        adrg = next((t["adrg"] for t in res.trace if t["step"] == "adrg" and t["adrg"]), None)
        if adrg and "main_diagnosis_in" in grouper.scheme.adrgs[adrg]["condition"]:
            dx_use[(adrg, res.dx[0])] += 1
        if res.mdc == "MDCA":
            or_use[res.px[0]] += 1
    out = []
    code = mcc_use.most_common(1)[0][0]
    t = sch.tables["mcc"]
    out.append((f"mcc.tsv: row {code} dropped",
                sch.derived(tables={"mcc": Table("mcc", t.columns, tuple(r for r in t.rows if r[0] != code))})))
    main = cce_use.most_common(1)[0][0]
    t = sch.tables["cce"]
    out.append((f"cce.tsv: {main} exclusion_table changed",
                sch.derived(tables={"cce": Table("cce", t.columns, tuple((r[0], "x" + r[1]) if r[0] == main else r for r in t.rows))})))
    (adrg, dx), _ = dx_use.most_common(1)[0]
    g = copy.deepcopy(sch.grouping)
    for m in g["mdcs"]:
        for a in m["adrgs"]:
            if a["adrg"] == adrg:
                a["condition"]["main_diagnosis_in"].remove(dx)
    out.append((f"grouping.json: {dx} taken out of {adrg}'s main-diagnosis list", sch.derived(grouping=g)))
    code = or_use.most_common(1)[0][0]
    t = sch.tables["or_procedures"]
    out.append((f"or_procedures.tsv: row {code} dropped",
                sch.derived(tables={"or_procedures": Table("or_procedures", t.columns, tuple(r for r in t.rows if r[0] != code))})))
    return out


def speed(rows: list[dict], grouper: Grouper, oracle: Oracle, repeat: int = 3) -> list[list]:
    """Best of ``repeat`` runs, in wall seconds and in this process's CPU seconds (one core: the
    CPU rate is what an otherwise idle core gives when other jobs share the machine)."""
    cases = [case_mod.from_row(r) for r in rows]
    text = "\n".join([",".join(case_mod.COLUMNS)] + [",".join(r[c] for c in case_mod.COLUMNS) for r in rows]) + "\n"
    src = Path(os.environ.get("TMPDIR", "/tmp")) / f"drg-bench-{os.getpid()}.csv"
    src.write_text(text, encoding="utf-8")
    out = src.with_suffix(".out.csv")
    sample = rows[:2000]
    table = []
    try:
        for what, n, fn in (("engine: group (with trace)", len(cases), lambda: [grouper.group(c) for c in cases]),
                            ("engine: CSV in → CSV out (parse, group, trace text)", len(cases),
                             lambda: batch.group_file(src, out, grouper)),
                            ("oracle (plain JSON walk, for contrast)", len(sample), lambda: [oracle.group(r) for r in sample])):
            wall, cpu = min(_timed(fn) for _ in range(repeat))
            table.append([what, n, f"{wall:.3f}", f"{n / wall:,.0f}", f"{cpu:.3f}", f"{n / cpu:,.0f}"])
    finally:
        src.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    return table


def _timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def grouping_bench(n: int, seed: int) -> None:
    sch = scheme_mod.load()
    grouper = Grouper(sch)
    src = SHARED if (SHARED / "grouping.json").is_file() else sch.folder
    oracle = Oracle(src)
    print(f"scheme {sch.name} {sch.version}; oracle reads {src}")
    sample = scheme_mod.sample_cases(sch)
    drawn = CaseDrawer(sch, random.Random(seed)).draw(n)

    def expected(r):
        return r["expected_status"], r["expected_mdc"], r["expected_adrg"], r["expected_drg"]

    s_same, s_diff = agreement(sample, grouper, expected)
    o_same, o_diff = agreement(sample, grouper, oracle.group)
    g_same, g_diff = agreement(drawn, grouper, oracle.group)
    rows = [["300 sample cases vs reference (OpenDRG)", len(sample)] + [_pct(s_same[f], len(sample)) for f in FIELDS] + [len(s_diff)],
            ["300 sample cases vs oracle", len(sample)] + [_pct(o_same[f], len(sample)) for f in FIELDS] + [len(o_diff)],
            [f"{n} drawn cases (seed {seed}) vs oracle", n] + [_pct(g_same[f], n) for f in FIELDS] + [len(g_diff)]]
    print_table("Agreement per field", ["comparison", "cases", *FIELDS, "cases differing"], rows)
    results = [grouper.group(case_mod.from_row(r)) for r in drawn]
    status = Counter(r.status for r in results)
    adrgs = {r.adrg for r in results if r.grouped}
    drgs = {r.drg for r in results if r.grouped}
    print(f"\ndrawn cases: {dict(status)}; {len(adrgs)} of {len(sch.adrgs)} ADRGs and {len(drgs)} of "
          f"{len(sch.drg_names)} DRGs reached; with MCC {sum(r.has_mcc for r in results)}, CC only "
          f"{sum(r.has_cc and not r.has_mcc for r in results)}; MCC/CC excluded at least once in "
          f"{sum(any(not i['counted'] for t in r.trace if t['step'] == 'cc' for i in t['items']) for r in results)}")
    bad = invariants(sample + drawn, grouper, oracle)
    print(f"trace invariants over {len(sample) + n} cases: {sum(bad.values())} violations {dict(bad) or ''}")
    mrows = []
    for name, mutated in mutations(sch, grouper, drawn):
        mg = Grouper(mutated)
        ms, md = agreement(sample, mg, expected)
        gs, gd = agreement(drawn, mg, oracle.group)
        mrows.append([name, len(md), len(gd)] + [_pct(gs[f], n) for f in FIELDS])
    print_table("Mutation check: one row broken in the engine's scheme (the comparison must fail)",
                ["mutation", "sample cases differing", "drawn cases differing", *[f"drawn {f}" for f in FIELDS]], mrows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_table(f"Speed on one core (this process; load average {load:.1f} on {os.cpu_count()} cores)",
                ["what", "cases", "wall s", "cases/wall s", "CPU s", "cases/CPU s"], speed(drawn + sample, grouper, oracle))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=12000, help="cases drawn from the tables")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--upcoding", action="store_true", help="upcoding precision/recall on a fresh synth batch")
    ap.add_argument("--records", type=int, default=160, help="records of the synth batch (--upcoding)")
    ap.add_argument("--out", type=Path, help="folder for the synth batch and its database, kept for reruns (--upcoding)")
    ap.add_argument("--styles", help="comma-separated print styles of the synth batch (--upcoding; default: standard; `ledger` and `county3` are held out of development)")
    args = ap.parse_args(argv)
    if args.upcoding:
        from drg_upcoding import upcoding_bench
        return upcoding_bench(args.records, args.seed, args.out, args.styles.split(",") if args.styles else None)
    grouping_bench(args.cases, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
