"""``usage-local demo``: realistic demo data, loaded into the running stack through its public
API (API keys, plans, ``POST /v1/events``) and the rollups, with a progress bar.

Three organizations: ``acme`` (the one to open: a past seats plan renewed into a hard-limited one
with overdraft, a mid-month mau plan, a mauc plan whose credits run out before its end; a year of
logins, lifecycle events, AI actions and feature use in four groups, one of which takes no AI
action, with IPs, instances and sessions; a few late events), ``globex`` (priced soft plans in
overdraft: the vendor's first opportunity) and ``initech`` (a seats plan ending soon, little used).
Between them they hold every insight kind of SPEC §11. Everything is
anchored at the first run's day (kept in ``<state>/demo.json`` with the API keys), and event ids
are fixed, so a second run adds nothing and changes no figure."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from usage_local import tokens
from usage_local.cli import invoke_scheduled, sign_in_link
from usage_local.stack import read_stack_info
from usage_local.template import find_repo_root

SEED = 20261201
BATCH = 500
GROUPS = ("north", "south", "east", "west")
ROLES = ("learner", "coach", "program_lead", "observer", "admin")
FEATURES = ("goals", "calendar", "reports", "messages", "dashboard")
# Answers that say "not now": the call is sent again after a pause (Retry-After when given).
TRANSIENT = frozenset({429, 502, 503, 504})
RETRY_BUDGET_SECONDS = 600.0


class DemoFailed(RuntimeError):
    """A call the demo cannot go on without answered with something other than what it needs."""


def _pause(answer: requests.Response | None, attempt: int) -> float:
    """Retry-After when the answer gives one in seconds, else exponential backoff (1 s … 30 s)."""
    if answer is not None:
        try:
            return min(float(answer.headers.get("Retry-After", "")), 60.0)
        except ValueError:
            pass
    return float(min(2**attempt, 30) * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter, not a secret


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class DemoOrg:
    org_id: str
    users: int
    plans: list[dict[str, Any]]
    login_days: float  # mean days between a user's logins
    events: list[dict[str, Any]] = field(default_factory=list)


def _plans(anchor: datetime) -> dict[str, list[dict[str, Any]]]:
    mid = anchor.replace(day=15, hour=0, minute=0, second=0)
    return {
        "acme": [
            # Past, then renewed (the renewal call) into the current hard-limited plan.
            {"type": "seats", "product": "learn", "amount": 40, "start": iso(anchor - timedelta(days=665)),
             "end": iso(anchor - timedelta(days=300)), "grace_days": 14},
            {"type": "mau", "product": "observe", "amount": 24, "start": iso(mid - timedelta(days=200))},
            # Its credits run out before its end (credits.run_out).
            {"type": "mauc", "product": "coach", "amount": 360, "start": iso(anchor - timedelta(days=330))},
        ],
        # The overdraft organization: priced, so the vendor's ranking puts it first by money.
        "globex": [
            {"type": "seats", "product": "learn", "amount": 12, "start": iso(anchor - timedelta(days=120)),
             "unit_price": "300.00", "currency": "EUR"},
            {"type": "mau", "product": "observe", "amount": 8, "start": iso(mid - timedelta(days=95)),
             "unit_price": "60.00", "currency": "EUR"},
        ],
        # Ending soon, and under 40 % used: a renewal at risk.
        "initech": [
            {"type": "seats", "product": "learn", "amount": 80, "start": iso(anchor - timedelta(days=345)),
             "notify_at": [50, 80, 100]},
        ],
    }  # fmt: skip


RENEWAL = {"amount": 40, "enforcement": "hard", "overdraft": 5, "unit_price": "240.00", "currency": "EUR"}


def _scaled(terms: dict[str, Any], scale: int) -> dict[str, Any]:
    """A smaller data set keeps its plans' proportions (the same overdrafts and limits reached)."""
    return {k: max(1, v // scale) if k in ("amount", "overdraft") else v for k, v in terms.items()}


def _events(org: DemoOrg, anchor: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    """A year of one organization's activity, oldest first, with fixed ids."""
    first_day = anchor - timedelta(days=360)
    n = 0

    def event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"id": f"demo-{org.org_id}-{n:06d}", "type": kind, "timestamp": iso(at), **fields}

    products = sorted({p["product"] for p in org.plans})
    for u in range(org.users):
        user = f"user{u:03d}@{org.org_id}.example"
        group = GROUPS[u % len(GROUPS)]
        joined = first_day + timedelta(days=rng.uniform(0, 200), hours=rng.uniform(8, 17))
        if rng.random() < 0.3:
            yield event("user.invited", joined - timedelta(days=2), user_id=user)
        roles = [ROLES[u % len(ROLES)]] + (["coach"] if u % 7 == 0 and ROLES[u % len(ROLES)] != "coach" else [])
        yield event("user.created", joined, user_id=user, roles=roles, group=group)
        if u % 11 == 3:
            yield event("user.roles_changed", joined + timedelta(days=40), user_id=user, roles=["program_lead"])
        leaves = joined + timedelta(days=rng.uniform(60, 300)) if u % 9 == 4 else None
        day = joined
        instance = f"{['web', 'ios', 'android'][u % 3]}-{u:03d}"
        while day < min(anchor, leaves or anchor):
            at = day.replace(hour=rng.randrange(7, 19), minute=rng.randrange(60))
            if at < anchor - timedelta(minutes=10):
                session = f"s-{org.org_id}-{u}-{n}"
                product = products[u % len(products)] if rng.random() < 0.8 else rng.choice(products)
                ip = f"10.{u % 200}.{(u * 7) % 250}.{rng.randrange(1, 250)}"
                yield event("user.login", at, user_id=user, product=product, group=group, session_id=session,
                            ip=ip, instance_id=instance)  # fmt: skip
                roll = rng.random()
                goal = f"goal-{rng.randrange(org.users * 2):04d}"
                if roll < 0.22 and group != "west":
                    yield event("ai.quality_check", at + timedelta(minutes=3), user_id=user, goal_id=goal, group=group)
                elif roll < 0.32 and group != "west":
                    yield event("ai.suggest_alignment", at + timedelta(minutes=4), user_id=user, goal_id=goal)
                elif roll < 0.40 and group != "west":  # west takes no AI actions (ai.low_adoption)
                    yield event("ai.suggest_goal", at + timedelta(minutes=5), user_id=user, quantity=rng.randint(1, 3))
                elif roll < 0.52:
                    yield event("feature.used", at + timedelta(minutes=6), user_id=user, product=product,
                                feature=rng.choice(FEATURES), properties={"screen": "web"})  # fmt: skip
            day += timedelta(days=rng.expovariate(1 / org.login_days))
        if leaves is not None and leaves < anchor:
            kind = "user.deleted" if u % 2 else "user.deactivated"
            yield event(kind, leaves, user_id=user)
    for k in range(3):
        yield event("license.refresh", anchor - timedelta(days=3 * k + 1), user_id=f"user000@{org.org_id}.example")


def _late(org: DemoOrg, anchor: datetime) -> list[dict[str, Any]]:
    """Events that arrive after the rollup ran, about months ago (they settle at the next one)."""
    at = anchor - timedelta(days=75, hours=3)
    product = sorted({p["product"] for p in org.plans})[0]
    return [
        {"id": f"demo-{org.org_id}-late-{k}", "type": "user.login", "timestamp": iso(at + timedelta(minutes=k)),
         "user_id": f"late{k}@{org.org_id}.example", "product": product, "group": "east"}
        for k in range(3)
    ]  # fmt: skip


class DemoClient:
    def __init__(self, api_url: str, state_dir: Path) -> None:
        self.url = api_url
        self.state_dir = state_dir
        self.vendor = {"Authorization": f"Bearer {tokens.issue_token(state_dir, 'vendor_admin', subject='demo')}"}
        self.session = requests.Session()

    def call(self, method: str, path: str, expect: tuple[int, ...], *, retry: bool = True, **kwargs: Any) -> Any:
        """One call, sent again on a transient answer or a lost connection while the budget lasts
        (every call the demo retries is idempotent: events carry fixed ids, the rest are reads or
        creations it checks for first)."""
        deadline = time.monotonic() + RETRY_BUDGET_SECONDS
        attempt = 0
        while True:
            answer: requests.Response | None = None
            try:
                answer = self.session.request(method, self.url + path, timeout=120, **kwargs)
            except requests.ConnectionError as error:
                problem = f"could not reach the stack ({error.__class__.__name__})"
            else:
                if answer.status_code in expect:
                    return answer.json() if answer.content else None
                problem = f"answered {answer.status_code}: {answer.text[:300]}"
                if answer.status_code not in TRANSIENT:
                    raise DemoFailed(f"{method} {path} {problem}")
            pause = _pause(answer, attempt)
            if not retry or time.monotonic() + pause > deadline:
                raise DemoFailed(f"{method} {path} {problem}")
            attempt += 1
            time.sleep(pause)

    def api_key(self, org_id: str, saved: dict[str, str]) -> str:
        key = saved.get(org_id)
        if key:
            probe = self.session.post(self.url + "/v1/events", json={"events": []}, headers={"x-api-key": key})
            if probe.status_code != 401:
                return key
        created = self.call("POST", f"/v1/orgs/{org_id}/api-keys", (201,), headers=self.vendor)
        saved[org_id] = str(created["api_key"])
        return saved[org_id]

    def ensure_plans(self, org_id: str, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        have: list[dict[str, Any]] = self.call("GET", f"/v1/orgs/{org_id}/plans", (200,), headers=self.vendor)["items"]
        for terms in wanted:
            same = [p for p in have if (p["type"], p["product"]) == (terms["type"], terms["product"])]
            if not same:
                path = f"/v1/orgs/{org_id}/plans"
                created = self.call("POST", path, (201, 409), json=terms, headers=self.vendor)
                if created is None or "plan_id" not in created:
                    # 409: an earlier attempt whose answer was lost made it (the demo's plans never overlap).
                    return self.ensure_plans(org_id, wanted)
                have.append(created)
        return have

    def ensure_renewal(self, org_id: str, plans: list[dict[str, Any]], renewal: dict[str, Any]) -> None:
        seats = sorted((p for p in plans if (p["type"], p["product"]) == ("seats", "learn")), key=lambda p: p["start"])
        if len(seats) == 1:
            path = f"/v1/orgs/{org_id}/plans/{seats[0]['plan_id']}/renewal"
            self.call("POST", path, (201,), json=renewal, headers=self.vendor)

    def send(self, key: str, batch: list[dict[str, Any]]) -> None:
        body = self.call("POST", "/v1/events", (200,), json={"events": batch}, headers={"x-api-key": key})
        if body["rejected"]:
            raise DemoFailed(f"demo events were rejected: {body['rejected'][:3]}")


def run_demo(state_dir: Path, small: bool = False) -> int:
    info = read_stack_info(state_dir)
    repo_root = find_repo_root()
    saved_path = state_dir / "demo.json"
    saved: dict[str, Any] = json.loads(saved_path.read_text()) if saved_path.exists() else {}
    anchor = (
        datetime.fromisoformat(saved["anchor"])
        if "anchor" in saved
        else datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    )
    saved["anchor"] = anchor.isoformat()
    keys: dict[str, str] = saved.setdefault("api_keys", {})
    client = DemoClient(str(info["api_url"]), state_dir)
    rng = random.Random(SEED)  # noqa: S311 -- demo data, not a secret
    sizes = {"acme": (64, 4.5), "globex": (20, 6.0), "initech": (18, 9.0)}
    scale = 4 if small else 1
    # acme keeps 6 users a group when small: groups of 5 or more active users are compared for AI adoption.
    users = {org_id: max(count // scale, 24 if org_id == "acme" else 1) for org_id, (count, _) in sizes.items()}
    orgs = [
        DemoOrg(org_id, users[org_id], [_scaled(p, scale) for p in plans], sizes[org_id][1])
        for org_id, plans in _plans(anchor).items()
    ]
    renewal = _scaled(RENEWAL, scale)
    for org in orgs:
        org.events = list(_events(org, anchor, rng))
    total = sum(len(org.events) for org in orgs)
    print(f"usage-local demo: {len(orgs)} organizations, {total:,} events, anchored at {anchor:%Y-%m-%d %H:%M} UTC")
    with tqdm(total=total + len(orgs) + 6, unit="step", desc="demo", dynamic_ncols=True) as progress:
        for org in orgs:
            plans = client.ensure_plans(org.org_id, org.plans)
            if org.org_id == "acme":
                client.ensure_renewal(org.org_id, plans, renewal)
            client.api_key(org.org_id, keys)
            progress.update(1)
        saved_path.write_text(json.dumps(saved, indent=2))

        def send_all(org: DemoOrg) -> None:
            # One organization's batches in time order (as a backend sends them): under the hard
            # limit, the earliest logins get the seats. The organizations go side by side.
            for i in range(0, len(org.events), BATCH):
                batch = org.events[i : i + BATCH]
                client.send(keys[org.org_id], batch)
                progress.update(len(batch))

        with ThreadPoolExecutor(max_workers=len(orgs)) as pool:
            list(pool.map(send_all, orgs))
        progress.set_description("demo: rollups")
        _invoke(repo_root, state_dir, "DailyRollupFunction", datetime.now(UTC))
        progress.update(2)
        for org in orgs:  # late events, after the rollup: they settle at the next one
            client.send(keys[org.org_id], _late(org, anchor))
        _invoke(repo_root, state_dir, "DailyRollupFunction", datetime.now(UTC))
        progress.update(2)
        progress.set_description("demo: notifications")
        _invoke(repo_root, state_dir, "NotificationsFunction", datetime.now(UTC))
        progress.update(1)
        schedules = client.call("GET", "/v1/orgs/acme/report-schedules", (200,), headers=client.vendor)["items"]
        if not schedules:
            body = {"report": "license_ai_usage", "format": "xlsx", "cadence": "monthly"}
            client.call("POST", "/v1/orgs/acme/report-schedules", (201,), json=body, headers=client.vendor)
        progress.update(1)
    saved_path.write_text(json.dumps(saved, indent=2))
    admin = tokens.issue_token(state_dir, "org_admin", "acme")
    vendor = tokens.issue_token(state_dir, "vendor_admin")
    print(
        f"""
Demo data loaded. Open organization acme:
  {sign_in_link(str(info["api_url"]), admin)}
As the vendor (every organization, overdrafts, plans):
  {sign_in_link(str(info["api_url"]), vendor)}
Others: .venv/bin/usage-local dashboard --role reporter --org acme"""
    )
    return 0


def _invoke(repo_root: Path, state_dir: Path, function: str, at: datetime) -> None:
    invocation = invoke_scheduled(repo_root, state_dir, function, at, quiet=True)
    if not invocation.ok:
        raise DemoFailed(f"{function} failed: {invocation.error}")
