"""Who may call what (SPEC §1, §5): every role and tenancy decision is made here and only here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from license_usage.domain.errors import Forbidden, Unauthenticated
from license_usage.domain.identifiers import is_org_id


class Role(StrEnum):
    VENDOR_ADMIN = "vendor_admin"
    ORG_ADMIN = "org_admin"
    REPORTER = "reporter"
    # A product backend calling with an organization's API key.
    INGEST_KEY = "ingest_key"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the authorizer described it."""

    role: Role
    org_id: str | None  # None only for vendor_admin, who sees every organization
    subject: str  # JWT subject, or the API key's key_id

    def as_authorizer_context(self) -> dict[str, str]:
        """API Gateway passes only flat string values from an authorizer to the function."""
        return {"role": self.role.value, "org_id": self.org_id or "", "subject": self.subject}

    @classmethod
    def from_authorizer_context(cls, context: Mapping[str, object]) -> Principal:
        try:
            role = Role(str(context.get("role", "")))
        except ValueError:
            raise Unauthenticated("The request carries no recognised caller.") from None
        org_id = str(context.get("org_id") or "") or None
        if org_id is not None and role is not Role.VENDOR_ADMIN and not is_org_id(org_id):
            # The authorizer refuses such a caller; no function counts it against a rate limit
            # or builds a key from it either (issue 20: a 5,000-character org_id).
            raise Unauthenticated("The request carries no recognised caller.")
        return cls(role=role, org_id=org_id, subject=str(context.get("subject", "")))


# Which roles each kind of route admits (SPEC §5's "who" column). vendor_admin "sees every
# organization", so it may read everything an org_admin may; it does not act as a product backend.
INGEST = frozenset({Role.INGEST_KEY})
VENDOR = frozenset({Role.VENDOR_ADMIN})
ORG_ADMINS = frozenset({Role.ORG_ADMIN, Role.VENDOR_ADMIN})
READERS = frozenset({Role.ORG_ADMIN, Role.REPORTER, Role.VENDOR_ADMIN})
SEAT_CLAIMERS = frozenset({Role.INGEST_KEY, Role.ORG_ADMIN, Role.VENDOR_ADMIN})


def require(principal: Principal, allowed: frozenset[Role], org_id: str | None = None) -> None:
    """Raise ``Forbidden`` unless ``principal`` has an allowed role and, for an organization's
    route, belongs to that organization (vendor_admin belongs to all)."""
    if principal.role not in allowed:
        raise Forbidden(f"The role {principal.role.value} may not call this route.")
    if org_id is not None and principal.role is not Role.VENDOR_ADMIN and principal.org_id != org_id:
        raise Forbidden("These credentials belong to another organization.")


def readers_of_report(report: str) -> frozenset[Role]:
    """Who may export a report, and read its export: those who may read it through the API (the
    audit trail is the organization admins')."""
    return ORG_ADMINS if report == "audit" else READERS
