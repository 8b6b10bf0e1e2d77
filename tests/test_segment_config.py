import shutil

import pytest

from pipeline.segment import config


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    shutil.copytree(config.DATA_DIR, d)
    return d


def test_packaged_files_load():
    cfg = config.load()
    assert "入院记录" in cfg.titles.doc_types and cfg.sections.preamble == "一般项目"
    assert {"orders", "labs", "bill"} <= set(cfg.fields.tables)


@pytest.mark.parametrize("file, old, new, message", [
    ("doc_titles.yaml", "\nversion: 1\n", "\nversion: 2\n", "doc_titles.yaml: version"),
    ("doc_titles.yaml", "    titles: [体温单, 体温记录单, 三测单]", "    titles: []", "doc_types.体温单.titles"),
    ("sections.yaml", "主诉: {synonyms: [主诉]}", "主诉: {synonym: [主诉]}", "sections.主诉: unknown keys"),
    ("sections.yaml", "doc_types: [检查报告]", "doc_types: [检查单]", "unknown document types"),
    ("fields.yaml", "    type: sex", "    type: gender", "fields.sex.type"),
    ("fields.yaml", "kind: flag}", "kind: flags}", "tables.labs.columns.flag.kind"),
    ("fields.yaml", "    each: true", "    each: yes please", "fields.lab_panel.each"),
    ("fields.yaml", "  icd9: '", "  icd9: '(", "codes.icd9: bad regular expression"),
])
def test_schema_errors_name_file_and_key(data_dir, file, old, new, message):
    path = data_dir / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(config.SegmentDataError, match=message.replace(".", r"\.")):
        config.load(str(data_dir))


def test_new_template_is_a_data_change(data_dir):
    path = data_dir / "sections.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("主诉: {synonyms: [主诉]}", "主诉: {synonyms: [主诉, 就诊原因]}"),
                    encoding="utf-8")
    from pipeline.segment.doctypes import split_documents
    from pipeline.segment.sections import split_sections
    from segment_helpers import page_lines
    cfg = config.load(str(data_dir))
    doc = split_documents(page_lines(["入院记录\n就诊原因：咳嗽3天"]), cfg.titles)[0]
    assert [(s.name, s.text) for s in split_sections(doc, cfg.sections, cfg.titles)] == [("主诉", "咳嗽3天")]
