"""A loopback HTTP mirror of the weights catalogue: the real download code runs against it, offline."""

import http.server
import threading

import pytest

from ganpost.gan_models import catalogue


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    truncate = False

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.truncate else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(catalogue.BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_port}")
    _Handler.files, _Handler.truncate = {}, False
    yield _Handler
    httpd.shutdown()
