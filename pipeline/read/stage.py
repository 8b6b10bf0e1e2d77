"""``ReadStage``: the runner's "read" stage. Pages of a record → ``pages`` and ``lines`` rows.

prepare (main process) lists the pages already saved; work (worker, no database writes) yields
one ``PageResult`` per unfinished page, writing the page image file first; save stores the
page, its lines and the OCR cache entry in the runner's transaction; finish checks that every
page is there. A crash between pages therefore resumes at the first unsaved page.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from pipeline import store
from pipeline.record.page import PageText
from pipeline.pageimages import pages_dir
from pipeline.read import coverage, engines, page as pagemod, raster, textlayer
from pipeline.read.config import ReadConfig, ReadError
from pipeline.read.timing import StageClock

log = logging.getLogger(__name__)


@dataclass
class PageResult:
    page: PageText
    n_pages: int
    cache: dict | None = None  # ocr_cache row to insert
    timings: dict | None = None  # step → (wall s, CPU s) of reading this page (timing.StageClock)


class ReadStage:
    name = "read"

    def __init__(self, db_path: str | os.PathLike | None = None, engine: str | None = "rapidocr",
                 dpi: int | None = 200, ocr_engine: str | None = None, **options):
        """``options``: any ``ReadConfig`` field; None means "not given" (the CLI's defaults)."""
        engine = ocr_engine or engine
        self.db_path = Path(db_path) if db_path else None
        self.cfg = ReadConfig.from_kwargs(engine=engine, dpi=dpi, **options)
        if self.cfg.engine not in engines.ENGINES:
            raise ValueError(f"unknown OCR engine {self.cfg.engine!r}; choose from {', '.join(engines.ENGINES)}")

    @property
    def max_workers(self) -> int | None:
        """One OCR process per ``ocr_threads`` cores (see ``ReadConfig.ocr_threads``)."""
        if self.cfg.max_workers:
            return self.cfg.max_workers
        if self.cfg.engine == "fake":
            return None
        return max(1, (os.cpu_count() or 1) // max(1, self.cfg.ocr_threads))

    # -- main process ---------------------------------------------------------------------------

    def _db_path(self, db) -> Path:
        if self.db_path:
            return self.db_path
        for _, name, file in db.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return Path(file)
        raise ReadError("the read stage needs a database file (in-memory databases have no page folder)")

    def prepare(self, db, record: dict) -> dict:
        done = [r[0] for r in db.execute(
            "SELECT page_no FROM pages WHERE record_id = ? AND status = 'ok' ORDER BY page_no",
            (record["id"],)).fetchall()]
        db_path = self._db_path(db)
        return {
            "record_id": record["id"],
            "source_path": record["source_path"],
            "kind": record["kind"],
            "done": done,
            "db_path": str(db_path),
            "pages_dir": str(pages_dir(db_path)),
        }

    def save(self, db, record: dict, result: PageResult) -> None:
        p = result.page
        rid = record["id"]
        old = db.execute("SELECT id FROM pages WHERE record_id = ? AND page_no = ?", (rid, p.page_no)).fetchone()
        if old:
            db.execute("DELETE FROM lines WHERE page_id = ?", (old[0],))
            db.execute("DELETE FROM pages WHERE id = ?", (old[0],))
        page_id = store.insert_one(db, "pages", {
            "record_id": rid, "page_no": p.page_no, "source_ref": p.source_ref,
            "width": p.width, "height": p.height, "unit": p.unit, "dpi": p.dpi,
            "image_path": p.image_path, "image_sha256": p.image_sha256,
            "rotation": p.rotation, "skew": p.skew, "text_source": p.text_source,
            "engine": p.engine, "engine_version": p.engine_version,
            "mean_confidence": p.mean_confidence, "text": p.text,
            "status": "ok", "error": p.error, "created_at": store.now(),
        })
        store.insert_many(db, "lines", [
            {
                "page_id": page_id, "line_no": i + 1, "text": ln.text,
                "x0": ln.bbox[0], "y0": ln.bbox[1], "x1": ln.bbox[2], "y1": ln.bbox[3],
                "polygon": json.dumps(ln.polygon) if ln.polygon else None,
                "confidence": ln.confidence, "row_no": ln.row_no, "col_no": ln.col_no,
            }
            for i, ln in enumerate(p.lines)
        ])
        if result.cache:
            store.insert_many(db, "ocr_cache", [{**result.cache, "created_at": store.now()}], on_conflict="ignore")
        db.execute("UPDATE records SET n_pages = ?, updated_at = ? WHERE id = ?", (result.n_pages, store.now(), rid))

    def finish(self, db, record: dict) -> None:
        row = db.execute("SELECT n_pages FROM records WHERE id = ?", (record["id"],)).fetchone()
        n_pages = row[0] if row else None
        have = db.execute("SELECT COUNT(*) FROM pages WHERE record_id = ? AND page_no BETWEEN 1 AND ?",
                          (record["id"], n_pages or 0)).fetchone()[0]
        if not n_pages or have < n_pages:
            raise ReadError(f"页面不完整 (only {have} of {n_pages or 0} pages were read)")

    # -- worker ---------------------------------------------------------------------------------

    def _engine(self, ctx: dict):
        settings = self.cfg.engine_settings()
        key = ("read.engine", self.cfg.engine, self.cfg.ocr_threads, tuple(sorted(settings.items())))
        if key not in ctx:
            ctx[key] = engines.create(self.cfg.engine, threads=self.cfg.ocr_threads, **settings)
        return ctx[key]

    def _engine_version(self, ctx: dict) -> str:
        settings = self.cfg.engine_settings()
        key = ("read.engine-version", self.cfg.engine, tuple(sorted(settings.items())))
        if key not in ctx:
            ctx[key] = engines.version(self.cfg.engine, **settings)
        return ctx[key]

    def work(self, task: dict, ctx: dict) -> Iterator[PageResult]:
        path = Path(task["source_path"])
        done = set(task["done"])
        cache = _CacheReader(task.get("db_path"))
        try:
            if task["kind"] == "pdf":
                yield from self._pdf(path, done, task, ctx, cache)
            elif task["kind"] in ("image", "image-folder"):
                yield from self._images(path, task["kind"], done, task, ctx, cache)
            else:
                raise ReadError(f"不支持的记录类型 (unsupported record kind {task['kind']!r})")
        finally:
            cache.close()

    def _pdf(self, path, done, task, ctx, cache) -> Iterator[PageResult]:
        cfg = self.cfg
        pdf = raster.open_pdf(path, cfg)
        reader = None
        try:
            try:
                reader = textlayer.open_reader(path, pdf, cfg.text_reader)
            except Exception as exc:  # pdfium renders it: every page goes to OCR instead
                log.warning("no text layer parser for record %s (%s); using OCR", task["record_id"], exc.__class__.__name__)
            n = len(pdf)
            for i in range(n):
                page_no = i + 1
                if page_no in done:
                    continue
                clock = StageClock()
                with clock("image"):
                    ppage = pdf[i]
                try:
                    raster.check_pdf_page(ppage, i, cfg)
                    ref = f"pdf:{i}"
                    pc = None
                    with clock("text-layer"):
                        if reader is not None:
                            try:
                                pc = reader.page(i, ppage)
                            except Exception as exc:  # one unparsable content stream: OCR this page
                                log.warning("text layer of record %s page %d unreadable (%s); using OCR",
                                            task["record_id"], page_no, exc.__class__.__name__)
                        lines = pagemod.text_layer_lines(pc, cfg) if pc else None
                    if lines is not None:
                        yield PageResult(PageText(
                            page_no=page_no, source_ref=ref, width=pc.width, height=pc.height, unit="pt",
                            text_source="pdf-text", lines=lines, engine=pc.reader, mean_confidence=1.0), n,
                            timings=clock.as_dict())
                        continue
                    with clock("image"):
                        scan = raster.embedded_scan(ppage, cfg)
                        gray, dpi = scan if scan else (raster.render(ppage, cfg.dpi, cfg), cfg.dpi)
                    yield self._ocr_result(gray, dpi, page_no, ref, None, n, task, ctx, cache, clock)
                finally:
                    ppage.close()
        finally:
            if reader is not None:
                reader.close()
            pdf.close()

    def _images(self, path, kind, done, task, ctx, cache) -> Iterator[PageResult]:
        pages = raster.image_pages(path, kind, self.cfg)
        n = len(pages)
        for page_no, ip in enumerate(pages, start=1):
            if page_no in done:
                continue
            clock = StageClock()
            with clock("image"):
                gray, dpi = raster.load_image_page(ip, self.cfg)
            yield self._ocr_result(gray, dpi, page_no, ip.ref, str(ip.path), n, task, ctx, cache, clock)

    def _ocr_result(self, gray, dpi, page_no, ref, source, n, task, ctx, cache, clock: StageClock) -> PageResult:
        cfg = self.cfg
        with clock("image"):
            sha = pagemod.pixels_sha256(gray)
            engine = cached = None
            inked = coverage.has_ink(gray)
        if inked:
            # Look the pixels up before loading the engine: a re-run of cached pages needs no model.
            with clock("cache"):
                version = pagemod.cache_version(self._engine_version(ctx), cfg)
                cached = cache.get(sha, cfg.engine, version)
            if cached is None:
                with clock("engine-load"):
                    engine = self._engine(ctx)
        out = pagemod.ocr_image(gray, engine, cfg, source=source, cached=cached, inked=inked, clock=clock)
        rel = f"{task['record_id']}/{page_no:04d}.{cfg.image_format}"
        with clock("page-image"):
            _write_image(Path(task["pages_dir"]) / rel, out.image, cfg)
        h, w = out.image.shape[:2]
        ocr = out.text_source == "ocr"
        page = PageText(
            page_no=page_no, source_ref=ref, width=float(w), height=float(h), unit="px",
            text_source=out.text_source, lines=out.lines, dpi=dpi,
            engine=cfg.engine if ocr else None,
            engine_version=self._engine_version(ctx) if ocr else None,
            mean_confidence=pagemod.mean_confidence(out.lines), rotation=out.rotation, skew=out.skew,
            image_path=rel, image_sha256=sha, error=out.note,
        )
        row = None
        if out.payload is not None and engine is not None:
            row = {"image_sha256": sha, "engine": cfg.engine, "engine_version": version,
                   "result": json.dumps(out.payload, ensure_ascii=False)}
        return PageResult(page, n, row, timings=clock.as_dict())


def _write_image(dest: Path, image: np.ndarray, cfg: ReadConfig) -> None:
    """Atomically, so a kill never leaves a half-written page image behind a saved row."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    ext = ".jpg" if cfg.image_format == "jpg" else ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ReadError(f"cannot encode page image {dest.name}")
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, dest)


class _CacheReader:
    """Read-only look-ups in ``ocr_cache`` from a worker; writes go through ``save``."""

    def __init__(self, db_path: str | None):
        self._path = db_path
        self._conn: sqlite3.Connection | None = None

    def get(self, sha: str, engine: str, version: str) -> dict | None:
        if not self._path or not Path(self._path).exists():
            return None
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=30)
        try:
            row = self._conn.execute(
                "SELECT result FROM ocr_cache WHERE image_sha256 = ? AND engine = ? AND engine_version = ?",
                (sha, engine, version)).fetchone()
        except sqlite3.Error:
            return None  # the cache is an optimisation; a locked or missing table means OCR again
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
