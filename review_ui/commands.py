"""Entry points behind ``medreview review`` and ``medreview users``; they return exit codes."""
from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

from pipeline.store import StoreError, connect
from review_ui import auth

log = logging.getLogger("medreview.review")


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 8765) -> int:
    import uvicorn

    from review_ui.app import create_app

    if not db_path.exists():
        print(f"{db_path}: 数据库不存在 (database not found)", file=sys.stderr)
        return 2
    try:
        app = create_app(db_path)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not auth.list_users(connect(db_path, migrate=False)):
        print("还没有用户，请先运行: medreview users add NAME --role admin", file=sys.stderr)
        return 2
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        # Cookies are not marked Secure (plain http); warn when leaving the local machine.
        log.warning("serving on %s without TLS: put it behind an HTTPS reverse proxy", host)
    print(f"审核界面: http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    return 0


def users_add(db_path: Path, name: str, role: str, password: str) -> int:
    try:
        auth.add_user(connect(db_path), name, role, password)
    except (auth.AuthError, StoreError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"已创建用户 {name}（{role}）")
    return 0


def users_list(db_path: Path) -> int:
    try:
        users = auth.list_users(connect(db_path))
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for u in users:
        print(f"{u['name']}\t{u['role']}\t{'disabled' if u['disabled'] else 'active'}\t{u['created_at']}")
    return 0
