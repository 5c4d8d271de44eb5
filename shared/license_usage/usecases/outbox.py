"""Delivering notices (SPEC §7): every notice goes through ``deliver``. The store's conditional
write decides whether it is new, and only the caller that stored it publishes it, to SNS and then
to the bus. What could not be published stays in the outbox; ``drain_outbox`` (the daily run)
publishes what earlier writers left there. Counting, insights, exports and the daily run all
deliver through here, on the ``Outbox`` ports only."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from license_usage.domain.timestamps import utc_now
from license_usage.faults import fault_point
from license_usage.observability import record_notification_sent
from license_usage.usecases.ports import Outbox, Pending, PublishFailed

if TYPE_CHECKING:  # the notices' rules load only when a notice is due
    from license_usage.domain.notifications import Notice

logger = Logger(child=True)

SNS = "sns"
BUS = "bus"
# How long the writer of a notice has to publish it before a run takes it over (wall clock;
# NOTICE_LEASE_SECONDS shortens it for the tests that crash a writer on purpose).
LEASE = timedelta(seconds=int(os.environ.get("NOTICE_LEASE_SECONDS") or 60))


def publish(outbox: Outbox, pending: Pending) -> bool:
    """Publish to the channels not done yet; out of the outbox when both are."""
    notice = pending.notice
    done = set(pending.published)
    try:
        if SNS not in done:
            outbox.publisher.to_topic(notice)
            done.add(SNS)
        if BUS not in done:
            outbox.publisher.to_bus(notice)
            done.add(BUS)
    except PublishFailed as error:
        logger.warning("notice left in the outbox", extra={"notice_id": notice.notice_id, "error": str(error)})
        for channel in done - pending.published:
            outbox.notices.mark_published(notice.notice_id, channel)
        return False
    outbox.notices.finish(notice.notice_id)
    record_notification_sent()
    return True


def deliver(outbox: Outbox, notices: Iterable[Notice]) -> int:
    """Store each notice unless it was sent before; publish the ones stored here. Returns how many
    were new."""
    new = 0
    for notice in notices:
        if outbox.notices.record_once(notice, utc_now() + LEASE):
            new += 1
            fault_point("after_notice_stored")
            publish(outbox, Pending(notice, frozenset()))
    return new


def drain_outbox(outbox: Outbox) -> int:
    """Publish what earlier writers stored but did not publish (a crash, a failed channel)."""
    return sum(publish(outbox, pending) for pending in outbox.notices.claim_pending(utc_now(), LEASE))
