"""Knowledge packs: the national 两库 knowledge points and a region's own, as versioned data.

schema (a point and its validation), codes (national 医保 code families), io (JSONL / CSV / XLSX
rows, supersedes), store (packs on disk), active (the effective set of points a run checks),
index (points by code, code prefix and item name), coverage (points per rule class),
indications (a restriction's text as conditions), indication_eval (the parser scored against
hand-checked points). No rule logic lives here; the checks read the points."""
