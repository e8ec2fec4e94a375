"""An HTTP server that ignores SIGINT, to test the SIGKILL path of ``RunningServer.stop``.

Usage: ``python stubborn_server.py HOST PORT APP`` (APP is ignored). Answers every GET with 200.
"""

from __future__ import annotations

import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    """Serve until killed; SIGINT is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    host, port = sys.argv[1], int(sys.argv[2])
    HTTPServer((host, port), _Handler).serve_forever()


if __name__ == "__main__":
    main()
