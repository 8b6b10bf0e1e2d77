"""The review app under uvicorn in a background thread on a free local port, as `medreview review`
serves it: for the browser tests, bench/ui.py, bench/security.py and scripts/screenshots.py."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from pipeline.commands.review import server_config


class AppServer:
    def __init__(self, app, *, log_level: str = "warning", timeout: float = 20.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port, log_level=log_level))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
