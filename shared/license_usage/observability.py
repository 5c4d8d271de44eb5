"""The service's CloudWatch metrics (EMF, through Powertools ``Metrics``): one typed function per
thing an operator watches, so a use case records it in one line from figures it already has.

Handlers flush them with ``@metrics.log_metrics(raise_on_empty_metrics=False)``: the template
sets the namespace (``POWERTOOLS_METRICS_NAMESPACE``) and the ``service`` dimension
(``POWERTOOLS_SERVICE_NAME``). Recording never reads or writes anything else."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable
from datetime import datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

logger = Logger(child=True)

# The template sets it; the fallback keeps in-process callers (tests, benches) from failing when
# Powertools flushes by itself at 100 values.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "LicenseUsage")
# Most invocations of the API and the schedules record nothing: that is expected, not a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# Powertools' metric set is a plain dict shared by the whole process; the notifications run and
# the writer pool record from several threads.
_lock = threading.Lock()


def _add(name: str, unit: MetricUnit, value: float) -> None:
    with _lock:
        metrics.add_metric(name=name, unit=unit, value=value)


def record_ingest(accepted: int, duplicates: int, rejected: int) -> None:
    """One ingest request: events stored new, resent ones, and refused ones."""
    _add("EventsAccepted", MetricUnit.Count, accepted)
    _add("EventsDuplicate", MetricUnit.Count, duplicates)
    _add("EventsRejected", MetricUnit.Count, rejected)
    logger.info("events recorded", extra={"accepted": accepted, "duplicates": duplicates, "rejected": rejected})


def record_seat_denials(refused: int) -> None:
    """Seats a hard limit refused (at ingest, seat claims, role assignment)."""
    if refused:
        _add("SeatDenials", MetricUnit.Count, refused)


def record_rollup_lag(now: datetime, marked_at: Iterable[datetime | None]) -> float | None:
    """For one rollup run: how late it settled the oldest dirty-day mark it settled, in seconds
    (``domain.rollups.rollup_lag_seconds``; None, and nothing recorded, when it settled none)."""
    # Imported here: only the rollups record it, and every function's cold start imports this module.
    from license_usage.domain.rollups import rollup_lag_seconds

    lag = rollup_lag_seconds(now, (mark for mark in marked_at if mark is not None))
    if lag is not None:
        _add("RollupLagSeconds", MetricUnit.Seconds, lag)
    return lag


def record_rollup_quarantined(quarantined: int) -> None:
    """For one rollup run: how many days and steps of organizations stay quarantined after it
    (``store.quarantine``; recorded every run, 0 included, so the alarm sees them go)."""
    _add("RollupQuarantined", MetricUnit.Count, quarantined)


def record_notification_sent() -> None:
    """One notice published to every channel."""
    _add("NotificationsSent", MetricUnit.Count, 1)


def record_export(export_id: str, duration_ms: float, size_bytes: int) -> None:
    """One export written: how long writing it took and the object's size."""
    with _lock:
        metrics.add_metadata(key="export_id", value=export_id)  # the exports queue's batch is one job
    _add("ExportDurationMs", MetricUnit.Milliseconds, duration_ms)
    _add("ExportBytes", MetricUnit.Bytes, size_bytes)


def record_export_failed(export_id: str) -> None:
    """One export marked failed."""
    with _lock:
        metrics.add_metadata(key="export_id", value=export_id)
    _add("ExportsFailed", MetricUnit.Count, 1)
