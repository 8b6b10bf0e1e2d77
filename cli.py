"""medreview command line: parses arguments and calls ``pipeline``; no logic lives here.

Exit codes: 0 success; 1 the job ran but some inputs failed (see `medreview status`);
2 usage or environment error (bad path, read-only database, missing dependency).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help="medreview — 住院病历医保合规审核 (audit Chinese inpatient records for medical-insurance compliance).",
    no_args_is_help=True,
    add_completion=False,
)
train_app = typer.Typer(help="Train models (NER, risk classifier) and register them in models/.", no_args_is_help=True)
app.add_typer(train_app, name="train")

DB_OPTION = typer.Option(Path("audit.db"), "--db", help="SQLite database (the record of truth).")


def _exit(code: int) -> None:
    raise typer.Exit(code)


@app.command()
def init(db: Path = DB_OPTION) -> None:
    """Create the database (or upgrade its schema) and print the schema version."""
    from pipeline.commands import batch

    _exit(batch.init(db))


@app.command()
def ingest(
    directory: Path = typer.Argument(..., help="Batch folder: one sub-folder per hospital, one file or page-image folder per admission."),
    db: Path = DB_OPTION,
    hospital: Optional[str] = typer.Option(None, help="Hospital id for files directly under DIRECTORY (default: the folder name)."),
) -> None:
    """Register every record file (PDF, image, page-image folder) and claims CSV under DIRECTORY.

    Unknown or unreadable inputs are recorded as rejected with a reason; the same file twice is
    recorded once. Re-running on the same folder changes nothing.
    """
    from pipeline.commands import batch

    _exit(batch.ingest(directory, db, hospital=hospital))


@app.command()
def run(
    db: Path = DB_OPTION,
    workers: int = typer.Option(0, help="Worker processes (0 = one per core)."),
    stages: str = typer.Option("all", help="Comma-separated stages to run: read,segment,extract,score or all."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry records that failed before."),
    timeout: float = typer.Option(600.0, help="Seconds a record may go without progress (e.g. no page read) before it is failed as hung."),
    ocr_engine: Optional[str] = typer.Option(None, "--ocr-engine", help="OCR engine: rapidocr (default), paddleocr, tesseract, fake."),
    dpi: Optional[int] = typer.Option(None, help="Rasterization dpi for image-only PDF pages."),
    executor: str = typer.Option("local", help="local (process pool), inline (this process) or ray (`distributed` extra)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address for --executor ray (default: start Ray locally)."),
    rules_override: Optional[Path] = typer.Option(None, "--rules-override", help="Region rule override YAML (parameters, enabled rules) used when scoring."),
    rescore: bool = typer.Option(False, "--rescore", help="Score already-scored records again (after a catalogue upgrade, a region override or a newly promoted classifier)."),
    profiles: Optional[Path] = typer.Option(None, "--profiles", help="Folder of per-hospital profiles used when segmenting (default: $MEDREVIEW_PROFILES or profiles/)."),
) -> None:
    """Run the pipeline stages over every ingested record; resumes where an earlier run stopped."""
    from pipeline.commands import batch

    _exit(batch.run(db, workers=workers, stages=stages, retry_failed=retry_failed, timeout=timeout, ocr_engine=ocr_engine, dpi=dpi,
                    executor=executor, address=address, rules_override=rules_override, rescore=rescore, profiles=profiles))


@app.command()
def status(
    db: Path = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    failed: bool = typer.Option(False, "--failed", help="List every failed or rejected input with its reason."),
) -> None:
    """Per-stage counts: inputs received, records ingested/read/segmented/extracted/scored/failed."""
    from pipeline.commands import batch

    _exit(batch.status(db, as_json=as_json, list_failed=failed))


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """Check the environment: CJK fonts, OCR engines and their local models, optional extras."""
    from pipeline.commands import batch

    _exit(batch.doctor(as_json=as_json))


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), help="Folder for the demo batch, database and report."),
    records: int = typer.Option(20, help="Number of admissions in the built-in sample batch."),
    form: str = typer.Option("text", help="Which form of the sample batch to process: text or scan (OCR, ~3 s/page)."),
    simulate_reviews: int = typer.Option(0, "--simulate-reviews", help="Let a simulated reviewer (the generator's ground truth) decide this many flags, then export them as annotations."),
) -> None:
    """Generate the built-in sample batch, run the whole pipeline on it, write the report and print where results are."""
    from pipeline.commands import batch

    _exit(batch.demo(out, records=records, form=form, simulate_reviews=simulate_reviews))


@app.command()
def synth(
    out_dir: Path = typer.Argument(..., help="Folder to write the batch into (created if missing)."),
    records: int = typer.Option(12, "--records", help="Number of admissions."),
    hospitals: int = typer.Option(2, "--hospitals", help="Number of hospitals (folders H01, H02, ...)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same bytes."),
    forms: str = typer.Option("text,scan", "--forms", help="Comma-separated forms to render: text, scan (empty: labels and claims only)."),
    scan_format: str = typer.Option("jpg", "--scan-format", help="Scanned form: jpg or png page images, or pdf (image-only PDF)."),
    clean_share: float = typer.Option(0.75, "--clean-share", help="Share of admissions without any violation."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: one per core)."),
    styles: str = typer.Option("standard", "--styles", help="Hospital print styles, hospital i printing in the i-th: comma-separated names, 'developed' or 'all' (pipeline/synth/data/styles.yaml)."),
) -> None:
    """Generate a synthetic sample batch: records as text PDFs and scans, claims CSVs, ground-truth labels."""
    from pipeline.commands import batch

    _exit(batch.synth(out_dir, records=records, hospitals=hospitals, seed=seed, forms=forms, scan_format=scan_format,
                      clean_share=clean_share, workers=workers, styles=styles))


@app.command()
def review(
    db: Path = DB_OPTION,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (keep it local unless behind HTTPS)."),
    port: int = typer.Option(8765, help="TCP port."),
    https_cookies: bool = typer.Option(False, "--https-cookies", help="Mark cookies Secure and send HSTS: the UI is reached over HTTPS (a TLS reverse proxy in front)."),
    idle_timeout: int = typer.Option(30, "--idle-timeout", help="Minutes without a request after which a session ends (sessions last 12 h at most)."),
    forwarded_allow_ips: Optional[str] = typer.Option(None, "--forwarded-allow-ips", help="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed (default: none; the connecting address is the client)."),
) -> None:
    """Start the review web UI (zh-CN): queue by risk, case view with evidence, decisions."""
    from pipeline.commands import review as review_commands

    _exit(review_commands.serve(db, host=host, port=port, https_cookies=https_cookies, idle_minutes=idle_timeout,
                                forwarded_allow_ips=forwarded_allow_ips))


@train_app.command("ner")
def train_ner(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Reference data folder (default: ../shared/data or $MEDREVIEW_SHARED_DATA)."),
    out: Optional[Path] = typer.Option(None, "--out", "--models-dir", help="Without --from: model folder to write (default models/ner). With --from: model registry folder (default: the repository's models/ or $MEDREVIEW_MODELS)."),
    seed: int = typer.Option(0, help="Random seed (shuffling, initialization, dev set); the 80/20 held-out split is fixed."),
    time_budget: float = typer.Option(1800.0, "--time-budget", help="Safety cap in seconds for the training (per NER component with --separate-encoders); training normally stops earlier, 4 epochs without dev improvement."),
    max_epochs: int = typer.Option(30, "--max-epochs", help="Most epochs."),
    workers: int = typer.Option(2, help="With --separate-encoders: processes (one core each), the components train in parallel."),
    shared: bool = typer.Option(True, "--shared-encoder/--separate-encoders", help="One text encoder shared by the NER components, trained multi-task (the shipped model), or one encoder per component."),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs", min=0, help="Epochs of masked-character pretraining of the shared encoder on the training text, CHIP-CDN mentions and ICD names before the NER training (default: as the shipped model, 10; 0: none; not with --separate-encoders)."),
    annotations: Optional[Path] = typer.Option(None, "--from", help="Exported reviewer entity corrections (annotations/ folder or a version file): retrain on them plus the corpora, register a new version, promote it unless worse."),
    force: bool = typer.Option(False, "--force", help="With --from: promote even when the new version is worse than the current one on the held-out parts."),
) -> None:
    """Train the NER components on the 80 % training split of Yidu-S4K and CCKS 2017, measure them
    on the held-out 20 %, and write the model folder with its model card. With --from: add the
    reviewers' corrected sections (a fixed 20 % of them held out), compare with the current
    version on the same held-out parts, register under models/ner/<version>/ and promote it
    unless it is worse (exit 1 then; --force promotes anyway)."""
    from pipeline.commands import train

    if annotations is not None:
        _exit(train.retrain_ner(annotations, data_dir, out, force=force, seed=seed, time_budget_s=time_budget,
                                max_epochs=max_epochs, workers=workers, shared=shared, pretrain_epochs=pretrain_epochs))
    _exit(train.train_ner(data_dir, out or Path("models/ner"), seed, time_budget, max_epochs, workers, shared,
                          pretrain_epochs))


@train_app.command("classifier")
def train_classifier(
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.jsonl: one JSON line per admission with its violations (generator ground truth)."),
    annotations: Optional[Path] = typer.Option(None, "--from", help="Exported reviewer decisions (annotations/ folder or a version file); merged over --labels, decisions win."),
    db: Path = DB_OPTION,
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Model registry folder (default: the repository's models/ or $MEDREVIEW_MODELS)."),
    rules_override: Optional[Path] = typer.Option(None, "--rules-override", help="Region rule override YAML used when scoring."),
    force: bool = typer.Option(False, "--force", help="Promote even when the new version is worse than the current one on the held-out part."),
) -> None:
    """Train the calibrated risk classifier on scored records and their labels, measure it on a
    held-out part, register it under models/classifier/ and promote it unless it is worse than
    the current version (exit 1 then; --force promotes anyway)."""
    from pipeline.commands import train

    _exit(train.train_classifier(db, labels, models_dir, rules_override, annotations=annotations, force=force))


rules_app = typer.Typer(help="Rule catalogue: list the effective rules, validate catalogue and region override files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(override: Optional[Path] = typer.Option(None, "--override", help="Region override YAML (parameters, enabled).")) -> None:
    """List every rule with its category, severity, legal basis and effective parameters."""
    from pipeline.commands import rules as rules_commands

    _exit(rules_commands.list_rules(override))


@rules_app.command("check")
def rules_check(override: Optional[Path] = typer.Option(None, "--override", help="Region override YAML to validate.")) -> None:
    """Validate the rule catalogue, knowledge tables and an optional region override; errors name file and key."""
    from pipeline.commands import rules as rules_commands

    _exit(rules_commands.check(override))


nlp_app = typer.Typer(help="Clinical NLP: evaluate the NER and normalization models on any corpus.", no_args_is_help=True)
app.add_typer(nlp_app, name="nlp")


@nlp_app.command("eval-ner")
def nlp_eval_ner(
    file: Path = typer.Argument(..., help="NER JSONL file ({text, entities:[{start,end,label}]} per line)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    model: Optional[Path] = typer.Option(None, help="Model folder (default: models/ner)."),
    component: Optional[str] = typer.Option(None, help="Run only this NER component (e.g. ner, ner_ccks2017) instead of the full pipeline."),
) -> None:
    """Strict per-label and micro precision/recall/F1 of the NER model on FILE (corpus labels are
    mapped through pipeline/nlp/data/label_map.yaml)."""
    from pipeline.commands import nlp as nlp_commands

    _exit(nlp_commands.eval_ner(file, as_json, model, component))


@nlp_app.command("eval-normalize")
def nlp_eval_normalize(
    file: Path = typer.Argument(..., help="CHIP-CDN JSON file ([{text, normalized_result}], names separated by ##)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    table: Optional[Path] = typer.Option(None, help="Code table CSV with code,name columns (default: ICD-10 北京临床版 v601 from the shared data)."),
    train: Optional[Path] = typer.Option(None, help="CHIP-CDN-format training file: its texts become aliases and nearest examples for their names, ranked by the stacked memory ranker (must not overlap FILE)."),
) -> None:
    """Micro precision/recall/F1 of the predicted standard names on FILE."""
    from pipeline.commands import nlp as nlp_commands

    _exit(nlp_commands.eval_normalize(file, as_json, table, train))


users_app = typer.Typer(help="Review UI accounts (reviewer, lead, admin).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="reviewer | lead | admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin."),
    db: Path = DB_OPTION,
) -> None:
    """Create a user; the password is prompted for (or read from stdin) and stored as a scrypt hash."""
    import sys

    from pipeline.commands import review as review_commands

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt=True)
    _exit(review_commands.users_add(db, name, role, password))


@users_app.command("list")
def users_list(db: Path = DB_OPTION) -> None:
    """List users and their roles."""
    from pipeline.commands import review as review_commands

    _exit(review_commands.users_list(db))


@users_app.command("disable")
def users_disable(name: str = typer.Argument(..., help="Login name."), db: Path = DB_OPTION) -> None:
    """Disable an account: its sessions end and its cases are released (audited)."""
    from pipeline.commands import review as review_commands

    _exit(review_commands.users_set_disabled(db, name, True))


@users_app.command("enable")
def users_enable(name: str = typer.Argument(..., help="Login name."), db: Path = DB_OPTION) -> None:
    """Enable a disabled account again (audited)."""
    from pipeline.commands import review as review_commands

    _exit(review_commands.users_set_disabled(db, name, False))


@users_app.command("reset-password")
def users_reset_password(
    name: str = typer.Argument(..., help="Login name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the temporary password from the first line of stdin."),
    db: Path = DB_OPTION,
) -> None:
    """Set a temporary password; the user must choose a new one at the next login (audited)."""
    import sys

    from pipeline.commands import review as review_commands

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("临时密码", hide_input=True, confirmation_prompt=True)
    _exit(review_commands.users_reset_password(db, name, password))


@users_app.command("sessions")
def users_sessions(
    name: Optional[str] = typer.Argument(None, help="Only this user's sessions."),
    end: bool = typer.Option(False, "--end", help="End every session of NAME (audited)."),
    db: Path = DB_OPTION,
) -> None:
    """List live sessions (id, user, address, login, last request), or end a user's sessions."""
    from pipeline.commands import review as review_commands

    if end and not name:
        typer.echo("--end needs NAME", err=True)
        _exit(2)
    _exit(review_commands.users_sessions(db, name, end))


