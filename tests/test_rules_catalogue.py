"""Rule catalogue: the packaged file validates; region overrides change parameters and disable
rules; invalid files fail with errors naming the file and the key; the rules version covers the
catalogue, an override and the knowledge tables."""
import re

import pytest
import yaml

from pipeline.rules import knowledge, ruleset
from pipeline.rules.checks import cross_record, known_checks
from pipeline.rules.errors import CatalogueError


def test_packaged_catalogue_is_valid_and_complete():
    cat = ruleset.load_catalogue()
    assert cat.version
    types = {r.violation_type for r in cat.rules}
    for t in ("low_standard_admission", "split_admission", "bed_hanging", "duplicate_charge", "excess_charge",
              "item_substitution", "over_examination", "drug_restriction", "upcoding", "doc_timeliness"):
        assert t in types
    for r in cat.rules:
        assert r.legal_basis.startswith("《") and r.severity in ("明确违规", "可疑")
        assert r.check in known_checks()[r.family]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_region_override_changes_window_and_disables_rule(tmp_path):
    p = write(tmp_path, "region.yaml", {"region": "某县", "rules": {
        "XR-SPLIT-ADMISSION": {"params": {"window_days": 7}}, "CH-NO-ORDER": {"enabled": False}}})
    cat = ruleset.load_catalogue(override=p)
    assert cat.get("XR-SPLIT-ADMISSION").params["window_days"] == 7
    assert not cat.get("CH-NO-ORDER").enabled
    assert cat.version != ruleset.load_catalogue().version and cat.version.startswith(ruleset.load_catalogue().version)
    # the changed window changes the verdict on a 10-day readmission
    stays = [cross_record.Stay(1, "p", "H", "2024-03-01 09:00", "2024-03-05 09:00", "J18.9", "肺炎"),
             cross_record.Stay(2, "p", "H", "2024-03-15 09:00", "2024-03-20 09:00", "J18.9", "肺炎")]
    assert ruleset.load().evaluate_stays(stays)
    assert not [f for f in ruleset.load(override=p).evaluate_stays(stays) if f.rule_id == "XR-SPLIT-ADMISSION"]


@pytest.mark.parametrize("rules, message", [
    ({"NO-SUCH-RULE": {"enabled": False}}, "rules.NO-SUCH-RULE"),
    ({"XR-SPLIT-ADMISSION": {"params": {"window_days": "十五"}}}, "window_days"),
    ({"XR-SPLIT-ADMISSION": {"params": {"window_days": 400}}}, "大于上限"),
    ({"XR-SPLIT-ADMISSION": {"params": {"windw_days": 7}}}, "params.windw_days"),
    ({"XR-SPLIT-ADMISSION": {"severity": "明确违规"}}, "severity"),
    ({"XR-SPLIT-ADMISSION": {"enabled": "yes"}}, "enabled"),
])
def test_override_errors_name_file_and_key(tmp_path, rules, message):
    p = write(tmp_path, "bad_region.yaml", {"region": "某县", "rules": rules})
    with pytest.raises(CatalogueError) as exc:
        ruleset.load_catalogue(override=p)
    assert "bad_region.yaml" in str(exc.value) and message in str(exc.value)


def test_override_requires_region(tmp_path):
    p = write(tmp_path, "r.yaml", {"rules": {}})
    with pytest.raises(CatalogueError, match="region"):
        ruleset.load_catalogue(override=p)


def base_rule(**kw):
    rule = {"id": "R1", "name": "测试", "category": "收费", "violation_type": "x", "legal_basis": "《条例》",
            "severity": "可疑", "family": "charges", "check": "daily_cap", "params": {}}
    rule.update(kw)
    return rule


