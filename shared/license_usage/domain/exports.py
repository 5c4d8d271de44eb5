"""Report exports (SPEC §5, §8): what each report's file holds, its exact columns, how a cell is
written safely, and what a scheduled export is due. Pure: rows come from the use cases the API
answers with; the store writes them."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from license_usage.domain.errors import InvalidRequest
from license_usage.domain.plans import PlanType
from license_usage.domain.timeframes import Window, iso_week_start
from license_usage.domain.timestamps import format_utc_seconds


class ReportKind(StrEnum):
    CONSUMPTION = "consumption"
    USERS = "users"
    LICENSE_AI_USAGE = "license_ai_usage"
    ACTIVITY = "activity"
    AUDIT = "audit"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ExportStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class Cadence(StrEnum):
    WEEKLY = "weekly"  # Mondays
    MONTHLY = "monthly"  # the 1st


PLAN_REPORTS = frozenset({ReportKind.CONSUMPTION, ReportKind.USERS, ReportKind.ACTIVITY})
WINDOW_REPORTS = frozenset({ReportKind.LICENSE_AI_USAGE, ReportKind.AUDIT})
DEFAULT_TIMEFRAME = "this_month"

# SPEC §8, exactly.
CONSUMPTION_COLUMNS = {
    PlanType.SEATS: (
        "month",
        "month_start",
        "month_end",
        "seats_taken",
        "seats_released",
        "seats_in_use_end",
        "peak_seats_in_use",
        "seat_limit",
        "hard_limit",
        "overage",
    ),
    PlanType.MAU: ("month", "month_start", "month_end", "active_users", "allowance", "overage"),
    PlanType.MAUC: (
        "month",
        "month_start",
        "month_end",
        "credits_used",
        "cumulative_used",
        "credits_remaining",
        "overage",
    ),
}
USERS_COLUMNS = ("user_id", "status", "roles", "group", "first_login", "last_login")
LICENSE_AI_USAGE_COLUMNS = (
    "week_start",
    "users_added",
    "users_invited",
    "users_deactivated",
    "users_deleted",
    "quality_check",
    "suggest_alignment",
    "suggest_goal",
    "ai_actions_total",
)
ACTIVITY_COLUMNS = ("timestamp", "type", "user_id", "ip", "instance_id", "product", "details")
AUDIT_COLUMNS = ("at", "actor", "actor_role", "action", "target", "before", "after")
# The License & AI Usage XLSX's insights sheet (SPEC §11): the items as of the export.
INSIGHTS_COLUMNS = (
    "severity", "kind", "plan_id", "title", "detail", "evidence", "action_method", "action_path", "action_body", "id"
)  # fmt: skip
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class Instant:
    """A UTC instant in a cell: a date-time in XLSX, RFC 3339 text in CSV."""

    value: datetime


Cell = str | int | float | date | Instant | None
Row = tuple[Cell, ...]


@dataclass(frozen=True)
class Sheet:
    """One table of an export: a name, the exact header and its rows (produced as they are read)."""

    name: str
    header: tuple[str, ...]
    rows: Iterable[Row]


@dataclass(frozen=True)
class ExportFile:
    """The sheets of one export; a CSV holds the first only (SPEC §8: extra sheets are XLSX's)."""

    sheets: Sequence[Sheet]


XLSX_MAX_ROWS = 1_048_575  # a worksheet's rows, less the header


class ExportTooLarge(InvalidRequest):
    code = "export_too_large"


# ---------------------------------------------------------------------- cells

# OWASP "CSV Injection": a spreadsheet may read a cell as a formula (or run it as a command) when
# it begins with = + - @, a tab, CR or LF. Also taken as such here: VT, FF and NUL (controls some
# readers skip or split at), `|` (DDE: =cmd|' /c …'!A1 begins with it once a reader drops a
# character), and each of these in its full-width, small or super/subscript form, which NFKC folds
# to the ASCII one, as some spreadsheets do on input; and the minus sign U+2212.
FORMULA_STARTS = frozenset("=+-@|\t\r\n\x0b\x0c\x00\u2212")
# What a reader may skip before it sees a cell's first character: spaces (any Unicode space or
# line separator), control and format characters (zero-width space, BOM, bidi marks, soft
# hyphen), and a double quote (a reader that splits without honouring quotes keeps it).
_SKIPPED_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _starts_a_formula(text: str) -> bool:
    """Whether ``text``, past what a reader skips, begins as a formula."""
    for char in text:
        if char in FORMULA_STARTS:
            return True
        if char.isalnum():  # ordinary text, at once (no letter or digit folds to a formula start)
            return False
        if char == '"' or unicodedata.category(char) in _SKIPPED_CATEGORIES:
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA_STARTS
    return False


def neutralise(text: str) -> str:
    """SPEC §8 and OWASP's CSV-injection guidance: a text cell that a spreadsheet could read as a
    formula gets a leading apostrophe, so it is read as text. That is so when the cell, or any
    element of it that a reader may take as a cell of its own (a list joined with ``;``, which is
    also the field separator of spreadsheets in many locales), begins as a formula, even after
    spaces and invisible characters. The one rule for every text cell of every export, CSV and
    XLSX alike; the CSV writer also quotes every text cell (``csv_field``), so that no ``;``, ``,``
    or line break inside a cell starts another cell in any reader that honours quotes."""
    if _starts_a_formula(text) or (
        LIST_SEPARATOR in text and any(_starts_a_formula(part) for part in text.split(LIST_SEPARATOR)[1:])
    ):
        return "'" + text
    return text


def csv_text(cell: Cell) -> str:
    """A cell as CSV text: dates YYYY-MM-DD, instants RFC 3339 UTC, text neutralised."""
    if cell is None:
        return ""
    if isinstance(cell, Instant):
        return format_utc_seconds(cell.value)
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, bool):
        return str(int(cell))
    if isinstance(cell, int | float):
        return str(cell)
    return neutralise(cell)


