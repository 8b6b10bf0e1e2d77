"""Core schema: inputs, records, pages and lines, derived tables, flags, reviews, runs, models.

Natural keys (UNIQUE constraints) make every write path idempotent:
sources.path, records.sha256, pages(record_id, page_no), lines(page_id, line_no), ...
"""

STATEMENTS = [
    # Hospitals (one folder per hospital in a batch).
    """CREATE TABLE hospitals (
        id TEXT PRIMARY KEY,            -- folder name or hospital code
        name TEXT,
        level TEXT,                     -- 一级/二级/三级, for 限医疗机构级别 rules
        created_at TEXT NOT NULL
    )""",
    # Every input path ever offered to ingest, in a known state (accepted/duplicate/rejected).
    """CREATE TABLE sources (
        path TEXT PRIMARY KEY,          -- absolute path of the file or per-record folder
        sha256 TEXT,
        size INTEGER,
        kind TEXT,                      -- pdf | image | image-folder | claims | unknown
        hospital_id TEXT REFERENCES hospitals(id),
        state TEXT NOT NULL,            -- accepted | duplicate | rejected
        reason TEXT,                    -- why rejected / which record it duplicates
        record_id INTEGER REFERENCES records(id),
        seen_at TEXT NOT NULL
    )""",
    # One admission (住院) = one record.
    """CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,    -- of the file, or of the folder's sorted page hashes
        source_path TEXT NOT NULL,
        kind TEXT NOT NULL,             -- pdf | image | image-folder
        hospital_id TEXT REFERENCES hospitals(id),
        admission_no TEXT,              -- 住院号, filled by segmentation
        patient_key TEXT,               -- salted hash of ID number or name+sex+birth
        sex TEXT,
        age INTEGER,
        department TEXT,
        admit_at TEXT,
        discharge_at TEXT,
        n_pages INTEGER,
        stage TEXT NOT NULL DEFAULT 'ingested',   -- last completed stage
        status TEXT NOT NULL DEFAULT 'ok',        -- ok | failed
        error TEXT,
        error_stage TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX records_stage ON records(stage, status)",
    "CREATE INDEX records_admission ON records(hospital_id, admission_no)",
    "CREATE INDEX records_patient ON records(patient_key)",
    """CREATE TABLE pages (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        page_no INTEGER NOT NULL,       -- 1-based within the record
        source_ref TEXT NOT NULL,       -- 'pdf:<index>' or the image file path
        width REAL,                     -- of the stored page image (pixels) or PDF page (points)
        height REAL,
        unit TEXT,                      -- px | pt
        dpi INTEGER,
        image_path TEXT,                -- stored page image, relative to the store's page dir
        image_sha256 TEXT,
        rotation INTEGER DEFAULT 0,     -- degrees applied to upright the page
        skew REAL DEFAULT 0,            -- degrees corrected
        text_source TEXT,               -- pdf-text | ocr | empty
        engine TEXT,
        engine_version TEXT,
        mean_confidence REAL,
        text TEXT,                      -- the page's lines joined in reading order
        status TEXT NOT NULL DEFAULT 'ok',
        error TEXT,
        created_at TEXT NOT NULL,
        UNIQUE(record_id, page_no)
    )""",
    """CREATE TABLE lines (
        id INTEGER PRIMARY KEY,
        page_id INTEGER NOT NULL REFERENCES pages(id),
        line_no INTEGER NOT NULL,       -- reading order within the page
        text TEXT NOT NULL,
        x0 REAL, y0 REAL, x1 REAL, y1 REAL,   -- bbox in page coordinates (see pages.unit)
        polygon TEXT,                   -- JSON [[x,y],...] when the engine gives one
        confidence REAL,
        row_no INTEGER,                 -- layout row / column from reading-order analysis
        col_no INTEGER,
        UNIQUE(page_id, line_no)
    )""",
    "CREATE INDEX lines_page ON lines(page_id)",
    # Segmentation outputs.
    """CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        doc_no INTEGER NOT NULL,
        doc_type TEXT NOT NULL,         -- 住院病案首页, 入院记录, ... , other
        title TEXT,
        at TEXT,                        -- the document's own date-time (note time, report time)
        page_start INTEGER, page_end INTEGER,
        line_start INTEGER, line_end INTEGER,   -- lines.id range
        confidence REAL,
        UNIQUE(record_id, doc_no)
    )""",
    """CREATE TABLE sections (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        document_id INTEGER REFERENCES documents(id),
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,             -- canonical section name (主诉, 现病史, ...)
        header TEXT,                    -- header as written
        text TEXT NOT NULL,
        page_id INTEGER REFERENCES pages(id),
        line_start INTEGER, line_end INTEGER,
        UNIQUE(record_id, seq)
    )""",
    """CREATE TABLE fields (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        name TEXT NOT NULL,             -- admission_no, sex, age, admit_at, main_diagnosis, ...
        seq INTEGER NOT NULL DEFAULT 0, -- for repeated fields (other diagnoses, vitals)
        value TEXT,                     -- normalized value
        raw TEXT,                       -- as written
        code TEXT,
        at TEXT,
        page_id INTEGER REFERENCES pages(id),
        line_id INTEGER REFERENCES lines(id),
        UNIQUE(record_id, name, seq)
    )""",
    """CREATE TABLE labs (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        seq INTEGER NOT NULL,
        item TEXT NOT NULL, value TEXT, unit TEXT, flag TEXT, ref_range TEXT, at TEXT,
        page_id INTEGER REFERENCES pages(id), line_id INTEGER REFERENCES lines(id),
        UNIQUE(record_id, seq)
    )""",
    """CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,             -- long | temporary
        start_at TEXT, stop_at TEXT,
        content TEXT NOT NULL, dose TEXT, route TEXT, frequency TEXT, qty REAL,
        page_id INTEGER REFERENCES pages(id), line_id INTEGER REFERENCES lines(id),
        UNIQUE(record_id, seq)
    )""",
    """CREATE TABLE charges (
        id INTEGER PRIMARY KEY,
        record_id INTEGER REFERENCES records(id),
        source TEXT NOT NULL,           -- bill (费用清单 pages) | claims (hospital CSV)
        seq INTEGER NOT NULL,           -- line number in the bill, or CSV row number
        hospital_id TEXT, admission_no TEXT,
        at TEXT, item_code TEXT, item_name TEXT, category TEXT,
        qty REAL, unit_price REAL, amount REAL,
        claims_file TEXT,
        page_id INTEGER REFERENCES pages(id), line_id INTEGER REFERENCES lines(id),
        UNIQUE(source, claims_file, hospital_id, admission_no, seq)
    )""",
    "CREATE INDEX charges_record ON charges(record_id)",
    """CREATE TABLE claims_files (
        path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, hospital_id TEXT, encoding TEXT,
        rows INTEGER, bad_rows INTEGER, state TEXT NOT NULL, reason TEXT, seen_at TEXT NOT NULL
    )""",
    """CREATE TABLE claims_errors (
        path TEXT NOT NULL, row_no INTEGER NOT NULL, reason TEXT NOT NULL,
        UNIQUE(path, row_no)
    )""",
    # NLP outputs.
    """CREATE TABLE entities (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        section_id INTEGER REFERENCES sections(id),
        seq INTEGER NOT NULL,
        label TEXT NOT NULL,
        text TEXT NOT NULL,
        start INTEGER, end INTEGER,     -- character span in sections.text
        negated INTEGER DEFAULT 0, uncertain INTEGER DEFAULT 0,
        historical INTEGER DEFAULT 0, family INTEGER DEFAULT 0,
        code TEXT, code_name TEXT, code_score REAL,
        page_id INTEGER REFERENCES pages(id), line_id INTEGER REFERENCES lines(id),
        model_version TEXT,
        UNIQUE(record_id, seq)
    )""",
    # Scoring outputs.
    """CREATE TABLE flags (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        rule_id TEXT NOT NULL,
        rule_name TEXT,
        catalogue_version TEXT,
        key TEXT NOT NULL DEFAULT '',   -- distinguishes two flags of one rule on one record
        category TEXT,
        severity TEXT,                  -- 明确违规 | 可疑
        score REAL,
        reason TEXT,
        amount REAL DEFAULT 0,          -- amount at risk (元)
        evidence TEXT,                  -- JSON list of {document, section, text, page_no, page_id, line_id, bbox}
        charge_ids TEXT,                -- JSON list of charges.id
        model_version TEXT,
        run_id INTEGER,
        source TEXT NOT NULL DEFAULT 'system',   -- system | reviewer
        created_at TEXT NOT NULL,
        UNIQUE(record_id, rule_id, key, catalogue_version)
    )""",
    """CREATE TABLE scores (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        model_version TEXT NOT NULL,
        probability REAL NOT NULL,
        explanation TEXT,               -- JSON top features
        created_at TEXT NOT NULL,
        UNIQUE(record_id, model_version)
    )""",
    # Append-only reviewer decisions; current state is derived from them.
    """CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        flag_id INTEGER REFERENCES flags(id),
        record_id INTEGER NOT NULL REFERENCES records(id),
        user TEXT NOT NULL,
        action TEXT NOT NULL,           -- confirm | reject | change | add | undo | skip
        payload TEXT,                   -- JSON: reason code, note, new rule/amount, shown versions, ms spent
        at TEXT NOT NULL
    )""",
    "CREATE INDEX reviews_record ON reviews(record_id)",
    """CREATE TABLE model_versions (
        id TEXT PRIMARY KEY,            -- e.g. classifier@2026-11-23T05:00:00-ab12cd
        kind TEXT NOT NULL,             -- ner | classifier | normalizer
        path TEXT NOT NULL,
        metrics TEXT, data_hash TEXT, parent TEXT,
        promoted INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        params TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,           -- running | done | interrupted | failed
        counts TEXT                     -- JSON per-stage counts at the end
    )""",
    # OCR results cached by page-image hash so re-runs never OCR the same pixels twice.
    """CREATE TABLE ocr_cache (
        image_sha256 TEXT NOT NULL,
        engine TEXT NOT NULL,
        engine_version TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (image_sha256, engine, engine_version)
    )""",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