@pytest.mark.parametrize("rule, message", [
    (base_rule(severity="严重"), "severity"),
    (base_rule(family="magic"), "未知的 family"),
    (base_rule(check="nope"), "没有 check"),
    (base_rule(name=""), "缺少必填项 name"),
    (base_rule(params={"n": {"default": "3", "type": "int"}}), "参数 n 应为 int"),
    (base_rule(params={"n": {"default": 3}}), "params.n"),
    (base_rule(colour="red"), "未知的键 colour"),
])
def test_catalogue_validation_errors(tmp_path, rule, message):
    p = write(tmp_path, "cat.yaml", {"version": "t1", "rules": [rule]})
    with pytest.raises(CatalogueError) as exc:
        ruleset.load_catalogue(p)
    assert "cat.yaml" in str(exc.value) and "rules[0] (R1)" in str(exc.value) and message in str(exc.value)


def test_duplicate_rule_id_and_missing_version(tmp_path):
    with pytest.raises(CatalogueError, match="id 重复"):
        ruleset.load_catalogue(write(tmp_path, "c.yaml", {"version": "t", "rules": [base_rule(), base_rule()]}))
    with pytest.raises(CatalogueError, match="version"):
        ruleset.load_catalogue(write(tmp_path, "c2.yaml", {"rules": [base_rule()]}))


def test_knowledge_table_errors_name_the_file(tmp_path):
    import shutil

    d = tmp_path / "kb"
    shutil.copytree(knowledge.KNOWLEDGE_DIR, d)
    (d / "daily_caps.yaml").write_text("caps:\n  - {item: {names: [吸氧]}}\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as exc:
        knowledge.load(str(d))
    assert "daily_caps.yaml" in str(exc.value) and "caps[0]" in str(exc.value) and "cap" in str(exc.value)


def knowledge_copy(tmp_path):
    import shutil

    d = tmp_path / "kb"
    shutil.copytree(knowledge.KNOWLEDGE_DIR, d)
    return d


def test_every_knowledge_table_has_a_version(tmp_path):
    kb = knowledge.load()
    assert set(kb.versions) == set(knowledge.TABLES) | {"context_rules"} and all(kb.versions.values())
    d = knowledge_copy(tmp_path)
    p = d / "daily_caps.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("version: 2\n", ""), encoding="utf-8")
    with pytest.raises(CatalogueError) as exc:
        knowledge.load(str(d))
    assert "daily_caps.yaml" in str(exc.value) and "version" in str(exc.value)


def test_rules_version_covers_catalogue_override_and_knowledge(tmp_path):
    base = ruleset.load()
    cat = ruleset.load_catalogue()
    assert re.fullmatch(re.escape(cat.version) + r"\+kb\.[0-9a-f]{8}\+kp\.[0-9a-f]{8}", base.version)
    # a region override keeps its own hash after the catalogue version
    p = write(tmp_path, "region.yaml", {"region": "某县", "rules": {"XR-SPLIT-ADMISSION": {"params": {"window_days": 7}}}})
    region = ruleset.load(override=p)
    assert region.version == f"{ruleset.load_catalogue(override=p).version}+kb.{base.kb.digest}+kp.{base.packs.version}"
    assert region.version.startswith(cat.version + "+") and region.version != base.version

    def edited(name, old, new):
        d = knowledge_copy(tmp_path / name)
        f = d / "planned_cycles.yaml"
        text = f.read_text(encoding="utf-8")
        assert old in text
        f.write_text(text.replace(old, new), encoding="utf-8")
        return ruleset.load(knowledge_dir=d).version

    bumped = edited("bump", "version: 2", "version: 3")
    unbumped = edited("content", "terms: [化疗,", "terms: [化学治疗, 化疗,")
    comment = edited("comment", "# 分解住院的除外情形", "# 分解住院的(除外)情形")
    assert len({base.version, bumped, unbumped}) == 3   # a content change counts without a version bump
    assert comment == base.version                      # comments are not content
    assert all(v.startswith(cat.version + "+kb.") for v in (bumped, unbumped))


def test_rules_commands_print_the_knowledge_versions():
    from typer.testing import CliRunner

    from cli import app

    version = ruleset.load().version
    for args in (["rules", "check"], ["rules", "list"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "daily_caps 2" in res.output and "context_rules 1" in res.output and version in res.output
