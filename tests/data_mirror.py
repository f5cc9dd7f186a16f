"""A real HTTP mirror of the data folder in the ``OWNER/REPO/COMMIT/PATH`` layout, built from
the data manifest: what ``BIOBENCH_DATA_URL`` points at in the tests and in the acceptance run.

    python -m tests.data_mirror ../shared/data --port 8765   # then BIOBENCH_DATA_URL=http://127.0.0.1:8765

Serves each manifest file from the local folder (with ``Range`` requests, as GitHub does);
anything else is a 404. For the tests it can also misbehave on purpose: ``corrupt`` (paths
served with one byte changed), ``cut_once`` (paths whose first response stops half way), and
``missing`` (paths answered with 404).
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tasks.common.manifest import DataFile, manifest

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class Mirror:
    root: Path
    corrupt: set[str] = field(default_factory=set)
    cut_once: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (data path, Range header)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.by_url = {f"/{f.repository}/{f.commit}/{f.source}": f for f in manifest().files}


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            f: DataFile | None = mirror.by_url.get(self.path)
            rng = self.headers.get("Range", "")
            with mirror.lock:
                mirror.requests.append((f.path if f else self.path, rng))
                cut = f is not None and f.path in mirror.cut_once
                if cut:
                    mirror.cut_once.discard(f.path)
            if f is None or f.path in mirror.missing or not (mirror.root / f.path).is_file():
                self.send_error(404)
                return
            data = (mirror.root / f.path).read_bytes()
            if f.path in mirror.corrupt:
                data = bytes([data[0] ^ 1]) + data[1:]
            start = 0
            match = _RANGE.match(rng)
            if match and int(match.group(1)) < len(data):
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if cut:  # half the body, then the connection drops
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def serve(mirror: Mirror, port: int = 0) -> Iterator[str]:
    """Serve ``mirror`` on 127.0.0.1 in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(mirror))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="a data folder, e.g. ../shared/data")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with serve(Mirror(args.root.resolve()), args.port) as url:
        print(f"mirror of {args.root} at {url} (BIOBENCH_DATA_URL={url}); Ctrl-C stops", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
