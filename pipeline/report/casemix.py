"""The report's case mix (病组结构): per hospital the DRG distribution, the CMI (mean weight of its
grouped records under the region's weights), the share of grouped records with an MCC or a CC
against the county (every hospital of the batch), and the 高套分组 flags with their amounts (flagged
and confirmed). Read from ``drg_groups`` (the score stage) and the DRG-UPCODING flags; its own HTML
partial (``templates/_casemix.html``) and Excel sheet, hooked into the report by one line each."""
from __future__ import annotations

import json
from collections import Counter, defaultdict

from pipeline import review

TOP_DRGS = 10
UPCODING_RULE = "DRG-UPCODING"


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _scope(rows: list[dict]) -> dict:
    grouped = [r for r in rows if r["drg"] and r["drg"] != "0000"]
    weights = [r["weight"] for r in grouped if r["weight"] is not None]
    drgs = Counter((r["drg"], r["drg_name"]) for r in grouped)
    wt = {r["drg"]: r["weight"] for r in grouped}
    return {
        "records": len(rows), "grouped": len(grouped),
        "statuses": dict(Counter(r["status"] for r in rows).most_common()),
        "cmi": round(sum(weights) / len(weights), 4) if weights else None,
        "total_weight": round(sum(weights), 4),
        "mcc_share": _share(sum(1 for r in grouped if r["has_mcc"]), len(grouped)),
        "cc_share": _share(sum(1 for r in grouped if r["has_cc"] and not r["has_mcc"]), len(grouped)),
        "cc_mcc_share": _share(sum(1 for r in grouped if r["has_mcc"] or r["has_cc"]), len(grouped)),
        "distinct_drgs": len(drgs),
        "top_drgs": [{"drg": d, "name": n, "records": k, "share": _share(k, len(grouped)), "weight": wt.get(d)}
                     for (d, n), k in drgs.most_common(TOP_DRGS)],
    }


def collect(db) -> dict | None:
    """The case-mix figures, or None when no record of the batch has been grouped."""
    if not db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'drg_groups'").fetchone():
        return None
    rows = list(db.query(
        "SELECT g.*, r.hospital_id, r.admission_no FROM drg_groups g JOIN records r ON r.id = g.record_id"
        " WHERE r.status != 'failed' ORDER BY g.record_id"))
    if not rows:
        return None
    names = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM hospitals")}
    flags = list(db.query(
        "SELECT f.id, f.record_id, f.rule_id, f.amount, f.source, f.details, r.hospital_id, r.admission_no"
        " FROM flags f JOIN records r ON r.id = f.record_id WHERE f.rule_id = ? ORDER BY f.id", [UPCODING_RULE]))
    states = review.derive(review.load_events(db), flags) if flags else {}
    by_hosp: dict = defaultdict(list)
    for r in rows:
        by_hosp[r["hospital_id"]].append(r)
    county = _scope(rows)
    up_by_hosp: dict = defaultdict(lambda: {"flags": 0, "amount_flagged_yuan": 0.0, "confirmed": 0, "amount_confirmed_yuan": 0.0})
    listed = []
    for f in flags:
        st = states.get(f["id"])
        if st is not None and st.state == "withdrawn":
            continue
        u = up_by_hosp[f["hospital_id"]]
        u["flags"] += 1
        u["amount_flagged_yuan"] = round(u["amount_flagged_yuan"] + (f["amount"] or 0.0), 2)
        if st is not None and st.state == "confirmed":
            u["confirmed"] += 1
            u["amount_confirmed_yuan"] = round(u["amount_confirmed_yuan"] + review.effective_amount(f, st), 2)
        d = json.loads(f["details"]) if f["details"] else {}
        coded, sup = d.get("coded") or {}, d.get("supported") or {}
        listed.append({"hospital_id": f["hospital_id"], "admission_no": f["admission_no"], "flag_id": f["id"],
                       "coded_drg": coded.get("drg"), "coded_name": coded.get("name"), "coded_weight": coded.get("weight"),
                       "supported_drg": sup.get("drg"), "supported_name": sup.get("name"), "supported_weight": sup.get("weight"),
                       "unsupported": "、".join(f"{i.get('written') or i.get('name') or ''}({i.get('code')})"
                                               for i in d.get("unsupported") or []),
                       "amount": f["amount"] or 0.0, "state": st.state if st is not None else "pending"})
    hospitals = []
    for hid in sorted(by_hosp, key=lambda h: (h is None, h or "")):
        s = _scope(by_hosp[hid])
        s.update(hospital_id=hid, name=names.get(hid), upcoding=up_by_hosp[hid],
                 cc_mcc_vs_county=(round(s["cc_mcc_share"] - county["cc_mcc_share"], 4)
                                   if s["cc_mcc_share"] is not None and county["cc_mcc_share"] is not None else None),
                 cmi_vs_county=(round(s["cmi"] / county["cmi"], 4) if s["cmi"] and county["cmi"] else None))
        hospitals.append(s)
    first = rows[0]
    return {"scheme": first["scheme"], "scheme_version": first["scheme_version"], "region": first["region"],
            "region_version": first["region_version"], "example_region": bool(first["region_example"]),
            "county": {**county, "upcoding": {k: round(sum(h["upcoding"][k] for h in hospitals), 2) for k in
                                              ("flags", "amount_flagged_yuan", "confirmed", "amount_confirmed_yuan")}},
            "hospitals": hospitals, "upcoding_flags": listed}


