"""`medreview review` (the web UI) and `medreview users ...` (its accounts and sessions)."""
from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import sqlite3
from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_USAGE, console, err, error
from pipeline.store import StoreError, connect

log = logging.getLogger("medreview.review")


def parse_proxies(spec: str | None) -> list[str]:
    """``--forwarded-allow-ips``: comma-separated addresses or networks (ValueError when one is not)."""
    out = []
    for part in (spec or "").split(","):
        part = part.strip()
        if part:
            ipaddress.ip_network(part, strict=False)
            out.append(part)
    return out


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (None when it can), said before the
    address is printed: uvicorn would otherwise print it and then exit with a traceback."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"无法解析监听地址 {host} (cannot resolve host: {exc.strerror})"
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"端口 {port} 已被占用 (port {port} on {host} is in use): 请用 --port 换一个端口，"
                        "或先结束占用它的程序 (another medreview review?)")
            if exc.errno == errno.EACCES:
                return f"无权监听端口 {port} (permission denied): 请用 1024 以上的端口"
            return f"无法监听 {host}:{port} ({exc.strerror})"
    return None


def server_config(app, host: str, port: int, *, log_level: str = "info"):
    """How uvicorn serves the app: uvicorn's own proxy-header handling is off (by default it
    believes ``X-Forwarded-For`` from 127.0.0.1), the app's trusted-proxy list decides instead."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False,
                          server_header=False)


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 8765, *, https_cookies: bool = False,
          idle_minutes: int = 30, forwarded_allow_ips: str | None = None) -> int:
    import uvicorn

    from review_ui import auth
    from review_ui.app import create_app

    if not db_path.exists():
        return error(f"{db_path}: 数据库不存在 (database not found)")
    try:
        proxies = parse_proxies(forwarded_allow_ips)
    except ValueError as exc:
        return error(f"--forwarded-allow-ips: {exc}")
    if not 1 <= idle_minutes <= auth.SESSION_MAX_S // 60:
        return error(f"--idle-timeout 须在 1 到 {auth.SESSION_MAX_S // 60} 分钟之间")
    try:
        app = create_app(db_path, cookie_secure=https_cookies, idle_timeout=idle_minutes * 60,
                         forwarded_allow_ips=proxies)
    except StoreError as exc:
        return error(exc)
    except sqlite3.DatabaseError as exc:
        return error(f"{db_path}: 不是 medreview 数据库 (not a SQLite database: {exc})")
    if not auth.list_users(connect(db_path, migrate=False)):
        err.print("还没有用户，请先运行: medreview users add NAME --role admin")
        return EXIT_USAGE
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not https_cookies:
        # Cookies are not marked Secure (plain http); warn when leaving the local machine.
        log.warning("serving on %s without TLS: put it behind an HTTPS reverse proxy and pass --https-cookies", host)
    busy = port_problem(host, port)
    if busy:
        return error(busy)
    scheme = "https (proxy)" if https_cookies else "http"
    console.print(f"审核界面: http://{host}:{port}/  [{scheme}; 空闲 {idle_minutes} 分钟退出; "
                  f"可信代理: {', '.join(proxies) or '无'}]", markup=False)
    uvicorn.Server(server_config(app, host, port)).run()
    return EXIT_OK


def _auth():
    from review_ui import accounts, auth

    return accounts, auth


def users_add(db_path: Path, name: str, role: str, password: str) -> int:
    _, auth = _auth()
    try:
        auth.add_user(connect(db_path), name, role, password)
    except (auth.AuthError, StoreError) as exc:
        return error(exc)
    console.print(f"已创建用户 {name}（{role}）", markup=False)
    return EXIT_OK


def users_list(db_path: Path) -> int:
    _, auth = _auth()
    try:
        users = auth.list_users(connect(db_path))
    except StoreError as exc:
        return error(exc)
    for u in users:
        state = "disabled" if u["disabled"] else "must-change-password" if u["must_change_password"] else "active"
        print(f"{u['name']}\t{u['role']}\t{state}\t{u['created_at']}")  # TSV for scripts
    return EXIT_OK


def users_set_disabled(db_path: Path, name: str, disabled: bool) -> int:
    from pipeline.review import audit

    accounts, auth = _auth()
    try:
        accounts.set_disabled(connect(db_path), name, disabled, by=audit.cli_actor())
    except (auth.AuthError, StoreError) as exc:
        return error(exc)
    console.print(f"已{'停用' if disabled else '启用'}用户 {name}", markup=False)
    return EXIT_OK


def users_reset_password(db_path: Path, name: str, password: str) -> int:
    from pipeline.review import audit

    accounts, auth = _auth()
    try:
        accounts.reset_password(connect(db_path), name, password, by=audit.cli_actor())
    except (auth.AuthError, StoreError) as exc:
        return error(exc)
    console.print(f"已重置 {name} 的密码；该用户下次登录时必须修改密码，其会话已结束", markup=False)
    return EXIT_OK


def users_sessions(db_path: Path, name: str | None, end: bool) -> int:
    """List live sessions (TSV); with ``end``, end every session of ``name``."""
    from pipeline.review import audit

    accounts, auth = _auth()
    try:
        db = connect(db_path)
        if end:
            n = accounts.end_user_sessions(db, name or "", by=audit.cli_actor())
            console.print(f"已结束 {name} 的 {n} 个会话", markup=False)
            return EXIT_OK
        rows = accounts.sessions(db, name)
    except (auth.AuthError, StoreError) as exc:
        return error(exc)
    for s in rows:
        print(f"{s['id']}\t{s['user']}\t{s['ip'] or ''}\t{s['created_at']}\t{s['last_seen']}")
    return EXIT_OK
