"""Bearer tokens the local stack accepts, standing in for Cognito: an RS256 key pair made once under
``<state>/auth/`` (the private key and ``jwks.json``), a small HTTP server publishing that JWKS as a
user pool does (PyJWT's JWKS client fetches only http(s) URLs), and JWTs signed with the key,
shaped like production's ID tokens (``sub``, ``role``, ``org_id``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "usage-local"
AUDIENCE = "usage-local"
ROLES = ("vendor_admin", "org_admin", "reporter")
PRIVATE_KEY_FILE = "private_key.pem"
JWKS_FILE = "jwks.json"
JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_TTL_SECONDS = 12 * 3600


def auth_dir(state_dir: Path) -> Path:
    return state_dir / "auth"


class JwksServer:
    """Serves ``<state>/auth/jwks.json`` at ``/.well-known/jwks.json`` on 127.0.0.1."""

    def __init__(self, state_dir: Path, port: int = 0) -> None:
        jwks_path = auth_dir(state_dir) / JWKS_FILE

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path.split("?")[0] == JWKS_PATH and jwks_path.is_file()
                body = jwks_path.read_bytes() if found else b'{"message": "not found"}'
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{JWKS_PATH}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="jwks", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ensure_keys(state_dir: Path) -> None:
    """Create the key pair and jwks.json unless they exist (tokens stay valid across restarts)."""
    folder = auth_dir(state_dir)
    if (folder / PRIVATE_KEY_FILE).is_file() and (folder / JWKS_FILE).is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    public = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    # The RFC 7638 thumbprint: a kid that names this key and no other.
    kid = (
        base64.urlsafe_b64encode(
            hashlib.sha256(json.dumps(public, separators=(",", ":"), sort_keys=True).encode()).digest()
        )
        .rstrip(b"=")
        .decode()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Written under a temporary name and renamed, so a concurrent reader never sees half a file.
    temporary = folder / f".{PRIVATE_KEY_FILE}.{os.getpid()}"
    temporary.write_bytes(pem)
    temporary.chmod(0o600)
    jwks = {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}
    jwks_temporary = folder / f".{JWKS_FILE}.{os.getpid()}"
    jwks_temporary.write_text(json.dumps(jwks, indent=2))
    temporary.replace(folder / PRIVATE_KEY_FILE)
    jwks_temporary.replace(folder / JWKS_FILE)


def issue_token(
    state_dir: Path,
    role: str,
    org_id: str | None = None,
    subject: str | None = None,
    ttl: int = DEFAULT_TTL_SECONDS,
) -> str:
    """A signed JWT for ``role`` (one of ROLES); org_admin and reporter need ``org_id``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role != "vendor_admin" and not org_id:
        raise ValueError(f"a {role} token needs an organization (--org)")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"local-{role}-{uuid.uuid4().hex[:8]}",
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
    }
    if org_id:
        claims["org_id"] = org_id
    return sign_token(state_dir, claims)


def local_kid(state_dir: Path) -> str:
    """The kid of the stack's signing key, as its JWKS publishes it."""
    ensure_keys(state_dir)
    kid: str = json.loads((auth_dir(state_dir) / JWKS_FILE).read_text())["keys"][0]["kid"]
    return kid


def sign_token(state_dir: Path, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """``claims`` as given, RS256-signed with the stack's key under its kid (``headers`` add to or
    replace the JWT header's fields): the tests' way to make tokens that differ in one claim."""
    kid = local_kid(state_dir)  # makes the key pair if there is none yet
    private_key = (auth_dir(state_dir) / PRIVATE_KEY_FILE).read_bytes()
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid, **(headers or {})})
