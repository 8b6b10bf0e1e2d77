"""Timeline rules within one record: days without care while the bed is billed (挂床), leave
beyond limits, charges dated outside the stay, and documentation timeliness."""
from __future__ import annotations

import datetime as dt
import re

from pipeline.dates import parse_datetime
from pipeline.record.view import Document, Evidence, RecordView
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import find_terms, norm

NOTE_TYPES = ("首次病程记录", "日常病程记录", "上级医师查房记录")
# Documents written while caring for a present patient: each marks its day as attended.
CARE_TYPES = NOTE_TYPES + ("会诊记录", "手术记录", "麻醉记录", "术后首次病程记录", "护理记录", "检验报告", "检查报告",
                           "出院记录", "入院记录", "再次入院记录", "24小时内入出院记录")


def _date(s: str | None) -> dt.date | None:
    d = parse_datetime(s) if s else None
    return d.date() if d else None


def doc_evidence(view: RecordView, doc: Document) -> Evidence:
    """The line of a document that shows its date-time (else its title line)."""
    at = parse_datetime(doc.at) if doc.at else None
    if doc.line_start is not None and doc.line_end is not None:
        stop = min(doc.line_end, doc.line_start + 40)
        if at:
            for lid in range(doc.line_start, stop + 1):
                line = view.lines.get(lid)
                if line and parse_datetime(line.text) == at:
                    return view.evidence(line_id=lid, document=doc.doc_type)
        if doc.line_start in view.lines:
            return view.evidence(line_id=doc.line_start, document=doc.doc_type)
    return Evidence(doc.doc_type, None, f"{doc.title or doc.doc_type} {doc.at or ''}".strip(), doc.page_start,
                    None, None, None)


def activity_days(view: RecordView) -> set[dt.date]:
    """Days with evidence that the patient was cared for: notes and reports, temporary orders,
    vitals taken, labs drawn. Charges are not evidence (they are what is being checked)."""
    days: set[dt.date] = set()
    for d in view.documents:
        if d.doc_type in CARE_TYPES:
            days.add(_date(d.at))
    for o in view.orders:
        # a temporary order is executed the day it is written; a long order's start is not a visit
        if o.kind != "long":
            days.add(_date(o.start_at))
    for f in view.fields:
        if f.name.startswith("vital_"):
            days.add(_date(f.at))
    for lab in view.labs:
        days.add(_date(lab.at))
    days.discard(None)
    return days


def _stay_days(view: RecordView) -> list[dt.date]:
    a, d = view.admit, view.discharge
    if not a or not d or d < a:
        return []
    return [a.date() + dt.timedelta(days=i) for i in range((d.date() - a.date()).days + 1)]


