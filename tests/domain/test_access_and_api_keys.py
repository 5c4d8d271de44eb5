"""SPEC §1/§5 roles and tenancy, SPEC §5 API keys (shown once, stored hashed)."""

from __future__ import annotations

import hashlib
import re

import pytest

from license_usage.domain.access import (
    INGEST,
    ORG_ADMINS,
    READERS,
    SEAT_CLAIMERS,
    VENDOR,
    Principal,
    Role,
    require,
)
from license_usage.domain.api_keys import KEY_PREFIX, hash_api_key, new_api_key
from license_usage.domain.errors import Forbidden, Unauthenticated

# ---------------------------------------------------------------------------------------------
# Access: roles per route kind, and one organization never sees another's data.
# ---------------------------------------------------------------------------------------------

SETS = {
    "INGEST": INGEST,
    "VENDOR": VENDOR,
    "ORG_ADMINS": ORG_ADMINS,
    "READERS": READERS,
    "SEAT_CLAIMERS": SEAT_CLAIMERS,
}
ALLOWED = {
    # SPEC §5: POST /v1/events is for API keys only.
    "INGEST": {Role.INGEST_KEY},
    # SPEC §5: plans, api keys, overdrafts are vendor_admin's.
    "VENDOR": {Role.VENDOR_ADMIN},
    # org_admin routes; vendor_admin "sees every organization" (SPEC §1).
    "ORG_ADMINS": {Role.ORG_ADMIN, Role.VENDOR_ADMIN},
    "READERS": {Role.ORG_ADMIN, Role.REPORTER, Role.VENDOR_ADMIN},
    # SPEC §5: seat claims by API key or org_admin.
    "SEAT_CLAIMERS": {Role.INGEST_KEY, Role.ORG_ADMIN, Role.VENDOR_ADMIN},
}


def principal(role: Role, org_id: str | None = "org-1") -> Principal:
    return Principal(role=role, org_id=None if role is Role.VENDOR_ADMIN else org_id, subject=f"{role.value}-sub")


MATRIX = [
    pytest.param(role, set_name, role in ALLOWED[set_name], id=f"{role.value}-{set_name}")
    for set_name in ALLOWED
    for role in Role
]


@pytest.mark.parametrize(("role", "set_name", "allowed"), MATRIX)
def test_require_admits_each_role_only_to_its_route_kinds(role: Role, set_name: str, allowed: bool) -> None:
    if allowed:
        require(principal(role), SETS[set_name], "org-1")  # no Forbidden
    else:
        with pytest.raises(Forbidden, match=f"role {role.value} may not") as caught:
            require(principal(role), SETS[set_name], "org-1")
        assert caught.value.code == "forbidden"


@pytest.mark.parametrize(
    ("role", "set_name"),
    [
        pytest.param(role, set_name, id=f"{role.value}-{set_name}")
        for set_name in ALLOWED
        for role in sorted(ALLOWED[set_name] - {Role.VENDOR_ADMIN})
    ],
)
def test_require_refuses_another_organizations_data(role: Role, set_name: str) -> None:
    with pytest.raises(Forbidden, match="another organization"):
        require(principal(role, "org-1"), SETS[set_name], "org-2")


@pytest.mark.parametrize(
    ("role", "set_name"),
    [
        pytest.param(role, set_name, id=f"{role.value}-{set_name}-no-org")
        for set_name in ("INGEST", "ORG_ADMINS", "READERS", "SEAT_CLAIMERS")
        for role in sorted(ALLOWED[set_name] - {Role.VENDOR_ADMIN})
    ],
)
def test_require_refuses_a_caller_without_organization_on_an_org_route(role: Role, set_name: str) -> None:
    with pytest.raises(Forbidden, match="another organization"):
        require(principal(role, None), SETS[set_name], "org-1")


@pytest.mark.parametrize(
    ("set_name", "org_id"),
    [
        pytest.param(set_name, org_id, id=f"{set_name}-{org_id}")
        for set_name in ("VENDOR", "ORG_ADMINS", "READERS", "SEAT_CLAIMERS")
        for org_id in ("org-1", "org-2", "acme")
    ],
)
def test_vendor_admin_is_allowed_on_any_organization(set_name: str, org_id: str) -> None:
    require(Principal(Role.VENDOR_ADMIN, None, "ops"), SETS[set_name], org_id)  # no Forbidden
    require(Principal(Role.VENDOR_ADMIN, "org-9", "ops"), SETS[set_name], org_id)  # no Forbidden


