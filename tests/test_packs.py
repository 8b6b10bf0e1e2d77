"""Knowledge packs: row validation (JSONL, CSV, XLSX; every error names file and row), supersedes,
versioned storage (an identical import writes nothing), the merge of national and region packs,
the packs' version in the rules stamp, and the shipped national pack."""
import gzip
import json
from collections import Counter

import pytest

from pipeline import clock
from pipeline.packs import active, io as pack_io, store
from pipeline.packs.schema import KnowledgePoint, PackError, validate
from pipeline.rules import ruleset

X1 = "XL02BBA326A001010102180"
X2 = "XL02BBA326A001010178537"
S1 = "003111000030000"
CLASSES = {"药品区分性别使用", "药品限医疗机构级别", "医疗服务项目区分性别使用"}


def row(kp_id, **kw):
    base = {"kp_id": kp_id, "rule_class": "药品区分性别使用", "med_codes": [X1], "item_name": "阿帕他胺片",
            "constraint": "限男性", "detect_logic": "与限定性别不符"}
    return {**base, **kw}


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


# --- validation -------------------------------------------------------------------------------

def test_validate_normalizes_and_names_file_and_row():
    p = validate(row("KP-1", med_codes=[" xl02bba326a001010102180 ", "ＸＬ02BBA326A001010178537", X1],
                     published_at="2026-06-29 00:00:00", batch="17"), "f.jsonl:3")
    assert p.med_codes == (X1, X2) and p.batch == 17 and p.published_at == "2026-06-29"
    assert p.conditions is None and not p.disabled
    for bad, what in ((row("KP-2", med_codes=["X123"]), "不是国家医保编码"), (row("KP-2", rule_class=None), "缺少 rule_class"),
                      (row("KP-2", published_at="6/29"), "published_at"), (row("KP-2", colour="red"), "未知字段 colour"),
                      (row("KP 2"), "kp_id"), (row("KP-2", gz_code="GZ1"), "gz_code"), (row("KP-2", level1="政策"), "level1"),
                      (row("KP-2", supersedes="KP-2"), "替代自身"), (row("KP-2", med_code_count=5), "med_code_count")):
        with pytest.raises(PackError) as exc:
            validate(bad, "f.jsonl:3", CLASSES)
        assert str(exc.value).startswith("f.jsonl:3: ") and what in str(exc.value), str(exc.value)
    with pytest.raises(PackError, match="未知规则类别"):
        validate(row("KP-3", rule_class="不存在的类别"), "f.jsonl:4", CLASSES)
    # a region switching a point off needs only its id
    assert validate({"kp_id": "KP-9", "disabled": "是"}, "f.csv:2").disabled
    # the shared file's derived fields are read and dropped
    assert validate(row("KP-4", med_code=X1, med_code_count=1), "x").med_codes == (X1,)


def test_jsonl_rows_with_errors_name_file_and_row_and_the_rest_goes_on(tmp_path):
    f = write_jsonl(tmp_path / "region.jsonl", [row("KP-1"), "{not json", row("KP-2", med_codes=["bad"]),
                                                row("KP-1"), "", row("KP-3", med_codes=[S1], rule_class="医疗服务项目区分性别使用")])
    r = pack_io.read(f, CLASSES)
    assert [p.kp_id for p in r.points] == ["KP-1", "KP-3"]
    assert r.rows == 5 and len(r.errors) == 3
    assert r.errors[0].startswith(f"{f}:2: JSON")
    assert r.errors[1].startswith(f"{f}:3: med_codes")
    assert r.errors[2].startswith(f"{f}:4: kp_id KP-1 重复") and f"{f}:1" in r.errors[2]
    # a point without a source records the file and row it came from
    assert r.points[1].source == {"announcement_url": None, "attachment_file": "region.jsonl", "row": 6, "pdf_page": None}


