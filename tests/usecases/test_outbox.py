"""Notices through the outbox: a line crossed by several requests at once is noticed once; a
channel that refuses leaves the notice in the outbox, and the daily drain publishes it, once per
channel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from license_usage.domain.plans import PlanType
from license_usage.usecases import outbox
from license_usage.usecases.outbox import drain_outbox
from tests.usecases.memory import memory_ports
from tests.usecases.support import NOW, event, new_plan, send


def test_a_threshold_crossed_by_concurrent_requests_is_stored_and_published_once() -> None:
    memory = memory_ports()
    plan = new_plan(memory, "org-n", PlanType.MAU, amount=10, notify_at=(50, 100))
    batches = [
        [event("org-n", f"b{b}u{u}", "user.login", f"u{u}", NOW - timedelta(minutes=b)) for u in range(12)]
        for b in range(6)
    ]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda batch: send(memory, "org-n", batch), batches))
    kinds = sorted(n.kind.value for n in memory.notices.stored.values())
    assert kinds == ["usage.overdraft", "usage.threshold"]  # the highest threshold reached, once
    assert len(memory.publisher.topic) == len(memory.publisher.bus) == 2
    assert memory.notices.outbox == {}
    assert memory.plans.flags[plan.plan_id] is True  # 12 of 10: in the overdrafts index


@pytest.mark.parametrize("failing", ["sns", "bus"])
def test_a_refusing_channel_leaves_the_notice_in_the_outbox_until_the_drain(
    failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "LEASE", timedelta(0))  # the writer's lease has run out at once
    memory = memory_ports()
    new_plan(memory, "org-o", PlanType.MAU, amount=1, notify_at=(100,))
    memory.publisher.failing.add(failing)
    send(memory, "org-o", [event("org-o", "e1", "user.login", "ann", NOW)])  # the request still succeeds
    assert len(memory.notices.stored) == 1
    [(notice, published, _)] = memory.notices.outbox.values()
    assert published == (frozenset() if failing == "sns" else frozenset({"sns"}))
    assert drain_outbox(memory.ports.outbox) == 0  # still refused: still there
    memory.publisher.failing.clear()
    assert drain_outbox(memory.ports.outbox) == 1
    assert drain_outbox(memory.ports.outbox) == 0
    assert memory.notices.outbox == {}
    assert [n.notice_id for n in memory.publisher.topic] == [notice.notice_id]  # each channel once
    assert [n.notice_id for n in memory.publisher.bus] == [notice.notice_id]