@app.command()
def report(
    db: Path = DB_OPTION,
    out: Path = typer.Option(Path("report"), "--out", help="Folder for report.xlsx, report.html and figures.json."),
    no_mask: bool = typer.Option(False, "--no-mask", help="Keep patient names and ID numbers (masked by default)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also print report.pdf (and the notices' PDFs) with the local Chromium, CJK font embedded; exit 1 when it cannot."),
    notices: bool = typer.Option(False, "--notices", help="Also write a notice (疑点告知书) per hospital under OUT/notices/, listing its confirmed findings and how to appeal."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="Report settings YAML: firm, bureau, period, title, appeal_days, hospitals (id: name)."),
    firm: Optional[str] = typer.Option(None, "--firm", help="Review firm (审核机构); overrides the settings file."),
    bureau: Optional[str] = typer.Option(None, "--bureau", help="Client bureau (委托方); overrides the settings file."),
    period: Optional[str] = typer.Option(None, "--period", help="Audit period (审核期间), e.g. 2024年1月1日至2024年12月31日."),
) -> None:
    """Write the bureau's report: the headline (共审核病历 N 份，发现违规病例 M 份，涉及违规费用 X 万元)
    with firm, bureau, period and hospitals, a warning while flags are undecided, per hospital and
    rule figures (amounts counted once), the 100% coverage statement and the confirmed findings."""
    from pipeline.commands import report as report_commands

    _exit(report_commands.report(db, out, mask=not no_mask, pdf=pdf, notices=notices, settings_path=settings,
                                 firm=firm, bureau=bureau, period=period))


