"""Token and key attacks (issue 14, item 6; SPEC §1), through the local API Gateway and the real
authorizer: every forged, stale, misdirected, incomplete or oversized credential is 401 in the
spec's error shape, and the same request with a valid credential is 200, so each refusal is the
attack's and not the route's.

Covered elsewhere, not repeated: a revoked key on ingest (``test_access.py::
test_a_revoked_key_is_refused_from_then_on``, extended here to the seat route), a token of one
organization on another's routes (403, ``test_access.py``'s ``*_elsewhere`` callers), and a role
the API does not know (403, ``test_access.py``).

Oversized headers: API Gateway (REST) caps the request line and headers at 10,240 bytes together
(not adjustable); AWS documents the limit, not the status it answers with. The local gateway does
not model it: Python's HTTP server passes header lines up to 64 KiB to the authorizer (longer: 431
in the error shape). So the service holds its own bound: a token over 8,192 characters, or an API
key over 256, is 401 before it is parsed, hashed or looked up, whatever stands in front."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.stack import LocalStack as Stack
from tests.support import login, new_org, vendor
from usage_local.tokens import AUDIENCE, ISSUER, JWKS_FILE, PRIVATE_KEY_FILE, auth_dir, local_kid, sign_token

VENDOR_ROUTE = "/v1/orgs"  # vendor_admin only
ORG_ROUTE = "/v1/orgs/{org}/plans"  # org_admin and reporter of {org}, and vendor_admin
UNAUTHORIZED = "unauthorized"


# ---------------------------------------------------------------- making tokens by hand
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _rs256_with(key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _hs256_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def _stack_key(stack: Stack) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((auth_dir(stack.state_dir) / PRIVATE_KEY_FILE).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _claims(role: str = "vendor_admin", org_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """Claims the stack accepts; a change to None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "mallory",
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    if org_id is not None:
        claims["org_id"] = org_id
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _get(stack: Stack, path: str, headers: dict[str, str]) -> requests.Response:
    """``path``, or ``"POST <path>"`` (with a batch of one event)."""
    method, _, path = path.rpartition(" ")
    body = {"events": [login("attack-probe", "u", "2026-11-01T00:00:00Z")]} if method == "POST" else None
    return requests.request(method or "GET", f"{stack.url}{path}", json=body, headers=headers, timeout=30)


def _assert_refused(answer: requests.Response) -> None:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == UNAUTHORIZED
    assert body["error"]["details"] == []


@pytest.fixture(scope="module")
def org(stack: Stack) -> str:
    return new_org("attack")


# ---------------------------------------------------------------- the attacks
# Each: (path, headers) for a request that must be 401. Built per call: times are relative to now.
Attack = Callable[[Stack, str], tuple[str, dict[str, str]]]


