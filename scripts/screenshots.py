"""Screenshots of what auditors and the bureau see, for whoever reviews a change to look at:
the case view (1366×768 and 1920×1080, as a reviewer and as a lead), the queue, the lead view, the
HTML report, the first pages of the PDF report and of a hospital's notice (疑点告知书).

It works on a copy of a batch database (``--db``, e.g. the demo's ``out/demo/audit.db``; without
it the demo batch is built in a temporary folder first), adds three accounts, lets two reviewers
decide some flags (one case with overlapping flags confirmed, one rejected with a reason, a blind
second review assigned, an appeal filed and one upheld), then drives headless Chromium.

    .venv/bin/python scripts/screenshots.py [--db out/demo/audit.db] [--out test-output/screenshots]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]   # the code, and the app server the tests use

from app_server import AppServer  # noqa: E402
from pipeline import review, store  # noqa: E402
from pipeline.report import ReportSettings, write_report  # noqa: E402
from pipeline.review import appeals, assign, lead, money  # noqa: E402

USERS = {"王审核": ("reviewer", "pw-wang-12345"), "李审核": ("reviewer", "pw-li-123456"),
         "张主审": ("lead", "pw-zhang-12345")}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
SETTINGS = ReportSettings(firm="示例医疗管理咨询有限公司", bureau="示例县医疗保障局",
                          period="2024年1月1日至2024年12月31日", title="2024年度住院病历医保基金使用专项审核报告")


def copy_db(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "audit.db"
    con = store.connect(src, migrate=False)
    con.conn.execute(f"VACUUM INTO '{dst}'")       # a consistent copy even of a WAL database
    pages = src.parent / (src.name + ".pages")
    if pages.is_dir():
        shutil.copytree(pages, dst_dir / (dst.name + ".pages"))
    return dst


def demo_db(tmp: Path) -> Path:
    from pipeline.demo import run_demo

    print("building the demo batch (about a minute on 2 cores) …", flush=True)
    return run_demo(tmp / "demo").db_path


def prepare(db_path: Path) -> dict:
    """Accounts and decisions that show each part of the views; returns the records to show."""
    from review_ui import auth

    db = store.connect(db_path)
    for name, (role, pw) in USERS.items():
        if not db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            auth.add_user(db, name, role, pw)
    flags = list(db.query("SELECT id, record_id, rule_id, amount, charge_ids FROM flags ORDER BY record_id, id"))
    by_record: dict[int, list[dict]] = {}
    for f in flags:
        by_record.setdefault(f["record_id"], []).append(f)
    # The case whose flags share charge lines (counted once), else the one with most flags.
    overlap = next((rid for rid, fs in by_record.items() if len(fs) > 1 and len(
        {c for f in fs for c in money.charge_ids_of(f)}) < sum(len(money.charge_ids_of(f)) for f in fs)),
        max(by_record, key=lambda r: len(by_record[r])))
    kp = next((f["record_id"] for f in flags if f["rule_id"].startswith("KP-") and f["record_id"] != overlap), overlap)
    rest = [rid for rid in by_record if rid not in (overlap, kp)]
    for f in by_record[overlap]:
        review.decide(db, "王审核", f["id"], "confirm", ms_spent=41000)
    for k, rid in enumerate(rest[: len(rest) // 2]):
        for f in by_record[rid]:
            if k % 3 == 0:
                review.decide(db, "李审核", f["id"], "reject", reason_code="indication_documented", ms_spent=35000)
            else:
                review.decide(db, "王审核" if k % 2 else "李审核", f["id"], "confirm", ms_spent=52000)
        review.force_release(db, rid, "张主审")
    review.force_release(db, overlap, "张主审")
    confirmed = [r["flag_id"] for r in review.confirmed_findings(db) if r["record_id"] != overlap]
    if confirmed:
        appeals.file_appeal(db, "cli:screenshots", confirmed[0], "该患者病程记录中有明确指征，附病程记录第 3 页")
    if len(confirmed) > 1:
        appeals.file_appeal(db, "cli:screenshots", confirmed[1], "收费与医嘱一致")
        appeals.decide_appeal(db, "cli:screenshots", confirmed[1], "upheld", finding="复核医嘱后申诉成立")
    sample = lead.sample(db, rate=0.5)["items"]
    blind = None
    for k, x in enumerate(sample[:2]):
        second = "李审核" if x["by"] == "王审核" else "王审核"
        assign.assign(db, "张主审", "second", x["flag_id"], second)
        if k == 0:     # the second reviewer disagrees on one; the other waits, blind
            review.decide(db, second, x["flag_id"], "reject" if x["state"] == "confirmed" else "confirm",
                          reason_code="rule_not_applicable", ms_spent=60000)
            review.force_release(db, x["record_id"], "张主审")
        else:
            blind = (second, x["record_id"], x["flag_id"])
    hospitals = [r[0] for r in db.execute("SELECT DISTINCT hospital_id FROM records WHERE hospital_id IS NOT NULL")]
    if hospitals:
        assign.assign(db, "张主审", "hospital", hospitals[0], "王审核")
    kp_flag = next((f["id"] for f in by_record[kp] if f["rule_id"].startswith("KP-")), None)
    return {"overlap": overlap, "kp": kp, "kp_flag": kp_flag, "blind": blind}


def login(ctx, base: str, name: str):
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", USERS[name][1])
    page.click("button[type=submit]")
    page.wait_for_selector("#queue")
    return page


def wait_image(page) -> None:
    from playwright.sync_api import expect

    if page.locator("#page-img").count():
        expect(page.locator("#page-img")).to_have_js_property("complete", True)
        page.wait_for_timeout(150)       # the page scrolls the evidence box into view on load


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="a batch database to copy (default: build the demo batch)")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "screenshots")
    args = ap.parse_args(argv)
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if not chromium:
        print("chromium or Playwright missing: no screenshots", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = args.db or demo_db(tmp)
        (tmp / "copy").mkdir()
        db_path = copy_db(src, tmp / "copy")
        shown = prepare(db_path)
        rep = write_report(db_path, tmp / "report", pdf=True, notices=True, settings=SETTINGS)
        from review_ui import create_app

        server = AppServer(create_app(db_path))
        base = server.base
        written = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
                for (w, h) in ((1366, 768), (1920, 1080)):
                    ctx = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
                    page = login(ctx, base, "王审核")
                    page.screenshot(path=str(args.out / f"queue_{w}.png"))
                    written.append(f"queue_{w}.png")
                    for key, url in (("overlap", f"/cases/{shown['overlap']}"),
                                     ("kp", f"/cases/{shown['kp']}" + (f"?flag={shown['kp_flag']}" if shown["kp_flag"] else ""))):
                        page.goto(base + url)
                        wait_image(page)
                        page.screenshot(path=str(args.out / f"case_{key}_{w}.png"))
                        written.append(f"case_{key}_{w}.png")
                    ctx.close()
                if shown["blind"]:
                    who, rid, fid = shown["blind"]
                    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
                    page = login(ctx, base, who)
                    page.screenshot(path=str(args.out / "queue_second_review_1366.png"))
                    page.goto(base + f"/cases/{rid}?flag={fid}")
                    wait_image(page)
                    page.screenshot(path=str(args.out / "case_blind_second_1366.png"))
                    written += ["queue_second_review_1366.png", "case_blind_second_1366.png"]
                    ctx.close()
                ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
                page = login(ctx, base, "张主审")
                page.goto(base + f"/cases/{shown['overlap']}")
                wait_image(page)
                page.screenshot(path=str(args.out / "case_as_lead_1366.png"))
                page.goto(base + "/lead")
                page.screenshot(path=str(args.out / "lead_1366.png"), full_page=True)
                written += ["case_as_lead_1366.png", "lead_1366.png"]
                ctx.close()
                ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
                page = ctx.new_page()
                page.goto(Path(rep["html"]).resolve().as_uri())
                page.screenshot(path=str(args.out / "report_html.png"), full_page=True)
                written.append("report_html.png")
                browser.close()
        finally:
            server.stop()
        pdftoppm = shutil.which("pdftoppm")
        pdfs = [("report_pdf", rep.get("pdf"))] + [(f"notice_{Path(n).stem.split('-')[-1]}_pdf", n.with_suffix(".pdf"))
                                                   for n in rep.get("notices", [])[:1]]
        for name, pdf in pdfs:
            if pdftoppm and pdf and Path(pdf).exists():
                subprocess.run([pdftoppm, "-r", "80", "-png", "-f", "1", "-l", "2", str(pdf), str(args.out / name)],
                               check=True)
                written += sorted(q.name for q in args.out.glob(f"{name}-*.png"))
            else:
                print(f"{name}: no PDF or no pdftoppm ({rep.get('pdf_skipped') or 'poppler-utils not installed'})")
        for key in ("xlsx", "html", "pdf"):
            if rep.get(key):
                shutil.copy(rep[key], args.out / Path(rep[key]).name)
    print(f"{len(written)} screenshots in {args.out}:")
    for w in written:
        print(f"  {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