appeal_app = typer.Typer(help="Hospitals' appeals (申诉) against confirmed findings; the report counts what remains.",
                         no_args_is_help=True)
app.add_typer(appeal_app, name="appeal")


@appeal_app.command("file")
def appeal_file(
    flag_id: int = typer.Argument(..., help="The confirmed finding's 疑点编号 (as the notice lists it)."),
    grounds: str = typer.Option(..., "--grounds", help="The hospital's grounds (申诉理由), as written."),
    db: Path = DB_OPTION,
) -> None:
    """Record a hospital's appeal against a confirmed finding (it stands while the appeal is heard)."""
    from pipeline.commands import appeal

    _exit(appeal.file(db, flag_id, grounds))


@appeal_app.command("decide")
def appeal_decide(
    flag_id: int = typer.Argument(..., help="The appealed finding's 疑点编号."),
    outcome: str = typer.Option(..., "--outcome", help="upheld (申诉成立: leaves every total) | partly (部分成立: --amount stands) | dismissed (申诉不成立)."),
    amount: Optional[str] = typer.Option(None, "--amount", help="partly: the amount in 元 that stands."),
    finding: Optional[str] = typer.Option(None, "--finding", help="The reasons for the outcome."),
    db: Path = DB_OPTION,
) -> None:
    """Record the outcome of an appeal; the report and the notices count it."""
    from pipeline.commands import appeal

    _exit(appeal.decide(db, flag_id, outcome, amount, finding))