def test_csv_lists_sources_and_errors(tmp_path):
    f = tmp_path / "region.csv"
    f.write_text(
        "kp_id,rule_class,med_codes,item_name,constraint,batch,published_at,source.attachment_file,source.row,disabled\n"
        f"R-1,药品区分性别使用,{X1}|{X2},阿帕他胺片,限男性,1,2026-05-01,某县补充.xlsx,7,\n"
        "R-2,药品区分性别使用,,,限男性,,,,,\n"
        f"R-3,药品区分性别使用,{X1},x,\"多行\n限定\",,2026-13-01,,,\n"
        ",,,,,,,,,\n"
        "R-4,,,,,,,,,true\n",
        encoding="utf-8")
    r = pack_io.read(f, CLASSES)
    assert [p.kp_id for p in r.points] == ["R-1", "R-4"]
    assert r.points[0].med_codes == (X1, X2) and r.points[0].source["row"] == 7 and r.points[0].batch == 1
    assert r.points[1].disabled
    assert r.errors[0] == f"{f}:3: 缺少 med_codes 和 item_name (至少要有一个)"
    assert r.errors[1].startswith(f"{f}:4: published_at")
    bad = tmp_path / "bad.csv"
    bad.write_text("kp_id,rule_class,colour\nR-1,药品区分性别使用,red\n", encoding="utf-8")
    r = pack_io.read(bad, CLASSES)
    assert not r.points and r.errors == [f"{bad}:1: 未知列 colour (可用: " + r.errors[0].split("(可用: ")[1]]


def test_xlsx_rows_and_numeric_service_codes(tmp_path):
    import openpyxl

    f = tmp_path / "region.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["kp_id", "rule_class", "med_codes", "item_name", "published_at", "source"])
    ws.append(["R-1", "医疗服务项目区分性别使用", int(S1), "夜间阴茎胀大试验", None, None])   # typed as a number
    ws.append(["R-2", "药品区分性别使用", "X1|X2", "x", None, None])
    ws.append([None] * 6)
    ws.append(["R-3", "药品区分性别使用", X1, "阿帕他胺片", "2026-06-29", json.dumps({"attachment_file": "a.xlsx", "row": 3})])
    wb.save(f)
    r = pack_io.read(f, CLASSES)
    assert [p.kp_id for p in r.points] == ["R-1", "R-3"]
    assert r.points[0].med_codes == (S1,) and r.points[0].source["row"] == 2
    assert r.points[1].source == {"announcement_url": None, "attachment_file": "a.xlsx", "row": 3, "pdf_page": None}
    assert len(r.errors) == 1 and r.errors[0].startswith(f"{f}:3: med_codes")
    (tmp_path / "not.xlsx").write_text("hello", encoding="utf-8")
    r = pack_io.read(tmp_path / "not.xlsx")
    assert not r.points and r.errors[0].startswith(f"{tmp_path / 'not.xlsx'}: 不是可读的 XLSX")