def bed_hanging(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    days = _stay_days(view)
    if not days:
        return []
    active = activity_days(view)
    cats = set(params["bed_categories"])
    bed_by_day: dict[dt.date, list] = {}
    for c in view.billed():
        if (c.category or "") in cats or (not c.category and any(k.rstrip("费") in c.item_name for k in cats)):
            bed_by_day.setdefault(c.day(), []).append(c)
    flags, run = [], []
    for day in days + [None]:
        idle = day is not None and day not in active and day in bed_by_day
        if idle:
            run.append(day)
            continue
        if len(run) >= params["min_idle_days"]:
            # everything billed on days the patient was away is at risk, not only the bed
            charges = [c for c in view.billed() if c.day() in set(run)]
            amount = sum(c.amount for c in charges)
            first = (run[0] - days[0]).days + 1
            ev = [view.charge_evidence(c) for c in bed_by_day[run[0]][:3]]
            after = [d for d in view.documents_of(*NOTE_TYPES) if _date(d.at) and _date(d.at) > run[-1]]
            if after:
                ev.append(doc_evidence(view, after[0]))
            flags.append(Flag(
                rule_id="", key=run[0].isoformat(),
                reason=(f"住院第{first}至第{first + len(run) - 1}天({run[0]:%m-%d}至{run[-1]:%m-%d})连续{len(run)}天"
                        f"无病程记录、医嘱执行和生命体征记录，但床位费、护理费照常收取{amount:.2f}元"),
                evidence=ev, charge_ids=[c.id for c in charges], amount=amount))
        run = []
    return flags


_LEAVE_DAYS = re.compile(r"请假(\d{1,2})[天日]")


def leave_limit(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    mentions, total_days, ev = 0, 0, []
    terms = [norm(t) for t in params["leave_terms"]]
    for s in view.sections:
        text = norm(s.text)
        if not any(t in text for t in terms):
            continue
        hit = find_terms(view, terms, sections=[s])
        if hit is None:  # only negated mentions ("未请假")
            continue
        mentions += 1
        total_days += sum(int(n) for n in _LEAVE_DAYS.findall(text)) or 1
        ev.append(hit.evidence)
    los = view.los_days() or 0
    too_many = mentions > params["max_leaves"]
    too_long = los > 0 and total_days / los > params["max_leave_share"]
    if not (too_many or too_long):
        return []
    why = []
    if too_many:
        why.append(f"请假{mentions}次(上限{params['max_leaves']}次)")
    if too_long:
        why.append(f"请假约{total_days}天，占住院{los}天的{total_days / los:.0%}(上限{params['max_leave_share']:.0%})")
    return [Flag(rule_id="", key="", reason="住院期间" + "，".join(why), evidence=ev[:5])]


def charges_outside_stay(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a, d = view.admit, view.discharge
    if not a or not d:
        return []
    lo = a.date() - dt.timedelta(days=params["grace_days"])
    hi = d.date() + dt.timedelta(days=params["grace_days"])
    out = [c for c in view.billed() if c.day() and not lo <= c.day() <= hi]
    if not out:
        return []
    amount = sum(c.amount for c in out)
    days = sorted({c.day() for c in out})
    return [Flag(rule_id="", key="",
                 reason=(f"{len(out)}条费用的计费日期({', '.join(x.strftime('%m-%d') for x in days[:5])})在住院期间"
                         f"({a:%Y-%m-%d}至{d:%Y-%m-%d})之外，金额{amount:.2f}元"),
                 evidence=[view.charge_evidence(c) for c in out[:5]], charge_ids=[c.id for c in out], amount=amount)]


def doc_timeliness(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a, d = view.admit, view.discharge
    if not a:
        return []
    flags = []

    def late(types, limit_h, since, label, since_label, title_terms=()):
        docs = [x for x in view.documents_of(*types) if parse_datetime(x.at or "")]
        titled = [x for x in docs if any(t in (x.title or "") for t in title_terms)]
        docs = titled or docs
        if not docs or since is None:
            return
        doc = min(docs, key=lambda x: parse_datetime(x.at))
        hours = (parse_datetime(doc.at) - since).total_seconds() / 3600
        if hours > limit_h:
            flags.append(Flag(rule_id="", key=label,
                              reason=f"{label}于{since_label}后{hours:.0f}小时完成，超过{limit_h:g}小时时限",
                              evidence=[doc_evidence(view, doc)]))

    late(("入院记录", "再次入院记录"), params["admission_note_hours"], a, "入院记录", "入院")
    late(("首次病程记录",), params["first_course_hours"], a, "首次病程记录", "入院")
    late(("上级医师查房记录",), params["senior_round_hours"], a, "主治医师首次查房记录", "入院", ("主治医师",))
    late(("出院记录", "24小时内入出院记录"), params["discharge_note_hours"], d, "出院记录", "出院")

    notes = sorted((x for x in view.documents_of(*NOTE_TYPES) if _date(x.at)), key=lambda x: parse_datetime(x.at))
    active = activity_days(view) - {_date(x.at) for x in view.documents}
    for prev, nxt in zip(notes, notes[1:]):
        p, n = _date(prev.at), _date(nxt.at)
        gap = (n - p).days
        # A gap with no care at all is a bed-hanging signal, not a writing delay.
        attended = any(p < day < n for day in active)
        if gap > params["progress_gap_days"] and attended:
            flags.append(Flag(rule_id="", key=f"gap:{p.isoformat()}",
                              reason=f"{p:%m-%d}至{n:%m-%d}间隔{gap}天无病程记录，超过{params['progress_gap_days']}天",
                              evidence=[doc_evidence(view, prev), doc_evidence(view, nxt)]))
    return flags


CHECKS = {
    "bed_hanging": bed_hanging,
    "leave_limit": leave_limit,
    "charges_outside_stay": charges_outside_stay,
    "doc_timeliness": doc_timeliness,
}