@appeal_app.command("list")
def appeal_list(db: Path = DB_OPTION) -> None:
    """Every appealed finding and its state (TSV: flag, hospital, admission no., rule, state, filed, decided, amount)."""
    from pipeline.commands import appeal

    _exit(appeal.list_(db))


annotations_app = typer.Typer(help="Reviewer decisions as versioned training annotations.", no_args_is_help=True)
app.add_typer(annotations_app, name="annotations")


@annotations_app.command("export")
def annotations_export(
    db: Path = DB_OPTION,
    out: Path = typer.Option(Path("annotations"), "--out", help="Annotations folder (schema: annotations/SCHEMA.md)."),
    no_mask: bool = typer.Option(False, "--no-mask", help="Keep patient names and ID numbers in notes, evidence and section text."),
) -> None:
    """Export confirmed/rejected flag decisions as JSONL and reviewers' entity corrections as JSONL
    plus spaCy DocBin, versioned by content hash (an unchanged export writes nothing)."""
    from pipeline.commands import annotations as annotations_commands

    _exit(annotations_commands.export(db, out, mask=not no_mask))


models_app = typer.Typer(help="Model versions under models/<kind>/<version>/: list, promote, diff.", no_args_is_help=True)
app.add_typer(models_app, name="models")
MODELS_ROOT = typer.Option(None, "--models", help="Models folder (default: the repository's models/ or $MEDREVIEW_MODELS).")


