"""Who may call what (SPEC §1, §5), through the local API Gateway and the real authorizer:
401 for missing or bad credentials, 403 for a valid caller with the wrong role or organization."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.stack import LocalStack as Stack
from tests.support import ROOT, bearer, create_key, create_plan, login, new_org, vendor

ORG_ROUTES: list[tuple[str, str, frozenset[str]]] = [
    ("POST", "/v1/orgs/{org}/api-keys", frozenset({"vendor_admin"})),
    ("GET", "/v1/orgs/{org}/api-keys", frozenset({"vendor_admin"})),
    ("DELETE", "/v1/orgs/{org}/api-keys/key_0000000000000000", frozenset({"vendor_admin"})),
    ("POST", "/v1/orgs/{org}/plans", frozenset({"vendor_admin"})),
    ("GET", "/v1/orgs/{org}/plans", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("POST", "/v1/orgs/{org}/plans/{plan}/renewal", frozenset({"vendor_admin"})),
    ("GET", "/v1/orgs/{org}/plans/{plan}/usage", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/plans/{plan}/users", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("PUT", "/v1/orgs/{org}/seats/someone", frozenset({"vendor_admin", "org_admin", "ingest_key"})),
    ("DELETE", "/v1/orgs/{org}/seats/someone", frozenset({"vendor_admin", "org_admin"})),
    ("GET", "/v1/orgs/{org}/audit", frozenset({"vendor_admin", "org_admin"})),
    ("GET", "/v1/orgs/{org}/reports/license-ai-usage", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/plans/{plan}/seat-history", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/plans/{plan}/activity", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/insights", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/notifications", frozenset({"vendor_admin", "org_admin"})),
    ("GET", "/v1/orgs/{org}/notification-subscriptions", frozenset({"vendor_admin", "org_admin"})),
    ("POST", "/v1/orgs/{org}/notification-subscriptions", frozenset({"vendor_admin", "org_admin"})),
    (
        "DELETE",
        "/v1/orgs/{org}/notification-subscriptions/sub_0000000000000000",
        frozenset({"vendor_admin", "org_admin"}),
    ),
    ("POST", "/v1/orgs/{org}/exports", frozenset({"vendor_admin", "org_admin", "reporter"})),
    ("GET", "/v1/orgs/{org}/exports", frozenset({"vendor_admin", "org_admin", "reporter"})),
    (
        "GET",
        "/v1/orgs/{org}/exports/exp_20260101000000000000000000000000",
        frozenset({"vendor_admin", "org_admin", "reporter"}),
    ),
    ("POST", "/v1/orgs/{org}/report-schedules", frozenset({"vendor_admin", "org_admin"})),
    ("GET", "/v1/orgs/{org}/report-schedules", frozenset({"vendor_admin", "org_admin", "reporter"})),
    (
        "DELETE",
        "/v1/orgs/{org}/report-schedules/sch_20260101000000000000000000000000",
        frozenset({"vendor_admin", "org_admin"}),
    ),
]
GLOBAL_ROUTES: list[tuple[str, str, frozenset[str]]] = [
    ("POST", "/v1/events", frozenset({"ingest_key"})),
    ("GET", "/v1/overdrafts", frozenset({"vendor_admin"})),
    ("GET", "/v1/insights", frozenset({"vendor_admin"})),
    ("GET", "/v1/orgs", frozenset({"vendor_admin"})),
]
CALLERS = [
    "vendor_admin",
    "org_admin",
    "reporter",
    "ingest_key",
    "org_admin_elsewhere",
    "reporter_elsewhere",
    "ingest_key_elsewhere",
]


def _same_route(template_path: str, probed_path: str) -> bool:
    template_parts, probed_parts = template_path.split("/"), probed_path.split("/")
    return len(template_parts) == len(probed_parts) and all(
        t == p or t.startswith("{") for t, p in zip(template_parts, probed_parts, strict=True)
    )


def test_the_matrix_probes_every_route_that_needs_credentials() -> None:
    from usage_local.template import Template

    probed = [(method, path) for method, path, _ in ORG_ROUTES + GLOBAL_ROUTES]
    unprobed = [
        f"{route.method} {route.path}"
        for route in Template.load(ROOT / "template.yaml").routes()
        if route.authorizer != "NONE"
        and not any(method == route.method and _same_route(route.path, path) for method, path in probed)
    ]
    assert unprobed == []


@pytest.fixture(scope="module")
def world(stack: Stack) -> dict[str, Any]:
    org_id, elsewhere = new_org("acl"), new_org("acl-other")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start="2026-01-01T00:00:00Z")
    return {
        "org": org_id,
        "plan": plan["plan_id"],
        "headers": {
            "vendor_admin": vendor(stack),
            "org_admin": bearer(stack, "org_admin", org_id),
            "reporter": bearer(stack, "reporter", org_id),
            "ingest_key": {"x-api-key": create_key(stack, org_id)},
            "org_admin_elsewhere": bearer(stack, "org_admin", elsewhere),
            "reporter_elsewhere": bearer(stack, "reporter", elsewhere),
            "ingest_key_elsewhere": {"x-api-key": create_key(stack, elsewhere)},
        },
    }


def _body(method: str, path: str) -> dict[str, Any] | None:
    if path.endswith("/plans") and method == "POST":
        return {"type": "mau", "product": "acl-probe", "amount": 1, "start": "2030-01-01T00:00:00Z"}
    if path.endswith("/notification-subscriptions") and method == "POST":
        return {"email": "acl-probe@example.com"}
    if path.endswith("/exports") and method == "POST":
        return {"report": "license_ai_usage"}
    if path.endswith("/report-schedules") and method == "POST":
        return {"report": "audit", "cadence": "weekly"}
    if path == "/v1/events":
        return {"events": [login("acl-probe", "u", "2026-11-01T00:00:00Z")]}
    return None


def _call(stack: Stack, method: str, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.request(method, f"{stack.url}{path}", json=_body(method, path), headers=headers, timeout=30)


def _role(caller: str) -> str:
    return caller.removesuffix("_elsewhere")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "allowed"), ORG_ROUTES, ids=[f"{m} {p}" for m, p, _ in ORG_ROUTES])
def test_organization_routes_admit_only_their_roles_and_their_organization(
    stack: Stack, world: dict[str, Any], caller: str, method: str, path: str, allowed: frozenset[str]
) -> None:
    answer = _call(stack, method, path.format(org=world["org"], plan=world["plan"]), world["headers"][caller])
    own_org = not caller.endswith("_elsewhere")
    if _role(caller) in allowed and (own_org or caller == "vendor_admin"):
        assert answer.status_code not in (401, 403), answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "allowed"), GLOBAL_ROUTES, ids=[f"{m} {p}" for m, p, _ in GLOBAL_ROUTES])
def test_global_routes_admit_only_their_roles(
    stack: Stack, world: dict[str, Any], caller: str, method: str, path: str, allowed: frozenset[str]
) -> None:
    answer = _call(stack, method, path, world["headers"][caller])
    if _role(caller) in allowed:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 403, answer.text


def _foreign_token(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": "not-ours"})


def _bad_credentials(stack: Stack) -> dict[str, dict[str, str]]:
    from usage_local.tokens import issue_token

    now = int(time.time())
    claims = {
        "sub": "mallory",
        "role": "vendor_admin",
        "iss": "usage-local",
        "aud": "usage-local",
        "iat": now,
        "exp": now + 600,
    }
    return {
        "nothing": {},
        "unknown_key": {"x-api-key": "lu_not-a-real-key"},
        "empty_bearer": {"Authorization": "Bearer "},
        "basic_auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage_token": {"Authorization": "Bearer not.a.jwt"},
        "foreign_signature": {"Authorization": f"Bearer {_foreign_token(claims)}"},
        "expired": {"Authorization": f"Bearer {issue_token(stack.state_dir, 'vendor_admin', ttl=-60)}"},
    }


@pytest.mark.parametrize(
    "credentials",
    ["nothing", "unknown_key", "empty_bearer", "basic_auth", "garbage_token", "foreign_signature", "expired"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p, _ in ORG_ROUTES[:2] + GLOBAL_ROUTES],
    ids=[f"{m} {p}" for m, p, _ in ORG_ROUTES[:2] + GLOBAL_ROUTES],
)
def test_missing_or_bad_credentials_are_401(
    stack: Stack, world: dict[str, Any], credentials: str, method: str, path: str
) -> None:
    answer = _call(
        stack, method, path.format(org=world["org"], plan=world["plan"]), _bad_credentials(stack)[credentials]
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"


def test_health_needs_no_credentials(stack: Stack) -> None:
    answer = requests.get(f"{stack.url}/v1/health", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_a_token_with_a_role_the_api_does_not_know_is_403(stack: Stack) -> None:
    from usage_local.tokens import JWKS_FILE, PRIVATE_KEY_FILE, auth_dir

    folder = auth_dir(stack.state_dir)
    kid = json.loads((folder / JWKS_FILE).read_text())["keys"][0]["kid"]
    now = int(time.time())
    claims = {
        "sub": "s",
        "role": "superuser",
        "org_id": "x",
        "iss": "usage-local",
        "aud": "usage-local",
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, (folder / PRIVATE_KEY_FILE).read_bytes(), algorithm="RS256", headers={"kid": kid})
    answer = requests.get(f"{stack.url}/v1/overdrafts", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 403


def test_a_revoked_key_is_refused_from_then_on(stack: Stack) -> None:
    org_id = new_org("revoke")
    created = requests.post(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30).json()
    headers = {"x-api-key": created["api_key"]}
    assert (
        requests.post(
            f"{stack.url}/v1/events",
            json={"events": [login("r1", "u", "2026-11-01T00:00:00Z")]},
            headers=headers,
            timeout=30,
        ).status_code
        == 200
    )
    revoked = requests.delete(
        f"{stack.url}/v1/orgs/{org_id}/api-keys/{created['key_id']}", headers=vendor(stack), timeout=30
    )
    assert revoked.status_code == 204
    again = requests.post(
        f"{stack.url}/v1/events",
        json={"events": [login("r2", "u", "2026-11-01T00:00:00Z")]},
        headers=headers,
        timeout=30,
    )
    assert again.status_code == 401
    listed = requests.get(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30).json()
    assert listed["items"][0]["revoked_at"] is not None
    assert listed["items"][0]["last_used_at"] is not None


def test_key_listing_never_shows_the_secret_and_the_store_keeps_only_a_hash(stack: Stack) -> None:
    org_id = new_org("secret")
    created = requests.post(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30).json()
    listing = requests.get(f"{stack.url}/v1/orgs/{org_id}/api-keys", headers=vendor(stack), timeout=30)
    assert created["api_key"] not in listing.text
    assert set(listing.json()["items"][0]) == {"key_id", "created_at", "last_used_at", "revoked_at"}
    scan = stack.client("dynamodb").scan(TableName=stack.env["LICENSING_TABLE"])
    assert created["api_key"] not in str(scan["Items"])
