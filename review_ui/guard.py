"""``RequestGuard``: the outermost check on every request, below the security headers.

It refuses bodies over ``max_body`` bytes (413) before the app reads them, whether announced in
Content-Length or streamed, and turns any error the app did not handle into a generic 500 that
names an error id: the log line carries the id, the route, the exception's type and the stack of
code locations (file, line, function), never the exception's message, source lines or the
request's values, which may hold patient data. The server never sees the exception, so it logs nothing more.
"""
from __future__ import annotations

import json
import logging
import secrets
import traceback

from fastapi import HTTPException

log = logging.getLogger("medreview.review_ui")
MAX_BODY = 256 * 1024


class BodyTooLarge(HTTPException):
    """Raised while the app reads a streamed body past the limit (FastAPI passes it through)."""

    def __init__(self):
        super().__init__(413, "请求内容过大")


class RequestGuard:
    def __init__(self, app, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length and not length.isdigit():
            return await self.refuse(scope, send, 400, "请求头 Content-Length 无效")
        if length and int(length) > self.max_body:
            return await self.refuse(scope, send, 413, "请求内容过大")
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge()
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except Exception as exc:
            error_id = secrets.token_hex(4)
            route = scope.get("route")
            where = getattr(route, "path", None) or "(no route)"
            # Code locations only: a frame's source line or locals could quote request values.
            frames = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__))
            log.error("error %s in %s %s: %s\n%s", error_id, scope.get("method"), where, type(exc).__name__, frames)
            if not started:
                await self.refuse(scope, send, 500, f"服务器内部错误，请稍后重试（错误编号 {error_id}）")

    async def refuse(self, scope, send, status: int, message: str) -> None:
        """A short answer without the app: JSON for the API, a plain page for a browser."""
        if scope.get("path", "").startswith("/api/"):
            body, kind = json.dumps({"error": message}, ensure_ascii=False).encode(), b"application/json"
        else:
            body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>出错了</title>'
                    f'<p role="alert">{message}</p><p><a href="/">回到审核队列</a></p></html>').encode()
            kind = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
