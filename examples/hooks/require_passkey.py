"""A post-login hook: require a passkey for one application, deny password sign-ins there.

Run it, then register it with Keyturn:

    PASSKEY_ONLY_CLIENT_ID=<client_id> KEYTURN_HOOK_SECRET=<secret> python examples/hooks/require_passkey.py
    keyturn hooks add --trigger post-login --url http://127.0.0.1:9100/ --timeout 2 --on-failure deny

(`keyturn hooks add` prints the secret once: start the hook with it.)
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from keyturn.hooks.signing import SIGNATURE_HEADER, verify

PROTECTED_CLIENT = os.environ.get("PASSKEY_ONLY_CLIENT_ID", "")
SECRET = os.environ.get("KEYTURN_HOOK_SECRET", "").encode()


def decide(event: dict[str, object]) -> dict[str, object]:
    """Deny password sign-ins to the protected client; tag everyone else's tokens."""
    client = event.get("client") or {}
    methods = event.get("authentication", {}).get("methods", [])  # type: ignore[union-attr]
    used_passkey = any(m.get("name") == "passkey" for m in methods)
    if isinstance(client, dict) and client.get("client_id") == PROTECTED_CLIENT and not used_passkey:
        return {"action": "deny", "message": "This application needs a passkey. Sign in with your passkey."}
    return {"action": "allow", "claims": {"https://example.com/signed_in_with_passkey": used_passkey}}


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        signature = self.headers.get(SIGNATURE_HEADER, "")
        if not verify(SECRET, body, signature, now=int(time.time())):
            self.send_response(401)  # not from Keyturn, or replayed
            self.end_headers()
            return
        answer = json.dumps(decide(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("HOOK_PORT", "9100"))), Hook).serve_forever()
