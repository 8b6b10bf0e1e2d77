"""A second, deliberately plain CHS-DRG interpreter for bench/drg.py, written from the data's
README (../shared/data/chs-drg-1.1/README.md) and sharing no code with pipeline/drg: it reads the
source files themselves (the shared folder's grouping.json and TSVs when present, else the
shipped scheme's files), parses the CSV its own way, and evaluates each condition by walking the
JSON for every case, with no compilation and no index. Agreement with the engine on generated
cases shows the engine's compiled, indexed form does what the plain reading of the schema says;
it does not show either agrees with OpenDRG beyond the 300 reference cases.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


def _find(folder: Path, name: str) -> Path:
    for cand in (folder / name, folder / (name + ".gz"), folder / name.removesuffix(".gz")):
        if cand.is_file():
            return cand
    raise FileNotFoundError(folder / name)


class Oracle:
    def __init__(self, folder: Path):
        gfile = _find(folder, "grouping.json")
        self.g = json.loads(_text(gfile))
        self.tables = {}
        for name, fname in self.g["tables"].items():
            lines = _text(_find(folder, fname)).splitlines()
            head = lines[0].split("\t")
            self.tables[name] = [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]
        self.mcc = {r["code"]: r["exclusion_table"] for r in self.tables["mcc"]}
        self.cc = {r["code"]: r["exclusion_table"] for r in self.tables["cc"]}
        self.cce = {r["code"]: r["exclusion_table"] for r in self.tables["cce"]}
        self._sets: dict[int, set] = {}
        self._tab: dict[str, set] = {}

    def _set(self, lst) -> set:
        # memo per list object only so the bench finishes; membership is still asked list by list
        key = id(lst)
        if key not in self._sets:
            self._sets[key] = set(lst)
        return self._sets[key]

    def table_codes(self, name) -> set:
        if name not in self._tab:
            self._tab[name] = {r["code"] for r in self.tables[name]}
        return self._tab[name]

    # --- README "Parsing" ---------------------------------------------------------------------
    @staticmethod
    def num(s):
        if s is None or s == "":
            return None
        if re.fullmatch(r"\s*-?\d+\s*", s):
            return int(s)
        try:
            f = float(s)
        except ValueError:
            return s
        if f == f and f not in (float("inf"), float("-inf")) and f == int(f):
            return int(f)
        return s

    def parse(self, row: dict) -> dict:
        dx_field = (row.get("ICD10_DRGS") or "").strip()
        px_field = (row.get("ICD9_DRGS") or "").strip()
        return {
            "index": (row.get("Index") or "").strip(),
            "sex": self.num((row.get("gender") or "").strip()),
            "age": self.num((row.get("age") or "").strip()),
            "age_day": self.num((row.get("ageDay") or "").strip()),
            "weight": self.num((row.get("weight") or "").strip()),
            "dx": [c.strip() for c in re.split(r"[|,]", dx_field)] if dx_field else [""],
            "px": [c.strip() for c in re.split(r"[|,]", px_field)] if px_field else [],
        }

    # --- README "Conditions" --------------------------------------------------------------------
    def holds(self, c: dict, k: dict) -> bool:
        (kind, v), = c.items()
        dx, px = k["dx"], k["px"]
        if kind == "always":
            return True
        if kind == "all":
            return all(self.holds(x, k) for x in v)
        if kind == "any":
            return any(self.holds(x, k) for x in v)
        if kind == "not":
            return not self.holds(v, k)
        if kind == "main_diagnosis_in":
            return len(dx) > 0 and dx[0] in self._set(v)
        if kind == "any_diagnosis_in":
            return any(d in self._set(v) for d in dx)
        if kind == "main_procedure_in":
            return len(px) > 0 and px[0] in self._set(v)
        if kind == "any_procedure_in":
            return any(p in self._set(v) for p in px)
        if kind == "main_procedure_in_table":
            return len(px) > 0 and px[0] in self.table_codes(v)
        if kind == "any_procedure_in_table":
            return any(p in self.table_codes(v) for p in px)
        if kind == "sex":
            return type(k["sex"]) is int and k["sex"] == v
        if kind == "age_years_eq":
            return type(k["age"]) is int and k["age"] == v
        if kind == "age_days_max":
            return type(k["age_day"]) is int and k["age_day"] <= v
        if kind == "weight_g":
            w = k["weight"]
            if type(w) is not int or w == 0:
                return False
            return (v[0] is None or w >= v[0]) and (v[1] is None or w < v[1])
        if kind == "procedure_groups":
            labels = set()
            for p in px:
                if p in v["groups"]:
                    labels.add(v["groups"][p])
            return any(all(lab in labels for lab in req) for req in v["require"])
        if kind == "distinct_regions_min":
            regions = set()
            for d in set(dx):
                if d in v["regions"]:
                    regions.add(v["regions"][d])
            return len(regions) >= v["min"]
        raise ValueError(f"unknown condition {kind}")

    # --- README "How the MCC/CC tables are used" -------------------------------------------------
    def has(self, table: dict, dx: list) -> bool:
        if len(dx) < 2:
            return False
        for d in dx[1:]:
            if d in table:
                if dx[0] in self.cce and self.cce[dx[0]] == table[d]:
                    continue
                return True
        return False

    # --- README "Validation", in its numbered order -----------------------------------------------
    def invalid(self, k: dict) -> str | None:
        sex, age, day, weight = k["sex"], k["age"], k["age_day"], k["weight"]
        if sex is None:
            return "病人性别为空"
        if sex not in (1, 2, "1", "2", "男", "女"):
            return f"病人性别取值必须为1或2：{sex}"
        if age is None:
            return "病人年龄为空"
        if type(age) is not int or (age == 0 and day is not None and type(day) is not int):
            return "病案信息解析出错"
        if age == 0 and day is None:
            return "病人年龄0时，年龄天数必须有值"
        if age == 0 and day <= 28 and weight is None:
            return "新生儿的出生体重必须有值"
        if not k["dx"]:
            return "诊断信息为空"
        return None

    def group(self, row: dict) -> tuple[str, str, str, str]:
        """(status, mdc, adrg, drg) of one CSV row."""
        k = self.parse(row)
        if self.invalid(k) is not None:
            return "信息校验不通过", "0000", "00", "0000"
        for m in self.g["mdcs"]:
            if not self.holds(m["entry_condition"], k):
                continue
            adrgs = {a["adrg"]: a for a in m["adrgs"]}
            for step in m["steps"]:
                if "ambiguity_check" in step:
                    a = step["ambiguity_check"]
                    if a["enabled"] and self.holds(a["condition"], k):
                        return "歧义病案", m["mdc"], "QY", a["result_drg"]
                    continue
                a = adrgs[step["adrg"]]
                if not self.holds(a["condition"], k):
                    continue
                mcc = self.has(self.mcc, k["dx"])
                cc = self.has(self.cc, k["dx"])
                for d in a["drgs"]:
                    if d["condition"] == "always" or (d["condition"] == "mcc" and mcc) or (
                            d["condition"] == "mcc_or_cc" and (mcc or cc)):
                        return "分组成功", m["mdc"], a["adrg"], d["drg"]
                return "分组成功", m["mdc"], a["adrg"], a["adrg"]
        r = self.g["no_mdc_result"]
        return r["status"], r["mdc"], r["adrg"], r["drg"]