@pytest.mark.parametrize(
    ("role", "set_name", "allowed"),
    [
        pytest.param(Role.VENDOR_ADMIN, "VENDOR", True, id="vendor-on-overdrafts"),
        pytest.param(Role.ORG_ADMIN, "VENDOR", False, id="org-admin-on-overdrafts"),
        pytest.param(Role.REPORTER, "READERS", True, id="reporter-reader-route-without-org"),
    ],
)
def test_require_without_organization_checks_the_role_only(role: Role, set_name: str, allowed: bool) -> None:
    if allowed:
        require(principal(role), SETS[set_name])  # no Forbidden
    else:
        with pytest.raises(Forbidden):
            require(principal(role), SETS[set_name])


@pytest.mark.parametrize(
    ("caller", "context"),
    [
        pytest.param(
            Principal(Role.VENDOR_ADMIN, None, "ops-1"),
            {"role": "vendor_admin", "org_id": "", "subject": "ops-1"},
            id="vendor-admin-no-org",
        ),
        pytest.param(
            Principal(Role.ORG_ADMIN, "org-1", "alice"),
            {"role": "org_admin", "org_id": "org-1", "subject": "alice"},
            id="org-admin",
        ),
        pytest.param(
            Principal(Role.REPORTER, "org-2", "bob"),
            {"role": "reporter", "org_id": "org-2", "subject": "bob"},
            id="reporter",
        ),
        pytest.param(
            Principal(Role.INGEST_KEY, "org-3", "key_0123abcd"),
            {"role": "ingest_key", "org_id": "org-3", "subject": "key_0123abcd"},
            id="ingest-key",
        ),
    ],
)
def test_principal_round_trips_through_authorizer_context(caller: Principal, context: dict[str, str]) -> None:
    assert caller.as_authorizer_context() == context
    assert all(isinstance(value, str) for value in context.values())
    assert Principal.from_authorizer_context(context) == caller


@pytest.mark.parametrize(
    "context",
    [
        pytest.param({"role": "admin", "org_id": "org-1", "subject": "x"}, id="unknown-role"),
        pytest.param({"role": "VENDOR_ADMIN", "org_id": "", "subject": "x"}, id="wrong-case"),
        pytest.param({"role": "", "org_id": "org-1", "subject": "x"}, id="empty-role"),
        pytest.param({"org_id": "org-1", "subject": "x"}, id="no-role"),
        pytest.param({}, id="empty-context"),
    ],
)
def test_unknown_role_in_authorizer_context_is_unauthenticated(context: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated) as caught:
        Principal.from_authorizer_context(context)
    assert caught.value.code == "unauthorized"


def test_authorizer_context_without_org_id_means_no_organization() -> None:
    assert Principal.from_authorizer_context({"role": "vendor_admin", "subject": "ops"}) == Principal(
        Role.VENDOR_ADMIN, None, "ops"
    )


# ---------------------------------------------------------------------------------------------
# API keys: the secret is shown once; only its SHA-256 hash is kept.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "digest"),
    [
        pytest.param("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", id="nist-abc"),
        pytest.param("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", id="empty"),
        pytest.param("lu_example", hashlib.sha256(b"lu_example").hexdigest(), id="prefixed"),
    ],
)
def test_api_key_hash_is_sha256_hex(secret: str, digest: str) -> None:
    assert hash_api_key(secret) == digest
    assert hash_api_key(secret) == hash_api_key(secret)


def test_api_key_hash_differs_per_secret() -> None:
    assert hash_api_key("lu_a") != hash_api_key("lu_b")


def test_new_api_keys_are_unique_prefixed_and_hashed() -> None:
    keys = [new_api_key() for _ in range(200)]
    assert KEY_PREFIX == "lu_"
    assert len({k.secret for k in keys}) == 200
    assert len({k.key_id for k in keys}) == 200
    for k in keys:
        assert k.secret.startswith("lu_")
        assert len(k.secret) >= len("lu_") + 43  # 32 random bytes, base64url
        assert re.fullmatch(r"[0-9a-f]{64}", k.key_hash)
        assert k.key_hash == hashlib.sha256(k.secret.encode()).hexdigest()
        assert k.secret not in k.key_hash
        assert k.key_id not in k.secret