def test_a_folder_reads_every_pack_file(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [row("KP-1")])
    (tmp_path / "b.csv").write_text(f"kp_id,rule_class,med_codes\nKP-2,药品区分性别使用,{X2}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    r = pack_io.read(tmp_path, CLASSES)
    assert [p.kp_id for p in r.points] == ["KP-1", "KP-2"] and not r.errors
    with pytest.raises(PackError, match="文件不存在"):
        pack_io.read(tmp_path / "missing.jsonl")


# --- supersedes -------------------------------------------------------------------------------

def test_supersedes_newest_wins_and_the_replaced_point_is_history(tmp_path):
    f = write_jsonl(tmp_path / "p.jsonl", [
        row("A", published_at="2025-01-01"), row("B", supersedes="A", published_at="2026-01-28"),
        row("C", supersedes="B", published_at="2026-03-01"),
        row("D", published_at="2026-05-01"), row("E", supersedes="D", published_at="2026-02-01"),   # older than D
        row("F", supersedes="G"), row("G", supersedes="F"),                                         # a cycle
        row("H", supersedes="KP-elsewhere")])
    r = pack_io.read(f)
    by = {p.kp_id: p for p in r.points}
    assert by["A"].superseded_by == "B" and by["B"].superseded_by == "C" and by["C"].superseded_by is None
    assert "E" not in by and "F" not in by and "G" not in by and by["D"].superseded_by is None
    assert any(e.startswith(f"{f}:5: supersedes D") for e in r.errors)
    assert sum("循环" in e for e in r.errors) == 2
    assert r.external_supersedes == ["KP-elsewhere"]
    # of two points superseding one, the later published wins
    points, errors, _ = pack_io.resolve_supersedes(
        [KnowledgePoint("A"), KnowledgePoint("B", supersedes="A", published_at="2026-02-01"),
         KnowledgePoint("C", supersedes="A", published_at="2026-01-01")], {})
    assert not errors and points[0].superseded_by == "B"


# --- storage ----------------------------------------------------------------------------------

def test_import_is_versioned_and_an_identical_import_writes_nothing(tmp_path):
    root = tmp_path / "packs"
    pts = pack_io.read(write_jsonl(tmp_path / "r.jsonl", [row("R-1"), row("R-2", med_codes=[X2])])).points
    first = store.save("region", pts, origin={"files": ["r.jsonl"]}, root=root)
    assert first.written and first.pack.version.endswith("-" + first.pack.content_hash[:6])
    folder = first.pack.path
    assert sorted(p.name for p in folder.iterdir()) == ["pack.json", "points.jsonl.gz"]
    assert gzip.decompress((folder / "points.jsonl.gz").read_bytes()) == store.points_bytes(pts)
    assert (folder / "points.jsonl.gz").read_bytes()[4:8] == b"\0\0\0\0"   # gzip mtime 0
    # the same points in another order: same content, nothing written
    again = store.save("region", list(reversed(pts)), origin={}, root=root)
    assert not again.written and again.pack.version == first.pack.version
    assert [p.name for p in (root / "region").iterdir()] == [first.pack.version]
    changed = store.save("region", pts[:1], origin={}, root=root, at=clock.utc().replace(year=2099))
    assert changed.written and [p.version for p in store.versions("region", root)] == [first.pack.version, changed.pack.version]
    assert store.resolve("region", root).version == changed.pack.version
    assert store.resolve(f"region@{first.pack.version[:8]}", root).version == first.pack.version
    assert store.resolve(str(folder)).version == first.pack.version
    for bad in ("national", "a/b", ""):
        with pytest.raises(PackError):
            store.save(bad, pts, origin={}, root=root)


# --- the merge --------------------------------------------------------------------------------

def national_sample():
    nat = store.national()
    live = [p for p in nat.points if not p.superseded_by and p.rule_class == "药品区分性别使用"]
    return live[0], live[1]


def test_a_region_pack_overrides_disables_and_extends_the_national_pack(tmp_path, monkeypatch):
    root = tmp_path / "packs"
    monkeypatch.setenv("MEDREVIEW_PACKS", str(root))
    base = active.load_active()
    assert base.packs == (store.national(),) and len(base) == 3501
    base_rules = ruleset.load()
    assert base_rules.version.endswith(f"+kp.{base.version}")
    first, second = national_sample()
    region = [dict(first.to_dict(), constraint="限男性患者 (本县)"), {"kp_id": second.kp_id, "disabled": True},
              row("R-NEW", rule_class="药品限医疗机构级别", constraint="限三级医疗机构")]
    r = pack_io.read(write_jsonl(tmp_path / "county.jsonl", region), set(store.national().rule_classes))
    assert not r.errors
    store.save("county", r.points, origin={}, root=root)
    ps = active.load_active()
    assert [p.name for p in ps.packs] == ["national", "county"] and ps.version != base.version
    m = ps.merged
    assert ps.points[first.kp_id].constraint == "限男性患者 (本县)" and m.origin[first.kp_id].startswith("county@")
    assert m.overridden[first.kp_id][0][0] == first
    assert second.kp_id not in ps.points and m.disabled[second.kp_id][0] == second
    assert ps.points["R-NEW"].rule_class == "药品限医疗机构级别"
    assert len(ps) == len(base) - 1 + 1
    # the packs' version reaches the rules stamp that flags and stays record
    rules = ruleset.load()
    assert rules.version == f"{base_rules.catalogue.version}+kb.{base_rules.kb.digest}+kp.{ps.version}"
    assert rules.version != base_rules.version
    assert active.load_active() is ps   # cached until a pack is imported


def test_a_new_batch_supersedes_a_point_of_an_earlier_pack(tmp_path):
    root = tmp_path / "packs"
    first, _ = national_sample()
    newer = row("KP-NEWER", supersedes=first.kp_id, published_at="2026-08-01")
    store.save("national-2026-08", pack_io.read(write_jsonl(tmp_path / "b.jsonl", [newer])).points, origin={}, root=root)
    ps = active.load_active(root)
    assert first.kp_id not in ps.points and "KP-NEWER" in ps.points
    old, pack = ps.merged.history[first.kp_id]
    assert old.superseded_by == "KP-NEWER" and pack == store.national().id


def test_packsets_order_by_name_and_later_packs_win(tmp_path):
    root = tmp_path / "packs"
    for name, text in (("b-city", "市"), ("a-county", "县")):
        store.save(name, [validate(row("R-1", constraint=text), "x")], origin={}, root=root)
    ps = active.load_active(root)
    assert [p.name for p in ps.packs] == ["national", "a-county", "b-city"]
    assert ps.points["R-1"].constraint == "市" and len(ps.merged.overridden["R-1"]) == 1


# --- the shipped national pack (no shared data needed) ------------------------------------------

NATIONAL_IN_FORCE = {
    "医疗服务项目重复收费": 900, "药品限适应症": 510, "药品区分性别使用": 484, "医疗服务项目区分性别使用": 390,
    "手术项目未按规定折价收费": 378, "药品儿童专用": 271, "中药饮片单方使用不予支付": 116, "药品限二线使用": 110,
    "医疗服务项目限定频次": 67, "药品限医疗机构级别": 62, "药品限就医方式": 42, "中药饮片单复方均不予支付": 37,
    "药品限支付疗程": 30, "医疗服务项目儿童专用": 30, "超互联网医院药品支付范围": 22, "药品限儿童使用": 14,
    "医疗服务项目周期超频次": 14, "医疗服务项目限支付疗程": 11, "药品限工伤保险": 9, "药品限生育保险": 3,
    "医疗服务项目限年龄": 1,
}


def test_the_shipped_national_pack():
    nat = store.national()
    pts = nat.points
    # 3,899 published rows: 397 superseded (kept as history), one a note on its class, 3,501 in force
    assert len(pts) == 3898 and sum(1 for p in pts if p.superseded_by) == 397
    live = [p for p in pts if not p.superseded_by]
    assert len(live) == 3899 - 397 - 1 == 3501
    assert Counter(p.rule_class for p in live) == NATIONAL_IN_FORCE
    assert nat.meta["counts"]["by_rule_class"] == NATIONAL_IN_FORCE
    assert store.content_hash(pts, nat.rule_classes) == nat.content_hash
    assert nat.version.endswith(nat.content_hash[:6]) and nat.name == "national"
    assert len(nat.rule_classes) == 88 and nat.rule_classes["医疗服务项目区分性别使用"]["notes"]
    assert all(p.gz_code == nat.rule_classes[p.rule_class]["gz_code"] for p in live)
    assert all(p.level1 and p.med_codes for p in live)
    dated = {b["batch_tag"]: b["published_at"] for b in nat.meta["batches"]}
    assert dated["batch_17"] == "2026-06-29" and dated["updates_2026-01"] == "2026-01-28" and dated["batch_01"] is None
    assert all(p.source.get("attachment_file") for p in pts)
    assert (store.NATIONAL_DIR / "points.jsonl.gz").stat().st_size < 400_000
