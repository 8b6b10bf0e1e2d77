"""`medreview review` (the web UI) and `medreview users add | list` (its accounts)."""
from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_USAGE, console, err, error
from pipeline.store import StoreError, connect

log = logging.getLogger("medreview.review")


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 8765) -> int:
    import uvicorn

    from review_ui import auth
    from review_ui.app import create_app

    if not db_path.exists():
        return error(f"{db_path}: 数据库不存在 (database not found)")
    try:
        app = create_app(db_path)
    except StoreError as exc:
        return error(exc)
    if not auth.list_users(connect(db_path, migrate=False)):
        err.print("还没有用户，请先运行: medreview users add NAME --role admin")
        return EXIT_USAGE
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        # Cookies are not marked Secure (plain http); warn when leaving the local machine.
        log.warning("serving on %s without TLS: put it behind an HTTPS reverse proxy", host)
    console.print(f"审核界面: http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    return EXIT_OK


def users_add(db_path: Path, name: str, role: str, password: str) -> int:
    from review_ui import auth

    try:
        auth.add_user(connect(db_path), name, role, password)
    except (auth.AuthError, StoreError) as exc:
        return error(exc)
    console.print(f"已创建用户 {name}（{role}）", markup=False)
    return EXIT_OK


def users_list(db_path: Path) -> int:
    from review_ui import auth

    try:
        users = auth.list_users(connect(db_path))
    except StoreError as exc:
        return error(exc)
    for u in users:
        print(f"{u['name']}\t{u['role']}\t{'disabled' if u['disabled'] else 'active'}\t{u['created_at']}")  # TSV for scripts
    return EXIT_OK
