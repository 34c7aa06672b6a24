"""A webhook receiver for trying trizap's webhooks: it verifies each delivery's signature
(Standard Webhooks, standard library only) and prints the event.

    python3 examples/webhook_receiver.py hook.json

`hook.json` is what `POST /v1/webhooks` answered (its `url` says where to listen, its
`secret` what to verify with). A delivery whose signature does not verify, or whose
timestamp is more than 5 minutes off, is answered 401; the others 204. Ctrl-C stops it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

TOLERANCE = 300  # seconds between the delivery's timestamp and this machine's clock


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks: any `v1,` signature of `<id>.<timestamp>.<body>` made with the
    base64-decoded part of `whsec_...` must match; the timestamp must be recent."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers.get("webhook-signature", "").split(" ")
    )


def main() -> None:
    with open(sys.argv[1] if len(sys.argv) > 1 else "hook.json") as f:
        hook = json.load(f)
    secret, where = hook["secret"], urlsplit(hook["url"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not verify(secret, headers, body):
                print("REFUSED (bad signature)", headers.get("webhook-id"), flush=True)
                self.send_response(401)
            else:
                event = json.loads(body)
                print("verified", headers["webhook-id"], json.dumps(event), flush=True)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # one line per delivery is enough
            pass

    server = ThreadingHTTPServer((where.hostname or "127.0.0.1", where.port or 80), Handler)
    print(f"listening on {hook['url']} for webhook {hook['id']}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