def _alg_none(alg: str) -> Attack:
    def attack(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
        header = {"alg": alg, "typ": "JWT", "kid": local_kid(stack.state_dir)}
        return VENDOR_ROUTE, _bearer(_compact(header, _claims(), lambda _: b""))

    return attack


def _public_jwk(stack: Stack) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads((auth_dir(stack.state_dir) / JWKS_FILE).read_text())["keys"][0]
    return jwk


def _hs256_with_public(secret_of: Callable[[Stack], bytes]) -> Attack:
    """The algorithm-confusion attack: the verifier's RSA public key used as an HMAC secret."""

    def attack(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
        header = {"alg": "HS256", "typ": "JWT", "kid": local_kid(stack.state_dir)}
        return VENDOR_ROUTE, _bearer(_compact(header, _claims(), _hs256_with(secret_of(stack))))

    return attack


def _public_pem(stack: Stack) -> bytes:
    return (
        _stack_key(stack)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _signed(**changes: Any) -> Attack:
    """A token signed with the stack's own key, one claim changed (an int: seconds from now)."""

    def attack(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
        now = int(time.time())
        resolved: dict[str, Any] = {k: now + v if isinstance(v, int) else v for k, v in changes.items()}
        return VENDOR_ROUTE, _bearer(sign_token(stack.state_dir, _claims(**resolved)))

    return attack


def _org_token_without_org(role: str) -> Attack:
    def attack(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
        return ORG_ROUTE.format(org=org), _bearer(sign_token(stack.state_dir, _claims(role=role)))

    return attack


def _tampered(**changes: str) -> Attack:
    """An org_admin token whose payload is rewritten after signing, the signature kept."""

    def attack(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
        header, _, signature = sign_token(stack.state_dir, _claims("org_admin", org)).split(".")
        payload = _segment({**_claims("org_admin", org), **changes})
        return ORG_ROUTE.format(org=changes.get("org_id", org)), _bearer(f"{header}.{payload}.{signature}")

    return attack


def _unknown_kid(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    return VENDOR_ROUTE, _bearer(sign_token(stack.state_dir, _claims(), headers={"kid": "no-such-key"}))


def _fresh_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _another_issuers_key(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    """Right kid, right claims, a key the JWKS does not publish."""
    header = {"alg": "RS256", "typ": "JWT", "kid": local_kid(stack.state_dir)}
    return VENDOR_ROUTE, _bearer(_compact(header, _claims(), _rs256_with(_fresh_key())))


def _key_url_in_the_header(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    """jku/x5u name where to fetch the key: the verifier must use only its configured JWKS."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "attacker", "jku": "http://127.0.0.1:9/jwks.json"}
    return VENDOR_ROUTE, _bearer(_compact(header, _claims(), _rs256_with(_fresh_key())))


def _oversized_signed_token(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    """A 20 KB token, validly signed: over the bound whoever signed it."""
    return VENDOR_ROUTE, _bearer(sign_token(stack.state_dir, _claims(padding="x" * 20_000)))


def _oversized_garbage_token(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    return VENDOR_ROUTE, _bearer("A" * 20_480)


def _oversized_api_key(stack: Stack, org: str) -> tuple[str, dict[str, str]]:
    return "POST /v1/events", {"x-api-key": "lu_" + "a" * 20_480}


ATTACKS: dict[str, Attack] = {
    "alg_none": _alg_none("none"),
    "alg_None": _alg_none("None"),
    "alg_NONE": _alg_none("NONE"),
    "hs256_keyed_with_the_public_pem": _hs256_with_public(_public_pem),
    "hs256_keyed_with_the_published_jwk": _hs256_with_public(lambda s: json.dumps(_public_jwk(s)).encode()),
    "hs256_keyed_with_the_jwks_file": _hs256_with_public(lambda s: (auth_dir(s.state_dir) / JWKS_FILE).read_bytes()),
    "hs256_keyed_with_the_modulus": _hs256_with_public(lambda s: base64.urlsafe_b64decode(_public_jwk(s)["n"] + "==")),
    "expired": _signed(iat=-3600, exp=-60),
    "not_yet_valid_nbf": _signed(nbf=600),
    "issued_in_the_future_iat": _signed(iat=600, exp=1200),
    "wrong_issuer": _signed(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
    "no_issuer": _signed(iss=None),
    "wrong_audience": _signed(aud="another-app-client"),
    "audience_list_without_ours": _signed(aud=["another-app-client", "a-third"]),
    "no_audience": _signed(aud=None),
    "no_expiry": _signed(exp=None),
    "no_subject": _signed(sub=None),
    "payload_tampered_role": _tampered(role="vendor_admin"),
    "payload_tampered_org": _tampered(org_id="someone-elses-org"),
    "unknown_kid": _unknown_kid,
    "another_issuers_key_with_our_kid": _another_issuers_key,
    "key_url_in_the_header": _key_url_in_the_header,
    "no_role": _signed(role=None),
    "empty_role": _signed(role=""),
    "org_admin_without_org_id": _org_token_without_org("org_admin"),
    "reporter_without_org_id": _org_token_without_org("reporter"),
    "oversized_signed_token": _oversized_signed_token,
    "oversized_garbage_token": _oversized_garbage_token,
    "oversized_api_key": _oversized_api_key,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_forged_stale_misdirected_incomplete_or_oversized_credential_is_401(
    stack: Stack, org: str, attack: str
) -> None:
    path, headers = ATTACKS[attack](stack, org)
    _assert_refused(_get(stack, path, headers))


# ---------------------------------------------------------------- the controls
def test_the_same_requests_with_valid_tokens_are_200(stack: Stack, org: str) -> None:
    """The hand-made encoding, the claims the attacks start from and both routes are accepted
    when nothing is wrong, so each 401 above is the attack's."""
    kid = local_kid(stack.state_dir)
    by_hand = _compact({"alg": "RS256", "typ": "JWT", "kid": kid}, _claims(), _rs256_with(_stack_key(stack)))
    assert _get(stack, VENDOR_ROUTE, _bearer(by_hand)).status_code == 200
    assert _get(stack, VENDOR_ROUTE, _bearer(sign_token(stack.state_dir, _claims()))).status_code == 200
    org_token = sign_token(stack.state_dir, _claims("org_admin", org))
    assert _get(stack, ORG_ROUTE.format(org=org), _bearer(org_token)).status_code == 200
    reporter = sign_token(stack.state_dir, _claims("reporter", org, **{"custom:org_id": org}))
    assert _get(stack, ORG_ROUTE.format(org=org), _bearer(reporter)).status_code == 200
    key = requests.post(f"{stack.url}/v1/orgs/{org}/api-keys", headers=vendor(stack), timeout=30).json()["api_key"]
    assert _get(stack, "POST /v1/events", {"x-api-key": key}).status_code == 200


def test_a_token_just_under_the_size_bound_is_accepted(stack: Stack) -> None:
    from license_usage.authentication import MAX_TOKEN_CHARS

    base = len(sign_token(stack.state_dir, _claims(padding="")))
    # base64url: 3 bytes of claims per 4 characters; a little under the bound.
    token = sign_token(stack.state_dir, _claims(padding="x" * ((MAX_TOKEN_CHARS - base) * 3 // 4 - 8)))
    assert MAX_TOKEN_CHARS - 16 < len(token) <= MAX_TOKEN_CHARS
    assert _get(stack, VENDOR_ROUTE, _bearer(token)).status_code == 200


def test_a_revoked_key_is_refused_on_the_seat_route_too(stack: Stack) -> None:
    """test_access.py checks ingest; the other route an API key may call refuses it as well."""
    org_id = new_org("revoked-seat")
    created = requests.post(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30).json()
    seat = f"{stack.url}/v1/orgs/{org_id}/seats/u1?product=learn"
    before = requests.put(seat, headers={"x-api-key": created["api_key"]}, timeout=30)
    assert before.status_code == 404, before.text  # admitted: no seats plan to claim on
    revoked = requests.delete(
        f"{stack.url}/v1/orgs/{org_id}/api-keys/{created['key_id']}", headers=vendor(stack), timeout=30
    )
    assert revoked.status_code == 204
    _assert_refused(requests.put(seat, headers={"x-api-key": created["api_key"]}, timeout=30))
