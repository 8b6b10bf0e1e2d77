"""`medreview drg group` in-process: every sample case equals the reference; bad rows get a status
and a reason and the file goes on; the shipped scheme is what the build script makes of the shared
data; the region parameter file is validated."""
import csv
import gzip
import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.drg import region as region_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.batch import BAD_ROW, OUTPUT_COLUMNS

REPO = Path(__file__).resolve().parent.parent
HEADER = "Index,gender,age,ageDay,weight,dept,inHospitalTime,leavingType,ICD10_DRGS,ICD9_DRGS"


def _run(*args):
    return CliRunner().invoke(app, ["drg", "group", *map(str, args)])


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_sample_file_equals_the_reference(tmp_path):
    src = tmp_path / "sample.csv"
    sch = scheme_mod.load()
    src.write_bytes(gzip.decompress((sch.folder / "sample_cases.csv.gz").read_bytes()))
    res = _run(src, "--out", tmp_path / "out.csv")
    assert res.exit_code == 1, res.output          # the sample holds 4 rows that fail validation
    got = _rows(tmp_path / "out.csv")
    want = _rows(src)
    assert list(got[0]) == list(OUTPUT_COLUMNS)
    assert len(got) == len(want) == 300
    for g, w in zip(got, want):
        assert (g["Index"], g["status"], g["mdc"], g["adrg"], g["drg"]) == (
            w["Index"], w["expected_status"], w["expected_mdc"], w["expected_adrg"], w["expected_drg"])
        if g["drg"] != "0000":
            assert g["drg_name"] == sch.drg_names[g["drg"]] and g["drg"] in g["trace"]


def test_bad_rows_get_a_status_and_the_file_goes_on(tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text("\n".join([
        HEADER + ",extra",
        "1,1,60,,,,5,1,N40.x00,,x",                 # fine
        "2,,60,,,,5,1,N40.x00,,x",                  # no sex
        "3,1,60,,,,5,1,N40.x00|ZZZ.999,,x",         # unknown diagnosis code
        "4,1,60,,,,5,1,N40.x00",                    # too few columns
        "",
        "5,2,30,,,,3,1,O80.900,73.6x01,x",          # fine again
    ]) + "\n", encoding="utf-8")
    res = _run(src, "--out", tmp_path / "out.csv")
    assert res.exit_code == 1
    rows = {r["Index"]: r for r in _rows(tmp_path / "out.csv")}
    assert list(rows) == ["1", "2", "3", "4", "5"]
    assert rows["1"]["status"] == "分组成功" and rows["1"]["mdc"] == "MDCM"
    assert rows["2"]["status"] == "信息校验不通过" and "病人性别为空" in rows["2"]["trace"]
    assert rows["3"]["status"] == "编码不在医保版编码表" and "ZZZ.999" in rows["3"]["trace"]
    assert rows["4"]["status"] == BAD_ROW and "cases.csv:5" in rows["4"]["trace"]
    assert rows["5"]["status"] == "分组成功" and rows["5"]["mdc"] == "MDCO"


def test_usage_errors(tmp_path):
    assert _run(tmp_path / "missing.csv", "--out", tmp_path / "o.csv").exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("Index,gender\n1,1\n", encoding="utf-8")
    res = _run(bad, "--out", tmp_path / "o.csv")
    assert res.exit_code == 2 and "缺少列" in res.output
    ok = tmp_path / "ok.csv"
    ok.write_text(HEADER + "\n1,1,60,,,,5,1,N40.x00,\n", encoding="utf-8")
    res = _run(ok, "--out", tmp_path / "o.csv", "--scheme", "no-such")
    assert res.exit_code == 2 and "不存在" in res.output
    assert _run(ok, "--out", tmp_path / "o.csv").exit_code == 0


def _build_module():
    spec = importlib.util.spec_from_file_location("build_drg_scheme", REPO / "scripts" / "build_drg_scheme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.data
def test_the_shipped_scheme_is_the_build_of_the_shared_data(shared_data, tmp_path):
    if not (shared_data / "chs-drg-1.1" / "grouping.json").is_file():
        pytest.skip("chs-drg-1.1 not in the shared data")
    build = _build_module()
    for out in ("a", "b"):
        build.main(["--data-dir", str(shared_data), "--out", str(tmp_path / out), "--region-out", str(tmp_path / f"{out}.yaml")])
    shipped = scheme_mod.SCHEMES_DIR / "chs-drg-1.1"
    for f in sorted(p.name for p in shipped.iterdir()):
        a = (tmp_path / "a" / f).read_bytes()
        assert a == (tmp_path / "b" / f).read_bytes(), f
        assert a == (shipped / f).read_bytes(), f"{f} is stale: run scripts/build_drg_scheme.py"
    assert (tmp_path / "a.yaml").read_bytes() == (region_mod.REGIONS_DIR / "example.yaml").read_bytes()


def test_region_file(tmp_path):
    r = region_mod.load()
    assert r.example and "示例" in r.name and r.scheme == "chs-drg-1.1"
    sch = scheme_mod.load(r.scheme)
    assert set(r.weights) == set(sch.drg_names)
    assert r.amount("ES21", "ES25") == round((r.weights["ES21"] - r.weights["ES25"]) * r.rate, 2)
    assert r.amount("ES21", None) is None
    text = (region_mod.REGIONS_DIR / "example.yaml").read_text(encoding="utf-8")
    for bad, msg in ((text.replace("ES21:", "XX99:"), "不是 chs-drg-1.1 的 DRG 编码"),
                     (text.replace("value: 9000", "value: -1"), "应为正数"),
                     (text.replace("example: true", "example: maybe"), "example"),
                     (text.replace("scheme: chs-drg-1.1", "scheme: nowhere"), "scheme")):
        p = tmp_path / f"r{len(msg)}.yaml"
        p.write_text(bad, encoding="utf-8")
        with pytest.raises(region_mod.RegionError, match=msg):
            region_mod.load(p)
    with pytest.raises(region_mod.RegionError, match="不存在"):
        region_mod.load("atlantis")