HOSPITAL_COLUMNS = (
    ("hospital_id", "医院编号"), ("name", "医院名称"), ("records", "病历数"), ("grouped", "入组病历"),
    ("distinct_drgs", "病组数"), ("cmi", "CMI"), ("cmi_vs_county", "CMI/全县"), ("cc_mcc_share", "CC/MCC占比"),
    ("cc_mcc_vs_county", "与全县差"), ("mcc_share", "MCC占比"), ("upcoding_flags", "高套分组疑点"),
    ("upcoding_amount", "疑点金额(元)"), ("upcoding_confirmed", "确认"), ("upcoding_confirmed_amount", "确认金额(元)"),
)
FLAG_COLUMNS = (
    ("hospital_id", "医院编号"), ("admission_no", "住院号"), ("coded_drg", "上报病组"), ("coded_name", "上报病组名称"),
    ("coded_weight", "上报权重"), ("supported_drg", "病历支持病组"), ("supported_name", "病历支持病组名称"),
    ("supported_weight", "支持权重"), ("unsupported", "无依据编码"), ("amount", "涉及金额(元)"), ("state", "审核状态"),
)


def hospital_rows(cm: dict) -> list[dict]:
    out = []
    for h in cm["hospitals"] + [{**cm["county"], "hospital_id": "全县", "name": "合计", "cmi_vs_county": 1.0,
                                  "cc_mcc_vs_county": 0.0}]:
        u = h["upcoding"]
        out.append({**h, "upcoding_flags": u["flags"], "upcoding_amount": u["amount_flagged_yuan"],
                    "upcoding_confirmed": u["confirmed"], "upcoding_confirmed_amount": u["amount_confirmed_yuan"]})
    return out


def excel_sheet(wb, cm: dict | None, put, bold) -> None:
    """The 病组结构 sheet (``put(ws, row, col, value, font)`` is the workbook's safe cell writer)."""
    if not cm:
        return
    ws = wb.create_sheet("病组结构")
    note = "（示例地区参数，权重与费率非真实）" if cm["example_region"] else ""
    put(ws, 1, 1, f"分组方案 {cm['scheme']} {cm['scheme_version']}；地区参数 {cm['region']} {cm['region_version']}{note}", bold)
    row = 3
    for c, (_, head) in enumerate(HOSPITAL_COLUMNS, 1):
        put(ws, row, c, head, bold)
    for h in hospital_rows(cm):
        row += 1
        for c, (key, _) in enumerate(HOSPITAL_COLUMNS, 1):
            put(ws, row, c, h.get(key))
    row += 2
    put(ws, row, 1, "各医院主要病组", bold)
    for h in cm["hospitals"]:
        for d in h["top_drgs"]:
            row += 1
            for c, v in enumerate((h["hospital_id"], d["drg"], d["name"], d["records"], d["share"], d["weight"]), 1):
                put(ws, row, c, v)
    row += 2
    put(ws, row, 1, "高套分组疑点", bold)
    row += 1
    for c, (_, head) in enumerate(FLAG_COLUMNS, 1):
        put(ws, row, c, head, bold)
    for f in cm["upcoding_flags"]:
        row += 1
        for c, (key, _) in enumerate(FLAG_COLUMNS, 1):
            put(ws, row, c, f.get(key))