def csv_field(cell: Cell) -> str | int | float:
    """A cell for a CSV writer that quotes what is not a number (``csv.QUOTE_NONNUMERIC``): numbers
    stay bare numbers (a spreadsheet reads ``-1`` as the number, never as a formula), every other
    cell is ``csv_text`` and so quoted (OWASP: wrap each cell in double quotes, escape the quotes
    inside by doubling them, prepend the apostrophe where a formula could begin)."""
    if isinstance(cell, bool):
        return int(cell)
    if isinstance(cell, int | float):
        return cell
    return csv_text(cell)


def joined(values: Iterable[str]) -> str:
    """SPEC §8: lists are joined with ';'."""
    return LIST_SEPARATOR.join(values)


# ---------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ExportRequest:
    report: ReportKind
    format: ExportFormat = ExportFormat.CSV
    plan_id: str | None = None
    timeframe: str | None = None
    first: date | None = None
    last: date | None = None


def check_request(request: ExportRequest) -> ExportRequest:
    """A plan report needs ``plan_id`` and takes no window; a window report the opposite. Returns
    the request with the default timeframe filled in."""
    problems = []
    if request.report in PLAN_REPORTS:
        if request.plan_id is None:
            problems.append({"field": "plan_id", "message": f"is required for the {request.report} report"})
        if request.timeframe is not None or request.first is not None or request.last is not None:
            problems.append({"field": "timeframe", "message": "applies to license_ai_usage and audit only"})
    else:
        if request.plan_id is not None:
            problems.append({"field": "plan_id", "message": "applies to consumption, users and activity only"})
        if request.timeframe != "custom" and (request.first is not None or request.last is not None):
            problems.append({"field": "from", "message": "from and to go with timeframe custom"})
    if problems:
        raise InvalidRequest("The export request is not valid.", problems)
    if request.report in WINDOW_REPORTS and request.timeframe is None:
        return ExportRequest(request.report, request.format, None, DEFAULT_TIMEFRAME, request.first, request.last)
    return request


