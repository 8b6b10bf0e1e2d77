"""Content of a database by natural keys, for comparing two runs regardless of row ids and times."""
import json

# Row ids, clock times and the patient key (salted per database) differ between two databases
# holding the same results.
VOLATILE = {"id", "created_at", "updated_at", "seen_at", "applied_at", "started_at", "finished_at", "run_id",
            "patient_key"}
ID_KEYS = {"page_id", "line_id", "record_id", "section_id", "document_id", "flag_id", "charge_ids"}
TABLES = ("records", "pages", "lines", "documents", "sections", "fields", "labs", "orders", "charges",
          "entities", "flags", "scores", "drg_groups")


def _strip(value):
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return value
        return json.dumps(_strip(value), sort_keys=True, ensure_ascii=False)
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ID_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def snapshot(db) -> dict:
    sha = {r[0]: r[1] for r in db.execute("SELECT id, sha256 FROM records")}
    page = {r[0]: (sha[r[1]], r[2]) for r in db.execute("SELECT id, record_id, page_no FROM pages")}
    # line ids depend on the order workers finished pages in; a line is its page and number
    line = {r[0]: (*page[r[1]], r[2]) for r in db.execute("SELECT id, page_id, line_no FROM lines")}
    out = {}
    for table in TABLES:
        if table not in db.table_names():
            continue
        cols = [c.name for c in db[table].columns if c.name not in VOLATILE]
        rows = []
        for row in db.execute(f"SELECT {', '.join(cols)} FROM [{table}]"):
            item = dict(zip(cols, row))
            if "record_id" in item:
                item["record_id"] = sha.get(item["record_id"])
            if "page_id" in item:
                item["page_id"] = page.get(item["page_id"])
            for k in ("line_start", "line_end"):
                if k in item:
                    item[k] = line.get(item[k])
            for k in list(item):
                if k in ID_KEYS - {"record_id", "page_id"}:
                    item.pop(k)
                else:
                    item[k] = _strip(item[k])
            rows.append(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str))
        out[table] = sorted(rows)
    return out
