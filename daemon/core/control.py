"""The control endpoint: a Unix socket (0600, in a 0700 dir) the CLI and tray talk through.

One JSON object per line each way: {"command": "status"} -> {"ok": true, "result": {...}}.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

from daemon.core.errors import DaemonNotRunning, EarmarkError

__all__ = ["ControlServer", "request"]

log = logging.getLogger(__name__)

Handler = Callable[[dict], object]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class ControlServer:
    """Serves commands to `handlers[command](request)`; errors go back as one sentence."""

    def __init__(self, path: Path, handlers: dict[str, Handler]):
        self.path = path
        self.handlers = handlers
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # only reached while holding the single-daemon lock
        handlers = self.handlers

        class _Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(1_000_000)
                try:
                    message = json.loads(line)
                    command = message.get("command")
                    if command not in handlers:
                        raise EarmarkError(f"unknown control command {command!r}")
                    reply = {"ok": True, "result": handlers[command](message)}
                except EarmarkError as exc:
                    reply = {"ok": False, "error": str(exc)}
                except (ValueError, AttributeError):
                    reply = {"ok": False, "error": "expected one JSON object per line"}
                except Exception as exc:  # never let a bad request kill the endpoint
                    log.exception("control command failed")
                    reply = {"ok": False, "error": f"internal error: {exc}"}
                self.wfile.write((json.dumps(reply) + "\n").encode())

        old = os.umask(0o177)
        try:
            self._server = _Server(str(self.path), _Handler)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="earmark-control", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.path.unlink(missing_ok=True)


def request(path: Path, command: str, *, timeout: float = 10.0, **args) -> object:
    """Send one command to the running daemon and return its result."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise DaemonNotRunning(
            "no Earmark daemon is running (start one with `earmark run`)"
        ) from None
    except PermissionError:
        sock.close()
        raise DaemonNotRunning(f"the control endpoint {path} belongs to another user") from None
    try:
        with sock, sock.makefile("rwb") as stream:
            stream.write((json.dumps({"command": command, **args}) + "\n").encode())
            stream.flush()
            line = stream.readline()
    except OSError as exc:
        raise DaemonNotRunning(f"the Earmark daemon did not answer ({exc})") from None
    if not line:
        raise DaemonNotRunning("the Earmark daemon closed the connection without answering")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise EarmarkError(reply.get("error", "the daemon refused the request"))
    return reply.get("result")
