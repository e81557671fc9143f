"""A real HTTP server on 127.0.0.1, in a thread, that serves files from a dict: the download tests'
stand-in for Zenodo and PyTorch's download site, so that they run the real download code offline."""

from __future__ import annotations

import http.server
import threading


class FileServer:
    """Serves ``files`` (name -> bytes) by the last part of the requested path, under ``url``.

    ``requests`` lists the names asked for, in order; a name put in ``break_off`` gets half its bytes
    once (the connection closes: a short body), then the whole file. Use it as a context manager.
    """

    def __init__(self, files: dict[str, bytes], prefix: str = ""):
        self.files = dict(files)
        self.requests: list[str] = []
        self.break_off: set[str] = set()
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest's output clean
                pass

            def do_GET(self):
                served._answer(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        name = handler.path.split("?")[0].rsplit("/", 1)[-1]
        self.requests.append(name)
        data = self.files.get(name)
        if data is None:
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if name in self.break_off:
            self.break_off.discard(name)
            handler.wfile.write(data[: len(data) // 2])
        else:
            handler.wfile.write(data)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