@models_app.command("list")
def models_list(
    kind: Optional[str] = typer.Argument(None, help="classifier | ner | normalizer (default: all)."),
    models: Optional[Path] = MODELS_ROOT,
    db: Optional[Path] = typer.Option(None, "--db", help="Also mirror the versions into this database."),
) -> None:
    """List registered versions with their held-out metric, parent and which one is current."""
    from pipeline.commands import models as models_commands

    _exit(models_commands.list_versions(kind, root=models, db_path=db))


@models_app.command("promote")
def models_promote(
    kind: str = typer.Argument(..., help="classifier | ner | normalizer"),
    version: str = typer.Argument(..., help="Version name (or a unique prefix)."),
    force: bool = typer.Option(False, "--force", help="Promote even if its held-out metric is worse or not comparable."),
    models: Optional[Path] = MODELS_ROOT,
    db: Optional[Path] = typer.Option(None, "--db", help="Also record the promotion in this database."),
) -> None:
    """Make VERSION the current model; refused (exit 1) when it is worse than the current one."""
    from pipeline.commands import models as models_commands

    _exit(models_commands.promote(kind, version, force=force, root=models, db_path=db))


@models_app.command("diff")
def models_diff(
    kind: str = typer.Argument(..., help="classifier | ner | normalizer"),
    a: str = typer.Argument(..., help="Older version."),
    b: str = typer.Argument(..., help="Newer version."),
    models: Optional[Path] = MODELS_ROOT,
    db: Optional[Path] = typer.Option(None, "--db", help="Also compare the two versions' scores on this batch (both are kept)."),
) -> None:
    """Compare two versions: metric deltas, held-out and data hashes, lineage, changed files, and
    with --db how re-scoring changed the batch's scores."""
    from pipeline.commands import models as models_commands

    _exit(models_commands.diff(kind, a, b, root=models, db_path=db))


