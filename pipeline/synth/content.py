"""Write the documents of one admission (text paragraphs and tables) from its plan.

Every document starts with its standard title. Table rows and note headers are registered in
`Record.line_of` so that evidence pointing at a plan object resolves to the exact drawn line.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import timedelta

from . import drg_coding
from .people import INSURANCE_LABELS
from .plan import Plan

CATEGORY_GROUPS = [  # 病案首页 cost breakdown: (label, claim categories)
    ("一般医疗服务费", ("床位费", "诊查费")),
    ("护理费", ("护理费",)),
    ("实验室诊断费", ("化验费",)),
    ("影像及临床诊断费", ("检查费",)),
    ("非手术治疗项目费", ("治疗费",)),
    ("手术费", ("手术费",)),
    ("麻醉费", ("麻醉费",)),
    ("西药费", ("西药费",)),
    ("中成药费", ("中成药费",)),
    ("卫生材料费", ("卫生材料费",)),
]


@dataclass
class Text:
    text: str
    keep: tuple[str, ...] = ()  # substrings the line wrapper must not split
    section: str | None = None
    section_text: str | None = None
    ref: object = None  # plan object whose page is reported (progress notes)


@dataclass
class Table:
    columns: list[tuple[str, float]]  # header, width in pt
    rows: list[list[str]]
    refs: list[object] = field(default_factory=list)
    header: bool = True  # False: a grid of label/value cells without a header row (styles.py)


@dataclass
class Doc:
    title: str
    blocks: list
    printed: str | None = None  # the title as this hospital prints it (styles.py); lines split by \n


@dataclass
class Record:
    docs: list[Doc]
    header: str
    line_of: dict  # id(plan object) → exact line text


def _fill(rng: random.Random, template: str, **kw) -> str:
    template = re.sub(r"\[([^\]]+)\]", lambda m: rng.choice(m.group(1).split("|")), template)
    return template.format(**kw)


def _syn(rng: random.Random, phrases: dict, word: str) -> str:
    return rng.choice(phrases["synonyms"].get(word, [word]))


def duration(rng: random.Random, phrases: dict, days: int) -> str:
    for band in phrases["duration_units"]:
        if days <= band["max"]:
            form = rng.choice(band["forms"])
            return form.format(n=days, w=max(1, round(days / 7)), m=max(1, round(days / 30)), y=max(1, round(days / 365)))
    return f"{days}天"


def _dt(t) -> str:
    return f"{t:%Y-%m-%d %H:%M}"


class Writer:
    def __init__(self, plan: Plan, cat, rng: random.Random):
        self.p, self.cat, self.rng = plan, cat, rng
        self.ph = cat.phrases
        self.line_of: dict = {}
        s = plan.slot
        self.person = s.person
        self.peds = bool(plan.cond.get("peds"))
        self.sign = rng.choice(plan.cond["signs"])
        self.onset_days = rng.randint(*plan.cond["onset"])
        self.marital = "未婚" if plan.age < 22 else rng.choice(["已婚", "已婚", "已婚", "丧偶"] if plan.age > 60 else ["已婚", "已婚", "未婚"])
        v0 = plan.vitals[0]
        self.vitals0 = {"t": v0.temps[0] if v0.temps else "36.5", "p": v0.pulse, "r": v0.resp,
                        "sbp": v0.bp.split("/")[0], "dbp": v0.bp.split("/")[1]}

    # -- shared pieces ---------------------------------------------------------------------------
    def table(self, columns, rows_with_refs) -> Table:
        t = Table(columns, [r for r, _ in rows_with_refs], [ref for _, ref in rows_with_refs])
        for cells, ref in rows_with_refs:
            if ref is not None:
                self.line_of[id(ref)] = " ".join(c for c in cells if c)
        return t

    def vitals_short(self, v=None) -> str:
        v = v or self.vitals0
        return f"T {v['t']}℃，P {v['p']}次/分，R {v['r']}次/分，BP {v['sbp']}/{v['dbp']}mmHg"

    def symptoms(self) -> list[str]:
        return [_syn(self.rng, self.ph, s) for s in self.p.cond["symptoms"][:2]]

    def treatment(self) -> str:
        names = [self.cat.drugs[d]["name"] for d in self.p.drugs_used if self.cat.drugs[d]["route"] != "po"][:3]
        names = names or [self.cat.drugs[d]["name"] for d in self.p.drugs_used][:2]
        return "、".join(names) if names else "对症支持"

    def progress(self) -> str:
        return self.rng.choice(self.p.cond["progress"])

    # -- documents -------------------------------------------------------------------------------
    def front_page(self) -> Doc:
        p, s = self.p, self.p.slot
        person = self.person
        pay = INSURANCE_LABELS[p.insurance]
        blocks = [
            Text(f"医疗机构：{s.hospital.name} 医疗付费方式：{pay}"),
            Text(f"第{2 if s.readmission else 1}次住院 病案号：{s.admission_no}"),
            Text(f"姓名：{person.name} 性别：{person.sex} 出生日期：{person.birth:%Y-%m-%d} 年龄：{p.age}岁 国籍：中国"),
            Text(f"民族：{person.ethnicity} 职业：{person.occupation} 婚姻：{self.marital}"),
            Text(f"身份证号：{'未提供' if s.id_missing else person.id_number}"),
            Text(f"现住址：{person.address} 电话：{person.phone}"),
            Text(f"入院途径：{'急诊' if s.admit_at.hour >= 18 else '门诊'}"),
            Text(f"入院时间：{_dt(s.admit_at)} 入院科别：{p.cond['dept']} 病房：{p.cond['dept']}病区"),
            Text(f"出院时间：{_dt(s.discharge_at)} 出院科别：{p.cond['dept']} 实际住院{p.los}天"),
            Text(f"门（急）诊诊断：{p.main_dx[0]} 疾病编码：{p.main_dx[1]}"),
        ]
        rows = [(["主要诊断", p.coded_main[0], p.coded_main[1], "有"], None)]
        rows += [(["其他诊断", n, c, "有"], None) for n, c in p.coded_other]
        blocks.append(self.table([("诊断类别", 60), ("出院诊断", 230), ("疾病编码", 90), ("入院病情", 60)], rows))
        blocks.append(Text("药物过敏：无 死亡患者尸检：—"))
        d = p.doctors
        blocks.append(Text(f"科主任：{d['chief']} 主任（副主任）医师：{d['chief']} 主治医师：{d['attending']} 住院医师：{d['resident']}"))
        procs = [(row, None) for row in drg_coding.extra_procedure_rows(p, d["attending"])]
        if p.surgery:
            su = p.surgery
            procs.append(([su.code, f"{su.start:%Y-%m-%d}", su.name, d["attending"], su.anesthesia_label], None))
        if procs:
            blocks.append(self.table([("手术及操作编码", 80), ("手术日期", 62), ("手术及操作名称", 190), ("术者", 45), ("麻醉方式", 100)],
                                     procs))
        blocks.append(Text(f"离院方式：{p.discharge_mode}"))
        blocks.append(Text(f"是否有出院31天内再住院计划：{p.readmission_plan}"))
        total = p.total_cost
        blocks.append(Text(f"住院费用（元）：总费用：{total:.2f}"))
        parts = []
        for label, cats in CATEGORY_GROUPS:
            amount = sum(c.amount for c in p.charges if c.category in cats)
            parts.append(f"{label}：{amount:.2f}")
        for i in range(0, len(parts), 3):
            blocks.append(Text(" ".join(parts[i:i + 3])))
        return Doc("住院病案首页", blocks)

    def admission_record(self) -> Doc:
        p, s, rng, ph = self.p, self.p.slot, self.rng, self.ph
        cond, person = p.cond, self.person
        syms = self.symptoms()
        d = duration(rng, ph, self.onset_days)
        if cond.get("chemo"):
            chief = f"结肠癌术后{duration(rng, ph, self.onset_days)}，为行第{s.chemo_cycle or 2}周期化疗入院。"
            hpi = _fill(rng, rng.choice(ph["chemo_hpi"]), d=duration(rng, ph, self.onset_days), cycle=s.chemo_cycle or 2,
                        prev_cycles=max(1, (s.chemo_cycle or 2) - 1))
        else:
            sym_text = rng.choice(["、", "伴"]).join(syms) if len(syms) > 1 else syms[0]
            d2 = duration(rng, ph, max(1, self.onset_days // 3))
            chief = _fill(rng, rng.choice(ph["chief"]), s=sym_text, d=d, d2=d2)
            extra = "、".join(_syn(rng, ph, x) for x in rng.sample(cond["extra"], min(2, len(cond["extra"])))) or "其他不适"
            neg = "、".join(rng.sample(cond["negatives"], min(3, len(cond["negatives"])))) or "其他不适"
            prior = _fill(rng, rng.choice(ph["prior_plain"] if p.plain_prior else ph["prior"]), prior_drug=rng.choice(ph["prior_drug"]))
            tpl = rng.choice(ph["hpi_peds"] if self.peds else ph["hpi"])
            # trauma, pregnancy and incidental findings have their own cause in the symptom text
            cause = "" if any(k in syms[0] for k in ("伤", "停经", "发现", "术后")) else rng.choice(ph["cause"])
            hpi = _fill(rng, tpl, d=d, cause=cause, s1=syms[0], desc=rng.choice(ph["desc"]), extra=extra,
                        neg=neg, prior=prior, dx=p.admit_dx_lines[0].rstrip("？"), general=rng.choice(ph["general"]),
                        general_peds=rng.choice(ph["general_peds"]))
        keep = ()
        if p.readmit_text:
            hpi = p.readmit_text + hpi
            keep = (p.readmit_needle,)
        if self.peds:
            past = rng.choice(ph["past_peds"])
        elif p.comorbid:
            hist = []
            for cid in p.comorbid:
                cm = self.cat.comorbidities[cid]
                hist.append(cm["history"].format(years=rng.randint(2, 15), sbp=rng.randint(160, 185), dbp=rng.randint(95, 110)))
            past = _fill(rng, rng.choice(ph["past_with"]), history="；".join(hist))
        else:
            past = rng.choice(ph["past_clean"])
        if self.peds:
            personal = _fill(rng, rng.choice(ph["personal_peds"]), g=rng.randint(1, 2), p=1, bw=f"{rng.uniform(2.8, 3.8):.1f}")
        else:
            personal = _fill(rng, rng.choice(ph["personal"]), county=person.county,
                             smoke=rng.choice(ph["smoke"]) if person.sex == "男" else "否认吸烟史",
                             drink=rng.choice(ph["drink"]) if person.sex == "男" else "否认饮酒史")
        informant = "患儿母亲" if self.peds else rng.choice(["患者本人", "患者本人", "患者及家属"])
        blocks = [
            Text(f"姓名：{person.name} 性别：{person.sex} 年龄：{p.age}岁 民族：{person.ethnicity} 婚姻：{self.marital} 职业：{person.occupation}"),
            Text(f"出生地：{person.county} 入院时间：{_dt(s.admit_at)} 记录时间：{_dt(p.admission_note_at)}"),
            Text(f"病史陈述者：{informant} 可靠程度：可靠"),
            self.section("主诉", chief),
            self.section("现病史", hpi, keep=keep),
            self.section("既往史", past),
            self.section("个人史", personal),
        ]
        if not self.peds and p.age >= 20:
            if person.sex == "女":
                blocks.append(self.section("婚育史", _fill(rng, rng.choice(ph["marital_female"]), g=rng.randint(1, 4), p=rng.randint(1, 2),
                                                      k=rng.randint(1, 3), age_married=rng.randint(20, 28))))
                lmp = s.admit_at - timedelta(days=rng.randint(5, 25))
                men = ph["menstrual"][0] if p.age < 50 else ph["menstrual"][1]
                blocks.append(self.section("月经史", men.format(lmp=f"{lmp:%Y-%m-%d}", meno=max(1, p.age - 50))))
            else:
                blocks.append(self.section("婚育史", _fill(rng, rng.choice(ph["marital_male"]), k=rng.randint(1, 3), age_married=rng.randint(22, 30))))
        blocks.append(self.section("家族史", rng.choice(ph["family_peds"] if self.peds else ph["family"])))
        lung = self.sign if any(k in self.sign for k in ("肺", "啰音", "哮鸣")) else rng.choice(ph["lung_normal"])
        abd = self.sign if any(k in self.sign for k in ("腹", "麦氏", "墨菲")) else rng.choice(ph["abd_normal"])
        exam = _fill(rng, rng.choice(ph["vitals_line"]), **self.vitals0)
        exam += " " + rng.choice(ph["general_exam"]) + _fill(rng, rng.choice(ph["heart_lung_abd"]), lung=lung, abd=abd, p=self.vitals0["p"])
        blocks.append(self.section("体格检查", exam))
        blocks.append(self.section("专科情况", self.sign + "。"))
        pre = [e for e in p.exams if e.item != "ecg"]
        if pre and rng.random() < 0.5:
            e = pre[0]
            aux = _fill(rng, rng.choice(ph["aux_exam"]), date=f"{s.admit_at:%Y-%m-%d}", label=e.label, finding=e.finding).replace("本院", "本院门诊")
        else:
            aux = rng.choice(ph["aux_none"])
        blocks.append(self.section("辅助检查", aux))
        blocks.append(Text("初步诊断：", section="初步诊断", section_text="\n".join(f"{i}.{x}" for i, x in enumerate(p.admit_dx_lines, 1))))
        for i, x in enumerate(p.admit_dx_lines, 1):
            blocks.append(Text(f"{i}.{x}"))
        blocks.append(Text(f"医师签名：{p.doctors['resident']}"))
        return Doc("入院记录", blocks)

    def section(self, name: str, text: str, keep=()) -> Text:
        return Text(f"{name}：{text}", keep=tuple(keep), section=name, section_text=text)

    def note_header(self, note) -> str:
        p = self.p
        label = {
            "first": "",
            "round_first": f"主治医师{p.doctors['attending']}查房记录",
            "round": f"副主任医师{p.doctors['chief']}查房记录",
            "postop": "术后首次病程记录" if note.pod == 0 else "病程记录",
        }.get(note.role, "病程记录")
        line = f"{_dt(note.at)} {label}".strip()
        self.line_of[id(note)] = line
        return line

    def first_note(self, note) -> Doc:
        p, rng, ph = self.p, self.rng, self.ph
        person = self.person
        syms = self.symptoms()
        summary = f"患者{duration(rng, ph, self.onset_days)}前出现{'、'.join(syms)}。"
        aux = "；".join(f"{e.label}：{e.finding}" for e in p.exams[:1]) or "待完善"
        feats = [
            f"1.患者{person.sex}，{p.age}岁，因“{'、'.join(syms)}”入院。",
            f"2.{summary}",
            f"3.查体：{self.vitals_short()}，{self.sign}。",
            f"4.辅助检查：{aux}",
        ]
        dx = p.main_dx[0]
        basis = _fill(rng, rng.choice(ph["dx_basis"]), dx=dx, sympt_summary=summary, certainty=rng.choice(ph["certainty"]))
        diffs = [_fill(rng, rng.choice(ph["differential"]), diff=x) for x in p.cond["differential"][:2]]
        # the tests the plan names are the ones the reports show (not what a bill may claim)
        tests = "、".join(dict.fromkeys(panel.title for rep in sorted(p.labs, key=lambda r: r.sampled_at)
                                       for panel in rep.panels)) or "相关"
        nursing = self.cat.items[p.cond["nursing"]]["name"]
        plan_lines = [f"1.{nursing}，{p.cond['diet']}。", f"2.完善{tests}等检查。", f"3.予{self.treatment()}等治疗。",
                      "4.密切观察病情变化，必要时调整治疗方案。"]
        blocks = [Text(self.note_header(note), ref=note)]
        blocks.append(Text("病例特点：", section="病例特点", section_text="\n".join(feats)))
        blocks += [Text(x) for x in feats]
        discussion = basis + "".join(diffs)
        blocks.append(self.section("拟诊讨论", discussion))
        blocks.append(Text("诊疗计划：", section="诊疗计划", section_text="\n".join(plan_lines)))
        blocks += [Text(x) for x in plan_lines]
        blocks.append(Text(f"医师签名：{p.doctors['resident']}"))
        return Doc("首次病程记录", blocks)

    def note_text(self, note) -> str:
        p, rng, ph = self.p, self.rng, self.ph
        if note.text:
            return note.text
        day_vitals = next((v for v in p.vitals if v.day == note.day and v.temps), None)
        vs = self.vitals_short({"t": day_vitals.temps[0], "p": day_vitals.pulse, "r": day_vitals.resp,
                                "sbp": day_vitals.bp.split("/")[0], "dbp": day_vitals.bp.split("/")[1]}) if day_vitals else self.vitals_short()
        syms = self.symptoms()
        common = dict(today=rng.choice(["今日", "今晨", ""]), s1=syms[0], sleep=rng.choice(ph["sleep"]), vitals_short=vs,
                      sign=self.sign, lab_comment=rng.choice(ph["lab_comment"]), treatment=self.treatment(),
                      progress=self.progress(), sign_better=f"{self.sign}较前减轻" if "未见" not in self.sign else self.sign,
                      pod=note.pod, title="", doctor="", extra_history=rng.choice(ph["extra_history"]),
                      sympt_summary="、".join(syms), dx=p.main_dx[0], certainty=rng.choice(ph["certainty"]),
                      instruction=rng.choice(ph["instructions"]),
                      diff_line=f"需与{'、'.join(p.cond['differential'][:2])}相鉴别。" if p.cond["differential"] else "")
        if note.role == "round_first":
            return _fill(rng, rng.choice(ph["rounds_first"]), **{**common, "title": "主治医师", "doctor": p.doctors["attending"]})
        if note.role == "round":
            return _fill(rng, rng.choice(ph["rounds_later"]), **{**common, "title": "副主任医师", "doctor": p.doctors["chief"]})
        if note.role == "postop":
            if note.pod == 0 and p.surgery:
                su = p.surgery
                return (f"患者于{su.start:%H:%M}在{su.anesthesia_label}下行{su.name}，术中见{su.finding}，手术顺利，"
                        f"术后安返病房。{vs}。嘱密切观察生命体征及切口情况，予抗感染、补液等治疗。")
            return _fill(rng, rng.choice(ph["daily_postop"]), **common)
        if note.role == "discharge":
            return _fill(rng, rng.choice(ph["daily_discharge"]), **common)
        if note.role == "early":
            return _fill(rng, rng.choice(ph["daily_early"]), **common)
        return _fill(rng, rng.choice(ph["daily_late"]), **common)

    def progress_docs(self) -> list[Doc]:
        p = self.p
        docs: list[Doc] = []
        current = None
        for note in p.notes:
            if note.role == "first":
                continue
            body = [Text(self.note_header(note), ref=note), Text(self.note_text(note), keep=(note.text,) if note.text else ())]
            signer = p.doctors["resident"] if note.kind == "日常病程记录" else f"{p.doctors['resident']} 审签：{p.doctors['attending' if note.role == 'round_first' else 'chief']}"
            body.append(Text(f"医师签名：{signer}"))
            if note.kind == "上级医师查房记录" or current is None or current.title != note.kind:
                current = Doc(note.kind, [])
                docs.append(current)
            current.blocks += body
        return docs

    def surgery_docs(self) -> list[Doc]:
        p, rng = self.p, self.rng
        su = p.surgery
        if not su:
            return []
        d = p.doctors
        blood = rng.choice([5, 10, 20, 30, 50, 100])
        op = Doc("手术记录", [
            Text(f"手术日期：{su.start:%Y-%m-%d} 开始时间：{su.start:%H:%M} 结束时间：{su.end:%H:%M}"),
            self.section("术前诊断", p.main_dx[0]),
            self.section("术中诊断", p.main_dx[0]),
            self.section("手术名称", su.name),
            Text(f"手术医师：{d['attending']} 助手：{d['resident']} 麻醉方式：{su.anesthesia_label} 麻醉医师：{d['anesthetist']}"),
            self.section("手术经过", f"{su.steps}术中见{su.finding}。术中出血约{blood}ml，术毕患者安返病房。"),
            Text(f"记录时间：{_dt(su.end + timedelta(hours=rng.randint(1, 5)))} 记录者：{d['attending']}"),
        ])
        a_start, a_end = su.start - timedelta(minutes=15), su.end + timedelta(minutes=10)
        rows = []
        t = a_start
        while t <= a_end:
            rows.append(([f"{t:%H:%M}", f"{rng.randint(105, 140)}/{rng.randint(60, 85)}", str(rng.randint(62, 92)), str(rng.randint(97, 100))], None))
            t += timedelta(minutes=15)
        anes = Doc("麻醉记录", [
            Text(f"麻醉日期：{su.start:%Y-%m-%d} 麻醉方式：{su.anesthesia_label} ASA分级：{rng.choice(['Ⅰ级', 'Ⅱ级'])}"),
            Text(f"麻醉开始：{a_start:%H:%M} 麻醉结束：{a_end:%H:%M} 手术开始：{su.start:%H:%M} 手术结束：{su.end:%H:%M}"),
            self.section("术前诊断", p.main_dx[0]),
            self.section("手术方式", su.name),
            Text("术中生命体征："),
            self.table([("时间", 60), ("血压(mmHg)", 80), ("心率(次/分)", 80), ("SpO2(%)", 70)], rows),
            Text(f"麻醉医师签名：{d['anesthetist']}"),
        ])
        return [op, anes]

    def discharge_record(self) -> Doc:
        p, s, rng, ph = self.p, self.p.slot, self.rng, self.ph
        syms = self.symptoms()
        surgery_line = f"于{p.surgery.start:%Y-%m-%d}在{p.surgery.anesthesia_label}下行{p.surgery.name}，手术顺利，" if p.surgery else ""
        course = _fill(rng, rng.choice(ph["discharge_course"]), treatment=self.treatment(), surgery_line=surgery_line, progress=self.progress())
        status = _fill(rng, rng.choice(ph["discharge_status"]), progress=self.progress(),
                       sign_better=f"{self.sign}较前减轻" if "未见" not in self.sign else self.sign)
        dx_lines = [f"1.{p.discharge_dx_main[0]}"] + [f"{i}.{n}" for i, (n, _) in enumerate(p.other_dx, 2)]
        meds = [self.cat.drugs[x] for x in p.cond["discharge_drugs"]]
        med_line = ("出院带药：" + "；".join(f"{m['name']} {m['dose']} {m['route']} {m['freq']}" for m in meds) + "。") if meds else ph["meds_none"]
        orders = [ph["discharge_orders"][0], f"2.{med_line}", f"3.{rng.choice(ph['followup'])}门诊复诊，不适随诊。"]
        if s.planned_readmission:
            orders.append(f"4.2周后返院行第{s.chemo_cycle + 1}周期化疗。")
        blocks = [
            Text(f"入院日期：{_dt(s.admit_at)} 出院日期：{_dt(s.discharge_at)} 住院天数：{p.los}天"),
            self.section("入院情况", f"患者因“{'、'.join(syms)}”入院。查体：{self.vitals_short()}，{self.sign}。"),
            self.section("入院诊断", "；".join(p.admit_dx_lines)),
            self.section("诊疗经过", course),
            Text("出院诊断：", section="出院诊断", section_text="\n".join(dx_lines)),
            *[Text(x) for x in dx_lines],
            self.section("出院情况", status),
            Text("出院医嘱：", section="出院医嘱", section_text="\n".join(orders)),
            *[Text(x) for x in orders],
            Text(f"记录时间：{_dt(p.discharge_note_at)} 医师签名：{p.doctors['resident']}"),
        ]
        return Doc("出院记录", blocks)

    def orders_docs(self) -> list[Doc]:
        p, rng = self.p, self.rng
        doc_name, nurses = p.doctors["resident"], p.nurses
        long_rows, temp_rows = [], []
        for o in sorted(p.orders, key=lambda o: o.start):
            if o.kind == "long":
                stop = _dt(o.stop) if o.stop else ""
                long_rows.append(([_dt(o.start), o.text, doc_name, stop, doc_name if stop else ""], o))
            else:
                exec_at = o.start + timedelta(minutes=rng.randint(5, 40))
                temp_rows.append(([_dt(o.start), o.text, doc_name, _dt(exec_at), rng.choice(nurses)], o))
        cols_long = [("开始时间", 72), ("长期医嘱内容", 210), ("医师", 38), ("停止时间", 72), ("医师", 38)]
        cols_temp = [("下达时间", 72), ("临时医嘱内容", 210), ("医师", 38), ("执行时间", 72), ("执行护士", 38)]
        return [Doc("长期医嘱单", [self.table(cols_long, long_rows)]), Doc("临时医嘱单", [self.table(cols_temp, temp_rows)])]

    def temperature_chart(self) -> Doc:
        p, s = self.p, self.p.slot
        rows = []
        for v in p.vitals:
            day = s.admit_at.date() + timedelta(days=v.day)
            rows.append(([f"{day:%Y-%m-%d}", str(v.day + 1), "" if v.pod is None else str(v.pod), "/".join(v.temps),
                          v.pulse, v.resp, v.bp, v.stool, v.mark], v))
        cols = [("日期", 56), ("住院日数", 40), ("术后日数", 40), ("体温(℃)", 80), ("脉搏", 32), ("呼吸", 32), ("血压", 56), ("大便", 28), ("备注", 90)]
        return Doc("体温单", [Text(f"入院日期：{s.admit_at:%Y-%m-%d} 住院号：{s.admission_no}"), self.table(cols, rows)])

    def lab_docs(self) -> list[Doc]:
        docs = []
        for rep in sorted(self.p.labs, key=lambda r: r.sampled_at):
            blocks = [Text(f"标本：静脉血 采样时间：{_dt(rep.sampled_at)} 报告时间：{_dt(rep.reported_at)}")]
            for panel in rep.panels:
                title = f"检验项目：{panel.title}"
                self.line_of[id(panel)] = title
                blocks.append(Text(title))
                rows = [([r.name, r.abbr, r.value, r.flag, r.unit, r.ref], r) for r in panel.rows]
                blocks.append(self.table([("项目", 130), ("缩写", 62), ("结果", 56), ("提示", 28), ("单位", 62), ("参考区间", 90)], rows))
            blocks.append(Text(f"检验者：{self.p.nurses[0]} 审核者：{self.p.nurses[1]}"))
            docs.append(Doc("检验报告", blocks))
        return docs

    def exam_doc(self) -> Doc | None:
        if not self.p.exams:
            return None
        blocks = []
        for e in sorted(self.p.exams, key=lambda e: e.at):
            title = f"检查项目：{e.title}"
            self.line_of[id(e)] = title
            blocks += [Text(title), Text(f"检查时间：{_dt(e.at)}"), Text(f"检查所见及诊断：{e.finding}"),
                       Text(f"报告医师：{self.p.doctors['anesthetist']}")]
        return Doc("检查报告", blocks)

    def charges_doc(self) -> Doc:
        p, s = self.p, self.p.slot
        rows = [([str(c.row), f"{c.at:%Y-%m-%d %H:%M:%S}", c.code, c.name, c.category, str(c.qty), f"{c.price:.2f}", f"{c.amount:.2f}"], c)
                for c in p.charges]
        cols = [("序号", 22), ("费用发生时间", 82), ("医保项目编码", 68), ("项目名称", 140), ("费用类别", 44), ("数量", 24), ("单价", 42), ("金额", 46)]
        return Doc("费用清单", [
            Text(f"入院日期：{s.admit_at:%Y-%m-%d} 出院日期：{s.discharge_at:%Y-%m-%d} 费用总额：{p.total_cost:.2f}元"),
            self.table(cols, rows),
            Text(f"合计：{p.total_cost:.2f}元"),
        ])


def write_record(plan: Plan, cat, rng: random.Random) -> Record:
    w = Writer(plan, cat, rng)
    s = plan.slot
    docs = [w.front_page(), w.admission_record()]
    first = next(n for n in plan.notes if n.role == "first")
    docs.append(w.first_note(first))
    docs += w.progress_docs()
    docs += w.surgery_docs()
    docs.append(w.discharge_record())
    docs += w.orders_docs()
    docs.append(w.temperature_chart())
    docs += w.lab_docs()
    exam = w.exam_doc()
    if exam:
        docs.append(exam)
    docs.append(w.charges_doc())
    header = f"{s.hospital.name} 姓名：{s.person.name} 住院号：{s.admission_no} 科别：{plan.cond['dept']} 床号：{s.bed}"
    return Record(docs, header, w.line_of)
