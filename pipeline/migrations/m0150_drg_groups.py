"""Every record's DRG grouping, written by the score stage (pipeline/rules/drg_assess.py), and
structured details on flags.

``drg_groups``: one row per record: the scheme and region (with versions) it was grouped under;
``status`` (the grouper's, or 首页无主要诊断编码 / 主要诊断非医保版编码 when it could not be grouped)
and ``message``; the coded group (mdc, adrg, drg, name, weight, MCC/CC) and its ``trace`` (JSON,
pipeline/drg/README.md); ``codes`` (JSON per 首页 code: as written, the 医保版 code used, 医保版 /
国临版转医保版 / 非医保版编码, MCC/CC, and its support: found or not, the evidence, what was looked
at); the group the record's evidence supports (drg, name, weight, trace, the supported main
diagnosis) and whether the coded one is dearer (``upcoded``, ``amount`` in 元).

``flags.details`` (JSON): what a DRG flag rests on beyond its reason and evidence (both groups,
their weights and names, the unsupported codes and what was looked at, the region's rate)."""


def migrate(db):
    db.conn.execute(
        """CREATE TABLE drg_groups (
            record_id INTEGER PRIMARY KEY REFERENCES records(id),
            scheme TEXT NOT NULL, scheme_version TEXT, region TEXT, region_version TEXT,
            region_example INTEGER NOT NULL DEFAULT 0,   -- 1: the region's parameters are an example
            status TEXT NOT NULL, message TEXT,
            mdc TEXT, adrg TEXT, drg TEXT, drg_name TEXT, weight REAL,
            has_mcc INTEGER NOT NULL DEFAULT 0, has_cc INTEGER NOT NULL DEFAULT 0,
            codes TEXT, trace TEXT,
            supported_drg TEXT, supported_drg_name TEXT, supported_weight REAL, supported_trace TEXT,
            supported_main TEXT,
            upcoded INTEGER NOT NULL DEFAULT 0, amount REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )"""
    )
    db.conn.execute("CREATE INDEX drg_groups_drg ON drg_groups(drg)")
    db.conn.execute("ALTER TABLE flags ADD COLUMN details TEXT")