knowledge_app = typer.Typer(help="Knowledge packs (the national 两库 knowledge points, a region's own): import, list, show, diff, coverage.",
                            no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")
PACKS_ROOT = typer.Option(None, "--packs", help="Folder of imported packs (default: $MEDREVIEW_PACKS or the repository's packs/).")


@knowledge_app.command("import")
def knowledge_import(
    path: Path = typer.Argument(..., help="JSONL, CSV or XLSX file of knowledge points (the national field names), or a folder of them."),
    name: Optional[str] = typer.Option(None, "--name", help="Pack name (letters, digits, _ . -; default: the file or folder name)."),
    packs: Optional[Path] = PACKS_ROOT,
) -> None:
    """Validate every row and store a new pack version; prints counts and every bad row as file:row.

    Exit 1 when some rows were bad but the rest was stored, 2 when nothing could be used. The same
    content as the pack's latest version writes nothing.
    """
    from pipeline.commands import knowledge

    _exit(knowledge.import_pack(path, name, root=packs))


@knowledge_app.command("list")
def knowledge_list(packs: Optional[Path] = PACKS_ROOT) -> None:
    """List the national pack and every imported pack version, which are in force, and the packs' version in the rules stamp."""
    from pipeline.commands import knowledge

    _exit(knowledge.list_packs(root=packs))


@knowledge_app.command("show")
def knowledge_show(
    kp_id: str = typer.Argument(..., help="Knowledge point id (e.g. KP-630264b3f1586762)."),
    packs: Optional[Path] = PACKS_ROOT,
) -> None:
    """Show the point in force under KP_ID: its fields, the pack it came from, what it supersedes or overrides."""
    from pipeline.commands import knowledge

    _exit(knowledge.show(kp_id, root=packs))


@knowledge_app.command("diff")
def knowledge_diff(
    a: str = typer.Argument(..., help="Older pack: national, a pack name (its latest version), name@version or a pack folder."),
    b: str = typer.Argument(..., help="Newer pack, written the same way."),
    limit: int = typer.Option(20, "--limit", help="Points listed per kind of change (0 = all)."),
    packs: Optional[Path] = PACKS_ROOT,
) -> None:
    """Points added, removed and changed (with the fields) between two packs or pack versions."""
    from pipeline.commands import knowledge

    _exit(knowledge.diff(a, b, root=packs, limit=limit))


@knowledge_app.command("coverage")
def knowledge_coverage(packs: Optional[Path] = PACKS_ROOT) -> None:
    """Per rule class: points loaded, points executable, points shown as text only, with reasons."""
    from pipeline.commands import knowledge

    _exit(knowledge.coverage(root=packs))


profile_app = typer.Typer(help="Per-hospital profiles: what segmentation reads of each hospital's records, and its own spellings.",
                          no_args_is_help=True)
app.add_typer(profile_app, name="profile")
PROFILES_ROOT = typer.Option(None, "--profiles", help="Folder of per-hospital profiles <hospital>.yaml (default: $MEDREVIEW_PROFILES or profiles/).")


@profile_app.command("check")
def profile_check(
    target: Path = typer.Argument(..., help="A segmented database, or a batch folder (ingested, read and segmented into a temporary database)."),
    profiles: Optional[Path] = PROFILES_ROOT,
    hospital: Optional[str] = typer.Option(None, "--hospital", help="Only this hospital."),
    min_share: float = typer.Option(0.9, "--min-share", help="Items read in a smaller share of a hospital's records are shown in red and make the exit code 1."),
    examples: int = typer.Option(3, "--examples", help="Records listed per item not found."),
    workers: int = typer.Option(0, help="Worker processes for a batch folder (0 = one per core)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Per hospital: in what share of its records each document, section and field was found (fields read from their label or derived from the ID number), and where not, on which pages."""
    from pipeline.commands import profile

    _exit(profile.check(target, profiles_dir=profiles, hospital=hospital, min_share=min_share, examples=examples,
                        workers=workers, as_json=as_json))


@profile_app.command("show")
def profile_show(
    hospital: str = typer.Argument(..., help="Hospital id (its folder name in the batch)."),
    profiles: Optional[Path] = PROFILES_ROOT,
    db: Optional[Path] = typer.Option(None, "--db", help="Also show the hospital's coverage in this segmented database."),
) -> None:
    """The hospital's profile (its extra labels, titles, sections and column names), or how to start one."""
    from pipeline.commands import profile

    _exit(profile.show(hospital, profiles_dir=profiles, db_path=db))
drg_app = typer.Typer(help="DRG grouping (CHS-DRG 1.1 and other schemes shipped as data).", no_args_is_help=True)
app.add_typer(drg_app, name="drg")


@drg_app.command("group")
def drg_group(
    cases: Path = typer.Argument(..., help="CSV with columns Index,gender,age,ageDay,weight,dept,inHospitalTime,leavingType,ICD10_DRGS,ICD9_DRGS (codes |-separated, main first; extra columns ignored)."),
    out: Path = typer.Option(..., "--out", help="Output CSV: Index,status,mdc,adrg,drg,drg_name,trace."),
    scheme: Optional[str] = typer.Option(None, "--scheme", help="Scheme name (default chs-drg-1.1; $MEDREVIEW_DRG_SCHEMES adds folders) or a scheme folder."),
) -> None:
    """Group every case; each output row has the status, MDC, ADRG, DRG, its name and the trace.

    A row that cannot be read, has no sex, or has a code outside the scheme's 医保版 tables gets its
    status and reason in the trace, and the file goes on. Exit 1 when some rows failed that way.
    """
    from pipeline.commands import drg

    _exit(drg.group(cases, out, scheme))


if __name__ == "__main__":
    app()
