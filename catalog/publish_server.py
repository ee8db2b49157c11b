"""Serve a release repository's ``public/`` folder over HTTP, with ``Range`` requests (so a
kiosk resumes an interrupted download). For a back office without a web server; nginx or any
static server that honours ``Range`` serves the same folder as well.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Static files, plus a single ``Range: bytes=a-[b]`` per request (206 / 416)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: kiosks poll often
        pass

    _range_left: int | None = None

    def send_head(self) -> Any:
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        fh = open(path, "rb")  # noqa: SIM115 (closed by copyfile below)
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._range_left = end - start + 1
        return fh

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = getattr(self, "_range_left", None)
        try:
            if left is None:
                shutil.copyfileobj(source, outputfile)
                return
            while left > 0 and (chunk := source.read(min(left, 1 << 16))):
                outputfile.write(chunk)
                left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # a kiosk that lost power or its network mid-file: it resumes with a Range request
            self.close_connection = True
        finally:
            self._range_left = None


def make_server(
    top: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    handler: type[RangeRequestHandler] = RangeRequestHandler,
) -> ThreadingHTTPServer:
    """An HTTP server for ``top/public`` (not started: call ``serve_forever``)."""
    public = top / "public"
    if not (public / "metadata").is_dir():
        raise FileNotFoundError(f"{top}: no public/metadata here (aislelens publish init)")
    server = ThreadingHTTPServer((host, port), partial(handler, directory=os.fspath(public)))
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="release-server", daemon=True)
    thread.start()
    return thread
