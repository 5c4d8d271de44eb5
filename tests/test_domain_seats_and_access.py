"""SPEC §2 seats (take at login, free on deactivation/deletion, late events settle as if on time),
SPEC §1/§5 roles and tenancy, SPEC §5 API keys (shown once, stored hashed)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

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
from license_usage.domain.plans import Plan, PlanType
from license_usage.domain.seats import (
    RELEASING_EVENT_TYPES,
    SeatState,
    event_frees_seat,
    login_takes_seat,
    months_holding_seat,
)
from license_usage.domain.timestamps import format_utc

# ---------------------------------------------------------------------------------------------
# Seats
# ---------------------------------------------------------------------------------------------

PLAN = Plan(
    plan_id="p-1",
    org_id="org-1",
    type=PlanType.SEATS,
    product="learn",
    amount=10,
    start=datetime(2025, 3, 15, tzinfo=UTC),
    end=datetime(2026, 3, 15, tzinfo=UTC),
)


def at(day: int, hour: int = 9) -> str:
    """A UTC instant in May 2025, as stored."""
    return format_utc(datetime(2025, 5, day, hour, tzinfo=UTC))


def key(day: int, event_id: str = "e", hour: int = 9) -> str:
    """An event order key: instant, then id."""
    return f"{at(day, hour)}#{event_id}"


NEVER_HELD = SeatState()
HELD_SINCE_1 = SeatState().claimed(key(1), at(1))
HELD_SINCE_5 = SeatState().claimed(key(5), at(5))
RELEASED_ON_3 = SeatState().claimed(key(1), at(1)).released(key(3), at(3))


def test_releasing_events_are_deactivation_and_deletion() -> None:
    assert frozenset({"user.deactivated", "user.deleted"}) == RELEASING_EVENT_TYPES


@pytest.mark.parametrize(
    ("state", "login", "takes"),
    [
        pytest.param(NEVER_HELD, key(1), True, id="first-login-takes-seat"),
        pytest.param(HELD_SINCE_1, key(2), False, id="seat-already-held"),
        pytest.param(HELD_SINCE_1, key(1, hour=8), False, id="late-login-while-held"),
        pytest.param(RELEASED_ON_3, key(5), True, id="later-login-takes-seat-again"),
        pytest.param(RELEASED_ON_3, key(2), False, id="late-login-older-than-release-does-not-retake"),
        pytest.param(RELEASED_ON_3, key(3, "a"), False, id="same-instant-smaller-id-is-older"),
        pytest.param(RELEASED_ON_3, key(3, "f"), True, id="same-instant-larger-id-is-newer"),
        pytest.param(RELEASED_ON_3, key(3), False, id="the-release-event-itself"),
    ],
)
def test_login_takes_seat(state: SeatState, login: str, takes: bool) -> None:
    assert login_takes_seat(state, login) is takes


@pytest.mark.parametrize(
    ("state", "release", "frees"),
    [
        pytest.param(HELD_SINCE_1, key(3), True, id="deactivation-after-login-frees"),
        pytest.param(HELD_SINCE_5, key(3), False, id="late-deactivation-older-than-latest-login"),
        pytest.param(HELD_SINCE_5, key(5, "a"), False, id="same-instant-smaller-id-is-older"),
        pytest.param(HELD_SINCE_5, key(5, "f"), True, id="same-instant-larger-id-is-newer"),
        pytest.param(NEVER_HELD, key(3), False, id="no-seat-to-free"),
        pytest.param(RELEASED_ON_3, key(4), False, id="already-released"),
    ],
)
def test_event_frees_seat(state: SeatState, release: str, frees: bool) -> None:
    assert event_frees_seat(state, release) is frees


def test_seat_state_records_claimed_and_released_periods() -> None:
    claimed = SeatState().claimed(key(1), at(1))
    assert claimed == SeatState(held=True, changed_by=key(1), periods=((at(1), None),))
    released = claimed.released(key(3), at(3))
    assert released == SeatState(held=False, changed_by=key(3), periods=((at(1), at(3)),))
    again = released.claimed(key(7), at(7))
    assert again == SeatState(held=True, changed_by=key(7), periods=((at(1), at(3)), (at(7), None)))
    assert claimed.periods == ((at(1), None),)  # states are values: earlier ones do not change


def test_release_without_any_period_records_none() -> None:
    assert SeatState().released(key(2), at(2)) == SeatState(held=False, changed_by=key(2), periods=())


@dataclass(frozen=True)
class SeatEvent:
    kind: str  # "login" or "release"
    day: int

    @property
    def order_key(self) -> str:
        return key(self.day, self.kind)


def replay(arrivals: list[SeatEvent]) -> SeatState:
    """Apply events one by one in arrival order, the way ingest applies each batch."""
    state = SeatState()
    for event in arrivals:
        if event.kind == "login":
            state = state.after_login(event.order_key, at(event.day))
        else:
            state = state.after_release(event.order_key, at(event.day))
    return state


LOGIN_1, LOGIN_2, LOGIN_3, LOGIN_5 = (SeatEvent("login", d) for d in (1, 2, 3, 5))
RELEASE_1, RELEASE_3 = (SeatEvent("release", d) for d in (1, 3))


@pytest.mark.parametrize(
    ("arrivals", "held"),
    [
        pytest.param([LOGIN_1, RELEASE_3, LOGIN_5], True, id="in-order-login-release-login"),
        pytest.param([LOGIN_1, RELEASE_3], False, id="in-order-login-release"),
        pytest.param([LOGIN_1, RELEASE_3, LOGIN_2], False, id="late-login-older-than-release"),
        pytest.param([LOGIN_3, RELEASE_1], True, id="late-release-older-than-first-login"),
        pytest.param([LOGIN_1, LOGIN_5, LOGIN_2], True, id="late-login-while-held"),
        pytest.param([LOGIN_1, LOGIN_5, RELEASE_3], True, id="late-release-between-two-logins"),
        pytest.param([RELEASE_3, LOGIN_1], False, id="login-arriving-after-a-newer-release"),
    ],
)
def test_late_events_settle_the_seat_as_if_they_had_arrived_in_order(arrivals: list[SeatEvent], held: bool) -> None:
    in_order = replay(sorted(arrivals, key=lambda e: e.order_key))
    assert in_order.held is held
    assert replay(arrivals).held is held


@pytest.mark.parametrize(
    ("periods", "months"),
    [
        pytest.param((), set(), id="never-held"),
        pytest.param(
            (("2025-04-10T08:00:00.000000Z", "2025-04-20T08:00:00.000000Z"),), {"2025-04"}, id="within-one-month"
        ),
        pytest.param(
            (("2025-04-20T10:00:00.000000Z", "2025-06-03T09:00:00.000000Z"),),
            {"2025-04", "2025-05", "2025-06"},
            id="across-three-months",
        ),
        pytest.param(
            (("2025-04-20T10:00:00.000000Z", "2025-06-01T00:00:00.000000Z"),),
            {"2025-04", "2025-05"},
            id="released-at-month-start-end-exclusive",
        ),
        pytest.param(
            (("2025-05-31T23:59:59.999999Z", "2025-06-01T00:00:00.000000Z"),), {"2025-05"}, id="last-microsecond"
        ),
        pytest.param(
            (("2025-03-20T00:00:00.000000Z", "2025-03-25T00:00:00.000000Z"), ("2025-08-01T00:00:00.000000Z", None)),
            {"2025-03", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"},
            id="two-periods-second-open-to-plan-end",
        ),
        pytest.param(
            (("2026-01-10T12:00:00.000000Z", None),),
            {"2026-01", "2026-02", "2026-03"},
            id="open-period-until-plan-end",
        ),
        pytest.param(
            (("2025-04-30T23:30:00-08:00", "2025-05-02T00:00:00Z"),), {"2025-05"}, id="offset-start-is-may-in-utc"
        ),
    ],
)
def test_months_holding_seat_for_periods_across_months(
    periods: tuple[tuple[str, str | None], ...], months: set[str]
) -> None:
    assert months_holding_seat(PLAN, periods) == months


def test_months_holding_seat_from_a_claim_and_release() -> None:
    state = (
        SeatState()
        .claimed("k1", format_utc(datetime(2025, 3, 15, tzinfo=UTC)))
        .released("k2", format_utc(datetime(2025, 4, 2, tzinfo=UTC)))
        .claimed("k3", format_utc(datetime(2025, 12, 31, 23, 0, tzinfo=UTC)))
    )
    assert months_holding_seat(PLAN, state.periods) == {
        "2025-03",
        "2025-04",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
    }


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
