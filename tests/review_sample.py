"""A small synthetic batch for the review UI's tests and benchmark (bench/ui.py).

It writes what the pipeline stages would: records, pages with stored page images (drawn with
PIL), OCR lines with boxes, entities, charges, scores and flags with evidence. The text is
invented; one OCR line deliberately contains markup to prove the UI escapes record text.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.pageimages import pages_dir
from pipeline.store import connect, dumps, insert_many, insert_one, now, transaction

PAGE_W, PAGE_H = 1240, 1754          # A4 at 150 dpi, page coordinates in px
LINE_H, TOP, LEFT = 44, 120, 100
FONT_PATHS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
XSS_TEXT = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
EVIDENCE_TEXT = "血常规 白细胞 6.2×10^9/L 未见异常 仍予头孢曲松静滴"
BODY = ("患者一般情况可，生命体征平稳，继续目前治疗方案。", "查体：神志清，精神可，双肺呼吸音清。",
        "今日复查各项指标，较前好转。", "遵医嘱予以对症支持治疗，密切观察病情变化。")


def _font(size: int = 26):
    for p in FONT_PATHS:
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default()


def _page_lines(page_no: int, n_lines: int) -> list[str]:
    texts = [f"日常病程记录  第 {page_no} 页"]
    for i in range(1, n_lines):
        texts.append(BODY[(page_no + i) % len(BODY)])
    if page_no == 3:
        texts[5] = EVIDENCE_TEXT
        texts[7] = XSS_TEXT
    if page_no == 45:
        texts[10] = "住院期间每日行床旁心电监护，病情平稳。"
    return texts


def _draw(texts: list[str], path: Path, font) -> None:
    img = Image.new("L", (PAGE_W, PAGE_H), 255)
    d = ImageDraw.Draw(img)
    for i, t in enumerate(texts):
        d.text((LEFT, TOP + i * LINE_H), t, fill=0, font=font)
    img.save(path, format="PNG", optimize=False)


def build(db_path: str | Path, *, big_pages: int = 60, lines_per_page: int = 30, distinct_images: int = 60) -> dict:
    """Create the sample batch in ``db_path``; return ids tests refer to.

    ``distinct_images`` < ``big_pages`` reuses drawn images for later pages (faster fixtures).
    """
    db_path = Path(db_path)
    db = connect(db_path)
    img_dir = pages_dir(db_path)
    img_dir.mkdir(parents=True, exist_ok=True)
    font = _font()
    ts = now()
    ids: dict = {}
    with transaction(db):
        insert_many(db, "hospitals", [
            {"id": "H001", "name": "示例县人民医院", "level": "二级", "created_at": ts},
            {"id": "H002", "name": "示例县中医院", "level": "二级", "created_at": ts},
        ])
        insert_many(db, "model_versions", [
            {"id": "clf-old", "kind": "classifier", "path": "models/clf-old", "created_at": "2026-01-01T00:00:00+00:00"},
            {"id": "clf-new", "kind": "classifier", "path": "models/clf-new", "created_at": "2026-06-01T00:00:00+00:00"},
        ])
        specs = [  # (hospital, admission_no, pages, probability, discharge)
            ("H001", "ZY2026001", big_pages, 0.91, "2026-03-10"),
            ("H001", "ZY2026002", 3, 0.55, "2026-04-02"),
            ("H002", "ZY2026003", 2, 0.72, "2026-05-20"),
            ("H002", "ZY2026004", 2, 0.05, "2026-05-21"),   # scored, no flags
        ]
        recs = []
        for k, (hosp, adm, n_pages, prob, dis) in enumerate(specs, start=1):
            rid = insert_one(db, "records", {
                "sha256": f"sample-{k}", "source_path": f"/batch/{hosp}/{adm}", "kind": "image-folder",
                "hospital_id": hosp, "admission_no": adm, "sex": "男" if k % 2 else "女", "age": 40 + k * 7,
                "department": "内科", "admit_at": f"{dis[:8]}01", "discharge_at": dis, "n_pages": n_pages,
                "stage": "scored", "created_at": ts, "updated_at": ts})
            recs.append(rid)
            page_ids, line_ids = {}, {}
            for p in range(1, n_pages + 1):
                texts = _page_lines(p, lines_per_page)
                name = f"r{rid}p{p}.png"
                src = p if p <= distinct_images else ((p - 1) % distinct_images) + 1
                if src == p or not (img_dir / f"r{rid}p{src}.png").exists():
                    _draw(texts, img_dir / name, font)
                else:
                    name = f"r{rid}p{src}.png"
                pid = insert_one(db, "pages", {
                    "record_id": rid, "page_no": p, "source_ref": name, "width": PAGE_W, "height": PAGE_H,
                    "unit": "px", "dpi": 150, "image_path": name, "text_source": "ocr", "engine": "sample",
                    "text": "\n".join(texts), "created_at": ts})
                page_ids[p] = pid
                rows = [{"page_id": pid, "line_no": i, "text": t, "x0": LEFT - 4, "y0": TOP + i * LINE_H - 4,
                         "x1": LEFT + 27 * len(t), "y1": TOP + i * LINE_H + 34, "confidence": 0.98}
                        for i, t in enumerate(texts)]
                insert_many(db, "lines", rows)
                for row in db.conn.execute("SELECT id, line_no FROM lines WHERE page_id = ?", (pid,)):
                    line_ids[(p, row[1])] = row[0]
            for mv, delta in (("clf-old", -0.3), ("clf-new", 0.0)):
                insert_one(db, "scores", {
                    "record_id": rid, "model_version": mv, "probability": max(0.0, prob + delta),
                    "explanation": dumps([{"feature": "抗菌药物使用天数", "value": 7, "weight": 0.8},
                                          {"feature": "住院天数", "value": 9, "weight": 0.3},
                                          {"feature": "检验结果正常", "value": 1, "weight": -0.2}]),
                    "created_at": ts})
            charge_ids = []
            for c in range(1, 13):
                charge_ids.append(insert_one(db, "charges", {
                    "record_id": rid, "source": "bill", "seq": c, "hospital_id": hosp, "admission_no": adm,
                    "at": f"{dis} 08:00", "item_code": f"XM{c:04d}",
                    "item_name": "注射用头孢曲松钠" if c <= 3 else f"护理费{c}",
                    "category": "西药费" if c <= 3 else "护理费", "qty": 1, "unit_price": 35.5, "amount": 35.5,
                    "page_id": page_ids[min(n_pages, 2)]}))
            ents = [("DIAGNOSIS", "社区获得性肺炎", 0, 0, "J18.9", "肺炎", 1),
                    ("SYMPTOM", "发热", 1, 0, None, None, 1),
                    ("DIAGNOSIS", "肺结核", 0, 1, None, None, 1),
                    ("DRUG", "头孢曲松", 0, 0, None, None, min(3, n_pages))]
            insert_many(db, "entities", [
                {"record_id": rid, "seq": i, "label": lab, "text": txt, "negated": neg, "uncertain": unc,
                 "code": code, "code_name": cname, "page_id": page_ids[pg]}
                for i, (lab, txt, neg, unc, code, cname, pg) in enumerate(ents, start=1)])
            ids[adm] = {"record_id": rid, "page_ids": page_ids, "line_ids": line_ids, "charge_ids": charge_ids}

        def ev(adm, page_no, line_no, text):
            # Evidence boxes are the OCR line's box, as the extract stage records them.
            info = ids[adm]
            line_id = info["line_ids"][(page_no, line_no)]
            box = db.conn.execute("SELECT x0, y0, x1, y1 FROM lines WHERE id = ?", (line_id,)).fetchone()
            return {"document": "日常病程记录", "section": "病程", "text": text, "page_no": page_no,
                    "page_id": info["page_ids"][page_no], "line_id": line_id, "bbox": list(box)}

        flags = [
            ("ZY2026001", "R-ABX-01", "无指征使用抗菌药物", "明确违规", 0.88, "检验结果正常仍使用抗菌药物，无感染指征。",
             106.5, [ev("ZY2026001", 3, 5, "未见异常 仍予头孢曲松静滴")], ids["ZY2026001"]["charge_ids"][:3]),
            ("ZY2026001", "R-MON-02", "心电监护收费与医嘱不符", "可疑", 0.61, "每日收取心电监护费，病程记录病情平稳。",
             71.0, [ev("ZY2026001", 45, 10, "每日行床旁心电监护")], ids["ZY2026001"]["charge_ids"][3:5]),
            ("ZY2026002", "R-ABX-01", "无指征使用抗菌药物", "可疑", 0.52, "抗菌药物使用依据不足。",
             35.5, [ev("ZY2026002", 2, 3, BODY[(2 + 3) % len(BODY)][:6])], ids["ZY2026002"]["charge_ids"][:1]),
            ("ZY2026003", "R-LOS-03", "低标准入院", "可疑", 0.70, "入院指征不足，住院期间仅口服用药。",
             213.0, [ev("ZY2026003", 1, 2, BODY[(1 + 2) % len(BODY)][:6])], []),
        ]
        for k, (adm, rule, name, sev, score, reason, amount, evidence, cids) in enumerate(flags):
            fid = insert_one(db, "flags", {
                "record_id": ids[adm]["record_id"], "rule_id": rule, "rule_name": name, "catalogue_version": "cat-2026.1",
                "category": "不合理诊疗", "severity": sev, "score": score, "reason": reason, "amount": amount,
                "evidence": dumps(evidence), "charge_ids": dumps(cids), "model_version": "clf-new",
                "source": "system", "created_at": ts})
            ids.setdefault("flags", []).append(fid)
    db.conn.close()
    return ids
