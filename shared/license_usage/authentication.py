"""Who is calling (SPEC §1): an organization's API key, or a bearer JWT (RS256, checked against
the JWKS of the Cognito user pool; locally, of the key pair the local stack generated)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from functools import cache

import jwt

from license_usage.domain.access import Principal, Role
from license_usage.domain.api_keys import hash_api_key
from license_usage.domain.errors import Forbidden, Unauthenticated
from license_usage.domain.identifiers import ORG_ID_RULE, is_org_id
from license_usage.store.api_keys import authenticate_api_key
from license_usage.store.settings import jwt_audience

TOKEN_ROLES = frozenset({Role.VENDOR_ADMIN, Role.ORG_ADMIN, Role.REPORTER})
# Longer credentials are refused before any parsing, hashing or read. API Gateway (REST) caps the
# request line and headers at 10,240 bytes together; a Cognito ID token is 1-4 KB, an API key 46
# characters. The service holds to these bounds itself, whatever stands in front of it.
MAX_TOKEN_CHARS = 8192
MAX_API_KEY_CHARS = 256


@cache
def _jwks_client() -> jwt.PyJWKClient:
    # Keys are cached across warm invocations; an unknown kid makes PyJWT fetch the set again.
    return jwt.PyJWKClient(os.environ["JWKS_URL"], cache_keys=True, lifespan=3600)


def _claim(claims: Mapping[str, object], name: str) -> str | None:
    """Cognito ID tokens carry custom attributes as ``custom:<name>``."""
    value = claims.get(name, claims.get(f"custom:{name}"))
    return str(value) if value else None


def principal_from_token(token: str) -> Principal:
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated(f"The bearer token is longer than {MAX_TOKEN_CHARS} characters.")
    try:
        signing_key = _jwks_client().get_signing_key_from_jwt(token)
        audience = jwt_audience()
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            issuer=os.environ["JWT_ISSUER"],
            audience=audience,
            options={"require": ["exp", "iat", "sub"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"The bearer token is not valid: {error}.") from None
    for name in ("exp", "iat", "nbf"):
        # RFC 7519: NumericDate is a JSON number (PyJWT also takes a numeric string).
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], int | float)):
            raise Unauthenticated(f"The bearer token is not valid: {name} must be a number.")
    # A token that names no role, or an organization's role without the organization, does not
    # say who the caller is: 401. A role it names that this API does not grant is a valid caller
    # refused: 403 (SPEC §1).
    named_role = _claim(claims, "role")
    if named_role is None:
        raise Unauthenticated("The bearer token names no role.")
    try:
        role = Role(named_role)
    except ValueError:
        raise Forbidden("The token carries no role this API knows.") from None
    if role not in TOKEN_ROLES:
        raise Forbidden("The token's role is not allowed here.")
    org_id = _claim(claims, "org_id")
    if role is not Role.VENDOR_ADMIN and org_id is None:
        raise Unauthenticated(f"The bearer token's role {role.value} needs an organization (org_id) and names none.")
    if role is not Role.VENDOR_ADMIN and org_id is not None and not is_org_id(org_id):
        # The one rule of an organization id (domain/identifiers.py), as in every path.
        raise Unauthenticated(f"The bearer token's org_id is not an organization id: it {ORG_ID_RULE}.")
    vendor_wide = role is Role.VENDOR_ADMIN
    return Principal(role=role, org_id=None if vendor_wide else org_id, subject=str(claims["sub"]))


def principal_from_api_key(secret: str, now: datetime) -> Principal:
    if len(secret) > MAX_API_KEY_CHARS:
        raise Unauthenticated("The API key is unknown or revoked.")
    owner = authenticate_api_key(hash_api_key(secret), now)
    if owner is None:
        raise Unauthenticated("The API key is unknown or revoked.")
    return Principal(role=Role.INGEST_KEY, org_id=owner.org_id, subject=owner.key_id)


def authenticate(headers: Mapping[str, str], now: datetime) -> Principal:
    """The caller named by the request's headers (names compared without case)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    api_key = lowered.get("x-api-key", "").strip()
    if api_key:
        return principal_from_api_key(api_key, now)
    scheme, _, token = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return principal_from_token(token.strip())
    raise Unauthenticated("Send x-api-key or Authorization: Bearer <JWT>.")
