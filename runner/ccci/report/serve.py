"""``ccci serve``: the runs folder over HTTP on this machine only.

The standard library's file server, bound to 127.0.0.1: run folders hold logs, env
files and artifacts of apps, not something to offer the network. The dashboard's links
are relative, so the same pages work here and from disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ccci.report.dashboard import DASHBOARD_DIR

HOST = "127.0.0.1"
DEFAULT_PORT = 8808


def make_server(runs_root: Path, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """A server of ``runs_root`` listening on 127.0.0.1:``port`` (0: a free port)."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(runs_root))
    return ThreadingHTTPServer((HOST, port), handler)


def index_url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/{DASHBOARD_DIR}/index.html"


def serve(runs_root: Path, port: int = DEFAULT_PORT,
          ready: Callable[[str], None] | None = None, *,
          stop: threading.Event | None = None) -> None:
    """Serve ``runs_root`` until Ctrl-C (or until ``stop`` is set); ``ready`` is called
    with the dashboard's URL once the port is bound (default: print it). Raises OSError
    when the port cannot be bound."""
    server = make_server(runs_root, port)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    try:
        (ready or print)(index_url(server))
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
