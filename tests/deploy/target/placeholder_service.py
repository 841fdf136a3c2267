"""Stand-in for `pibokeh camera` (issue 5) on the test target, until that service exists.

Run by the placeholder unit with the deployed venv's Python, as the service user. Like the real
service it reads the deployed config, loads the deployed model ($PIBOKEH_MODEL, set by the
deploy's drop-in) with the runtime's Segmenter, segments frames, and answers /healthz with 200
while that works. A model that cannot load or run makes it exit non-zero before it ever listens:
exactly what the deploy's health check has to catch.
"""
from __future__ import annotations

import http.server
import os
import sys
import tomllib

import numpy as np

from edge.model import Segmenter


def main() -> int:
    config_path = sys.argv[sys.argv.index("--config") + 1]
    with open(config_path, "rb") as f:
        config = tomllib.load(f)
    host, port = config.get("serve", "127.0.0.1:8765").rsplit(":", 1)
    segmenter = Segmenter(os.environ["PIBOKEH_MODEL"])
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    labels = segmenter.predict(frame)
    print(f"placeholder: {segmenter.family} model on {segmenter.backend}, labels {labels.shape}", flush=True)

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/healthz" and segmenter.predict(frame).ndim == 2
            body = b"ok\n" if ok else b"not found\n"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    http.server.ThreadingHTTPServer((host, int(port)), Health).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
