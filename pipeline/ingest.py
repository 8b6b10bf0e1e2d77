"""Ingest: register every input under a batch folder, each ending in a known state.

Layout (what a review firm receives from a county): one sub-folder per hospital, in it one file
(PDF or image) or one page-image folder per admission, plus the hospital's claims CSV export.
Every path offered is recorded in ``sources`` as accepted, duplicate, rejected (with a reason) or
skipped: a file that is evidently not a record (a data or text file such as a stray truth.jsonl,
or any file of another type lying at the batch root beside the hospital folders) is listed and
left alone without failing the batch. Accepted ones become ``records`` keyed by content sha256,
so re-ingesting changes nothing.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import claims, store

PDF_EXT = {".pdf"}
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
CLAIMS_EXT = {".csv"}
IGNORED_NAMES = {"hospitals.csv", "manifest.json", "labels.jsonl", ".DS_Store", "Thumbs.db"}
# Data and text files are never records (a record in an unreadable format, .docx, is rejected).
SIDECAR_EXT = {".json", ".jsonl", ".txt", ".md", ".yaml", ".yml", ".xml", ".log", ".ini", ".tsv", ".html", ".htm"}

# Magic numbers: a file whose bytes do not match its extension is rejected at ingest.
MAGIC = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "tif": (b"II*\x00", b"MM\x00*"),
    "bmp": (b"BM",),
}
EXT_MAGIC = {".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".tif": "tif", ".tiff": "tif", ".bmp": "bmp"}


@dataclass
class IngestSummary:
    accepted: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    claims_files: int = 0
    claims_rows: int = 0
    claims_bad_rows: int = 0
    skipped: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): listed, not failed


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _check_magic(path: Path) -> str | None:
    """Return a rejection reason when the file's bytes do not match its extension."""
    kind = EXT_MAGIC[path.suffix.lower()]
    with open(path, "rb") as f:
        head = f.read(1024)
    if kind == "pdf":
        # The PDF spec allows junk before the header within the first 1024 bytes.
        if b"%PDF-" in head:
            return None
        return "不是PDF文件：文件头缺少 %PDF 标记 (not a PDF: no %PDF header)"
    if any(head.startswith(m) for m in MAGIC[kind]):
        return None
    return f"文件内容与扩展名 {path.suffix} 不符 (content is not a {kind.upper()} image)"


def _load_hospital_names(root: Path) -> dict[str, dict]:
    """hospitals.csv (id,name,level) at the batch root, when the batch carries one."""
    path = root / "hospitals.csv"
    if not path.is_file():
        return {}
    text, _ = claims.decode_bytes(path.read_bytes())
    rows = csv.DictReader(text.splitlines())
    return {r["id"]: r for r in rows if r.get("id")}