def new_export_id(now: datetime) -> str:
    """Sorts by creation time (the list is newest first), unguessable after that."""
    return f"exp_{now.astimezone(UTC):%Y%m%d%H%M%S%f}{secrets.token_hex(6)}"


EXPORT_ID_PATTERN = r"^exp_[0-9]{20}[0-9a-f]{12}$"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(org_id: str, report: ReportKind, period: str, fmt: ExportFormat) -> str:
    """What the download is called: organization, report and period."""
    parts = [org_id, report.value.replace("_", "-"), period]
    return _UNSAFE.sub("-", "_".join(parts)) + f".{fmt.value}"


def plan_period(plan_id: str, start: datetime, end: datetime) -> str:
    return f"{plan_id}_{start:%Y-%m-%d}_to_{(end - timedelta(microseconds=1)):%Y-%m-%d}"


def window_period(window: Window) -> str:
    return f"{window.first.isoformat()}_to_{window.last.isoformat()}"


@dataclass(frozen=True)
class Export:
    """An export job: what it writes, where, and how it went."""

    export_id: str
    org_id: str
    request: ExportRequest
    status: ExportStatus
    created_at: datetime
    object_key: str
    finished_at: datetime | None = None
    row_count: int | None = None
    error: str | None = None
    file_name: str | None = None
    schedule_id: str | None = None
    period: str | None = None


@dataclass(frozen=True)
class Schedule:
    """A recurring export (SPEC §5 report-schedules)."""

    schedule_id: str
    org_id: str
    cadence: Cadence
    request: ExportRequest
    created_at: datetime
    last_period: str | None = None
    last_run_at: datetime | None = None
    last_export_id: str | None = None


# ---------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class SchedulePeriod:
    """The period a scheduled run covers: its key (once per schedule and key), when it begins,
    and the window its window reports use (the period before it)."""

    key: str
    begins: datetime
    window_first: date
    window_last: date


def schedule_period(cadence: Cadence, now: datetime) -> SchedulePeriod:
    """Weekly: the ISO week that contains ``now`` (run on its Monday or later), reporting the week
    before; monthly: the month of ``now``, reporting the month before."""
    today = now.astimezone(UTC).date()
    if cadence is Cadence.WEEKLY:
        monday = iso_week_start(today)
        year, week, _ = monday.isocalendar()
        return SchedulePeriod(
            f"{year}-W{week:02d}",
            datetime.combine(monday, datetime.min.time(), UTC),
            monday - timedelta(days=7),
            monday - timedelta(days=1),
        )
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return SchedulePeriod(
        f"{first:%Y-%m}", datetime.combine(first, datetime.min.time(), UTC), previous, first - timedelta(days=1)
    )


def is_due(cadence: Cadence, created_at: datetime, last_period: str | None, now: datetime) -> SchedulePeriod | None:
    """The period to run now, or None: each period once, and only periods that began after the
    schedule was made (a schedule made on a Wednesday first runs the next Monday). A run missed on
    the period's first day is made up by any later run in it."""
    period = schedule_period(cadence, now)
    # Keys sort as their periods do (YYYY-MM, YYYY-Www): a run replayed for an earlier instant
    # neither runs an old period again nor moves the schedule back.
    if (last_period is not None and last_period >= period.key) or created_at >= period.begins:
        return None
    return period


def scheduled_request(request: ExportRequest, period: SchedulePeriod) -> ExportRequest:
    """A window report of a schedule without its own timeframe covers the period before the run
    (last week, last month); one with a timeframe resolves it at the run."""
    if request.report in WINDOW_REPORTS and request.timeframe is None:
        return ExportRequest(request.report, request.format, None, "custom", period.window_first, period.window_last)
    return request
