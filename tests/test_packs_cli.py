"""`medreview knowledge import | list | show | diff | coverage` in-process against temporary packs roots."""
import json

from typer.testing import CliRunner

from cli import app
from pipeline.commands import knowledge as knowledge_commands
from pipeline.packs import active, store

X1 = "XL02BBA326A001010102180"


def invoke(*args):
    return CliRunner().invoke(app, ["knowledge", *map(str, args)])


def national_point(rule_class="药品区分性别使用", n=0):
    return [p for p in store.national().points if not p.superseded_by and p.rule_class == rule_class][n]


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_list_show_diff(tmp_path):
    root = tmp_path / "packs"
    first, second = national_point(), national_point(n=1)
    rows = [dict(first.to_dict(), constraint="限男性患者 (本县)"), {"kp_id": second.kp_id, "disabled": True},
            {"kp_id": "R-1", "rule_class": "药品限医疗机构级别", "med_codes": [X1], "item_name": "阿帕他胺片",
             "constraint": "限三级医疗机构"}]
    f = write(tmp_path / "county.jsonl", rows)
    res = invoke("import", f, "--packs", root)
    assert res.exit_code == 0, res.output
    assert "读取 3 行: 3 个知识点有效, 0 行有错误" in res.output and "已存储 stored county@" in res.output
    version = store.versions("county", root)[0].version
    ps = active.load_active(root)
    assert f"kp.{ps.version}" in res.output

    again = invoke("import", f, "--packs", root)
    assert again.exit_code == 0 and "未写入" in again.output
    assert len(store.versions("county", root)) == 1

    res = invoke("list", "--packs", root)
    assert res.exit_code == 0
    assert "national" in res.output and "county" in res.output and version in res.output
    assert f"kp.{ps.version}" in res.output and "3501 个知识点在用" in res.output   # -1 disabled +1 new

    res = invoke("show", first.kp_id, "--packs", root)
    assert res.exit_code == 0, res.output
    assert f"来自 from county@{version}" in res.output and "限男性患者 (本县)" in res.output
    assert f"覆盖 overrides {store.national().id}" in res.output and "constraint" in res.output
    res = invoke("show", second.kp_id, "--packs", root)
    assert res.exit_code == 0 and f"已停用 disabled by county@{version}" in res.output
    superseded = next(p for p in store.national().points if p.superseded_by)
    res = invoke("show", superseded.kp_id, "--packs", root)
    assert res.exit_code == 0 and f"已被 {superseded.superseded_by} 替代" in res.output
    res = invoke("show", superseded.superseded_by, "--packs", root)
    assert res.exit_code == 0 and f"替代 supersedes {superseded.kp_id}" in res.output
    assert invoke("show", "KP-nope", "--packs", root).exit_code == 2

    # a second version: one point changed, one added
    rows[2]["constraint"] = "限二级及以上医疗机构"
    rows.append({"kp_id": "R-2", "rule_class": "药品限医疗机构级别", "med_codes": [X1], "item_name": "阿帕他胺片"})
    res = invoke("import", write(tmp_path / "county.jsonl", rows), "--packs", root)
    assert res.exit_code == 0 and len(store.versions("county", root)) == 2
    res = invoke("diff", f"county@{version}", "county", "--packs", root)
    assert res.exit_code == 0, res.output
    assert "新增 +1, 删除 -0, 改动 ~1" in res.output and "+ R-2" in res.output and "~ R-1" in res.output
    assert "constraint" in res.output
    res = invoke("diff", "national", "county", "--packs", root, "--limit", "1")
    assert res.exit_code == 0 and "新增 +2, 删除 -3896, 改动 ~2" in res.output and "另有" in res.output
    assert invoke("diff", "national", "nope", "--packs", root).exit_code == 2


def test_import_errors_name_file_and_row_and_exit_codes(tmp_path):
    root = tmp_path / "packs"
    f = tmp_path / "region.jsonl"
    f.write_text(json.dumps({"kp_id": "R-1", "rule_class": "药品区分性别使用", "med_codes": [X1]}) + "\n"
                 + json.dumps({"kp_id": "R-2", "rule_class": "没有这个类别", "med_codes": [X1]}) + "\n"
                 + "{broken\n", encoding="utf-8")
    res = invoke("import", f, "--packs", root)
    assert res.exit_code == 1, res.output
    assert f"{f}:2: rule_class: 未知规则类别" in res.output and f"{f}:3: JSON" in res.output
    assert "2 行有错误" in res.output and store.versions("region", root)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n", encoding="utf-8")
    res = invoke("import", bad, "--packs", root)
    assert res.exit_code == 2 and "无可用知识点" in res.output and not store.versions("bad", root)
    assert invoke("import", tmp_path / "missing.csv", "--packs", root).exit_code == 2
    assert invoke("import", f, "--name", "national", "--packs", root).exit_code == 2
    named = invoke("import", f, "--name", "某县", "--packs", root)
    assert named.exit_code == 2 and "名称无效" in named.output


def test_coverage_counts_per_rule_class_and_takes_the_checks_verdict(tmp_path, capsys):
    res = invoke("coverage", "--packs", tmp_path)
    assert res.exit_code == 0
    line = next(x for x in res.output.splitlines() if x.startswith("医疗服务项目重复收费"))
    assert line.split()[-3:] == ["900", "900", "0"]   # the national rules' verdict
    assert "3501" in res.output and "未载入知识点的类别" in res.output

    def verdict(p):
        return True if p.rule_class != "药品限适应症" else "限定文本未解析"
    assert knowledge_commands.coverage(tmp_path, verdict) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("药品限适应症"))
    assert line.split()[2:] == ["510", "0", "510", "限定文本未解析", "510"]
    line = next(x for x in out.splitlines() if x.startswith("合计"))
    assert line.split()[-3:] == ["3501", "2991", "510"]