class Ingestor:
    def __init__(self, db, root: Path, default_hospital: str | None = None):
        self.db = db
        self.root = root.resolve()
        self.default_hospital = default_hospital or self.root.name
        self.summary = IngestSummary()
        self.hospital_info = _load_hospital_names(self.root)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _hospital(self, hid: str) -> None:
        info = self.hospital_info.get(hid, {})
        store.insert_one(
            self.db,
            "hospitals",
            {"id": hid, "name": info.get("name") or hid, "level": info.get("level"), "created_at": store.now()},
            on_conflict="ignore",
        )
        # A claims file read first registers the hospital without its name and level; hospitals.csv
        # (the national checks read the level) fills them in.
        if info.get("level") or info.get("name"):
            self.db.execute("UPDATE hospitals SET name = COALESCE(?, name), level = COALESCE(?, level) WHERE id = ?",
                            (info.get("name") or None, info.get("level") or None, hid))

    def _known(self, path: Path) -> dict | None:
        return next(self.db.query("SELECT * FROM sources WHERE path = ?", [str(path)]), None)

    def _reject(self, path: Path, hid: str | None, kind: str, reason: str, size: int | None = None) -> None:
        known = self._known(path)
        if known and known["state"] == "rejected" and known["reason"] == reason:
            self.summary.unchanged += 1
            return
        with store.transaction(self.db):
            if hid:
                self._hospital(hid)
            store.insert_one(
                self.db,
                "sources",
                {"path": str(path), "sha256": None, "size": size, "kind": kind, "hospital_id": hid,
                 "state": "rejected", "reason": reason, "record_id": None, "seen_at": store.now()},
                on_conflict="replace",
            )
        self.summary.rejected += 1
        self.summary.problems.append((str(path), reason))

    def _skip(self, path: Path, hid: str | None, reason: str) -> None:
        known = self._known(path)
        if known and known["state"] == "skipped":
            self.summary.unchanged += 1
            return
        with store.transaction(self.db):
            if hid:
                self._hospital(hid)
            store.insert_one(
                self.db, "sources",
                {"path": str(path), "sha256": None, "size": None, "kind": "unknown", "hospital_id": hid,
                 "state": "skipped", "reason": reason, "record_id": None, "seen_at": store.now()},
                on_conflict="replace")
        self.summary.skipped += 1
        self.summary.skipped_paths.append((str(path), reason))

    def _register(self, path: Path, hid: str, kind: str, sha: str, size: int, n_pages: int | None = None) -> None:
        known = self._known(path)
        if known and known["sha256"] == sha and known["state"] in ("accepted", "duplicate"):
            self.summary.unchanged += 1
            return
        with store.transaction(self.db):
            self._hospital(hid)
            existing = self.db.execute("SELECT id, source_path FROM records WHERE sha256 = ?", (sha,)).fetchone()
            if existing:
                state, reason, rid = "duplicate", f"与 {existing[1]} 内容相同 (same content as record {existing[0]})", existing[0]
            else:
                ts = store.now()
                rid = store.insert_one(
                    self.db,
                    "records",
                    {"sha256": sha, "source_path": str(path), "kind": kind, "hospital_id": hid,
                     "n_pages": n_pages, "stage": "ingested", "status": "ok", "created_at": ts, "updated_at": ts},
                )
                state, reason = "accepted", None
            store.insert_one(
                self.db,
                "sources",
                {"path": str(path), "sha256": sha, "size": size, "kind": kind, "hospital_id": hid,
                 "state": state, "reason": reason, "record_id": rid, "seen_at": store.now()},
                on_conflict="replace",
            )
        if state == "duplicate":
            self.summary.duplicates += 1
            self.summary.problems.append((str(path), reason))
        else:
            self.summary.accepted += 1

    # -- inputs --------------------------------------------------------------------------------
    def ingest_file(self, path: Path, hid: str) -> None:
        suffix = path.suffix.lower()
        try:
            size = path.stat().st_size
        except OSError as exc:
            self._reject(path, hid, "unknown", f"无法读取文件 (cannot stat: {exc.strerror})")
            return
        if suffix in CLAIMS_EXT:
            self._claims(path, hid)
            return
        if suffix in SIDECAR_EXT:
            self._skip(path, hid, f"不是病历文件，已跳过 {suffix} (data or text file, not a record: skipped)")
            return
        if suffix not in PDF_EXT | IMAGE_EXT:
            self._reject(path, hid, "unknown", f"不支持的文件类型 {suffix or '(无扩展名)'} (unsupported file type)", size)
            return
        kind = "pdf" if suffix in PDF_EXT else "image"
        if size == 0:
            self._reject(path, hid, kind, "空文件 (empty file, 0 bytes)", size)
            return
        try:
            reason = _check_magic(path)
            if reason:
                self._reject(path, hid, kind, reason, size)
                return
            sha = sha256_file(path)
        except OSError as exc:
            self._reject(path, hid, kind, f"无法读取文件 (cannot read: {exc.strerror})", size)
            return
        self._register(path, hid, kind, sha, size)

    def _entries(self, folder: Path, hid: str, kind: str) -> list | None:
        """The folder's entries in natural name order, or None after rejecting an unreadable folder."""
        try:
            return sorted(os.scandir(folder), key=lambda e: _natural_key(e.name))
        except OSError as exc:
            self._reject(folder, hid, kind, f"无法读取文件夹 (cannot read folder: {exc.strerror})")
            return None

    def ingest_folder_record(self, folder: Path, hid: str) -> None:
        """A folder of page images is one admission; its key hashes the pages in order."""
        entries = self._entries(folder, hid, "image-folder")
        if entries is None:
            return
        images = [e for e in entries if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXT]
        if not images:
            self._reject(folder, hid, "image-folder", "文件夹中没有页面图像 (folder holds no page images)")
            return
        h = hashlib.sha256()
        size = 0
        for e in images:
            p = Path(e.path)
            if e.stat().st_size == 0:
                self._reject(folder, hid, "image-folder", f"页面图像为空文件: {e.name} (empty page image)")
                return
            try:
                reason = _check_magic(p)
                digest = sha256_file(p)
            except OSError as exc:
                self._reject(folder, hid, "image-folder", f"无法读取页面图像 {e.name} ({exc.strerror})")
                return
            if reason:
                self._reject(folder, hid, "image-folder", f"{e.name}: {reason}")
                return
            h.update(f"{e.name}\0{digest}\n".encode())
            size += e.stat().st_size
        self._register(folder, hid, "image-folder", h.hexdigest(), size, n_pages=len(images))

    def _claims(self, path: Path, hid: str) -> None:
        result = claims.import_claims(self.db, path, hid)
        self.summary.claims_files += 1
        self.summary.claims_rows += result.rows
        self.summary.claims_bad_rows += result.bad_rows
        if result.state == "rejected":
            self.summary.problems.append((str(path), result.reason))
        for row_no, reason in result.errors[:20]:
            self.summary.problems.append((f"{path}:{row_no}", reason))

    def hospital_folder(self, folder: Path, hid: str) -> None:
        entries = self._entries(folder, hid, "unknown")
        if entries is None:
            return
        for e in entries:
            if e.name in IGNORED_NAMES or e.name.startswith("."):
                continue
            p = Path(e.path)
            if e.is_dir():
                self.ingest_folder_record(p, hid)
            else:
                self.ingest_file(p, hid)

    def run(self) -> IngestSummary:
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: 不是文件夹 (not a folder)")
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: _natural_key(e.name))
        except OSError as exc:
            raise PermissionError(f"{self.root}: 无法读取 ({exc.strerror})") from exc
        for e in entries:
            if e.name in IGNORED_NAMES or e.name.startswith("."):
                continue
            p = Path(e.path)
            if e.is_dir():
                if _is_page_folder(p):
                    # A page-image folder directly under the batch root: an admission of the default hospital.
                    self.ingest_folder_record(p, self.default_hospital)
                else:
                    self.hospital_folder(p, e.name)
            elif Path(e.name).suffix.lower() not in PDF_EXT | IMAGE_EXT | CLAIMS_EXT:
                # beside the hospital folders: a file the sender left there, not an admission
                self._skip(p, None, f"批次根目录下的非病历文件，已跳过 {Path(e.name).suffix or '(无扩展名)'} "
                                    "(not a record, at the batch root: skipped)")
            else:
                self.ingest_file(p, self.default_hospital)
        return self.summary


def _is_page_folder(folder: Path) -> bool:
    """True when a folder directly holds page images and no sub-folders (one admission)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    has_images = any(e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXT for e in entries)
    has_dirs = any(e.is_dir() for e in entries)
    has_records = any(e.is_file() and Path(e.name).suffix.lower() in PDF_EXT | CLAIMS_EXT for e in entries)
    return has_images and not has_dirs and not has_records


def ingest(db, root: Path, hospital: str | None = None) -> IngestSummary:
    return Ingestor(db, Path(root), hospital).run()
