"""The dashboard (SPEC §10) in a real browser: Debian's chromium driven by Playwright, against the
local stack loaded by the demo loader (``usage-local demo --small``). Each view renders at phone
and desktop width without horizontal scrolling or console errors, with the API's own figures;
screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.support import ROOT, Stack, roll_up

ARTIFACTS = ROOT / "tests" / "artifacts"
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
ORG_VIEWS = ["usage", "seats", "report", "activity", "users", "exports", "notifications", "audit"]


def run_demo(stack: Stack) -> str:
    """``usage-local demo --small`` against the stack; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "usage_local", "demo", "--small", "--state-dir", str(stack.state_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def demo(stack: Stack) -> Stack:
    assert "#token=" in run_demo(stack)
    return stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


class Session:
    """A signed-in page and the console errors it logged."""

    def __init__(self, browser: Browser, stack: Stack, role: str, org: str | None, size: tuple[int, int]) -> None:
        self.stack = stack
        self.token = stack.token(role, org)
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{stack.url}/#token={self.token}")
        self.page.wait_for_selector("nav.tabs a")

    def open(self, view: str, query: str = "") -> Page:
        self.page.evaluate(f"location.hash = '#/{view}{query}'")
        self.page.wait_for_function(
            "() => !document.querySelector('main .state') || "
            "!document.querySelector('main .state').textContent.startsWith('Loading')"
        )
        self.page.wait_for_timeout(250)  # charts draw on the next animation frame
        return self.page

    def api(self, path: str) -> Any:
        answer = requests.get(f"{self.stack.url}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def close(self) -> None:
        self.context.close()


def fits_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def n(value: int) -> str:
    return f"{value:,}"


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_view_renders_at_phone_and_desktop_width(demo: Stack, browser: Browser, width: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin = Session(browser, demo, "org_admin", "acme", WIDTHS[width])
    tabs = admin.page.locator("nav.tabs a").all_inner_texts()
    assert "Vendor" not in tabs
    assert len(tabs) == len(ORG_VIEWS)
    for view in ORG_VIEWS:
        page = admin.open(view)
        assert page.locator("main h1").count() == 1, view
        assert page.locator("main .state.error").count() == 0, (view, page.locator("main").inner_text()[:500])
        assert fits_width(page), f"{view} scrolls sideways at {width} width"
        page.screenshot(path=str(ARTIFACTS / f"{view}-{width}.png"), full_page=True)
    vendor = Session(browser, demo, "vendor_admin", None, WIDTHS[width])
    page = vendor.open("vendor")
    assert page.locator("main .state.error").count() == 0
    assert fits_width(page)
    page.screenshot(path=str(ARTIFACTS / f"vendor-{width}.png"), full_page=True)
    assert admin.errors == []
    assert vendor.errors == []
    admin.close()
    vendor.close()


def test_the_views_show_the_apis_figures(demo: Stack, browser: Browser) -> None:
    admin = Session(browser, demo, "org_admin", "acme", WIDTHS["desktop"])
    plans = admin.api("/v1/orgs/acme/plans")["items"]
    current = next(p for p in plans if p["status"] == "current")
    usage = admin.api(f"/v1/orgs/acme/plans/{current['plan_id']}/usage")
    page = admin.open("usage")
    assert page.locator("#plan-select").input_value() == current["plan_id"]
    cards = page.locator("#usage-cards").inner_text()
    assert n(usage["amount"]) in cards
    assert n(usage["consumed"]) in cards
    assert n(usage["available"]) in cards
    assert f"{usage['utilization_pct']:g} %" in cards
    assert usage["freshness"] in page.locator(".badge").first.inner_text()
    # The chart's text alternative holds every plan month.
    assert page.locator("details.alt tbody tr").count() == len(usage["months"])

    report = admin.api("/v1/orgs/acme/reports/license-ai-usage?timeframe=this_year")
    page = admin.open("report", "?timeframe=this_year")
    cards = page.locator(".cards").first.inner_text()
    assert n(report["ai_actions"]["total"]) in cards
    assert n(report["user_activity"]["totals"]["added"]) in cards
    assert page.locator("svg").count() >= 4  # weekly AI, donut, user activity, roles

    seats = next(p for p in plans if p["type"] == "seats" and p["status"] == "current")
    history = admin.api(f"/v1/orgs/acme/plans/{seats['plan_id']}/seat-history?days=30")["items"]
    page = admin.open("seats", f"?plan={seats['plan_id']}")
    alt = page.locator("details.alt tbody tr")
    assert alt.count() == len(history)
    first = alt.first.locator("td").all_text_contents()
    assert first[:3] == [history[0]["date"], n(history[0]["min"]), n(history[0]["max"])]

    users = admin.api(f"/v1/orgs/acme/plans/{seats['plan_id']}/users?limit=50")["items"]
    page = admin.open("users", f"?plan={seats['plan_id']}")
    shown = page.locator("main tbody tr td:first-child").all_inner_texts()
    assert shown == [u["user_id"] for u in users]

    log = admin.api(f"/v1/orgs/acme/plans/{seats['plan_id']}/activity?limit=50")["items"]
    page = admin.open("activity", f"?plan={seats['plan_id']}")
    assert page.locator("main tbody tr").count() == len(log)

    notices = admin.api("/v1/orgs/acme/notifications")["items"]
    page = admin.open("notifications")
    assert page.locator("article.notice h3").all_inner_texts() == [x["subject"] for x in notices]

    vendor = Session(browser, demo, "vendor_admin", None, WIDTHS["desktop"])
    overdrafts = vendor.api("/v1/overdrafts")["items"]
    page = vendor.open("vendor")
    table = page.locator("section.panel").nth(1).locator("tbody tr")
    ranked = sorted(overdrafts, key=lambda o: -o["overage"])
    assert table.count() == len(ranked)
    assert [r.split("\t")[0] for r in table.all_inner_texts()] == [o["org_id"] for o in ranked]
    assert admin.errors == []
    assert vendor.errors == []
    admin.close()
    vendor.close()


def test_an_export_downloads(demo: Stack, browser: Browser) -> None:
    admin = Session(browser, demo, "reporter", "acme", WIDTHS["desktop"])
    page = admin.open("usage")
    with page.expect_download(timeout=90_000) as waiting:
        page.get_by_role("button", name="Export consumption (CSV)").click()
    download = waiting.value
    assert download.suggested_filename.startswith("acme_consumption_")
    content = Path(download.path()).read_text()
    assert content.splitlines()[0].startswith("month,month_start,month_end,")
    assert admin.errors == []
    admin.close()


def test_a_reporter_cannot_open_the_vendor_view_or_release_seats(demo: Stack, browser: Browser) -> None:
    reporter = Session(browser, demo, "reporter", "acme", WIDTHS["phone"])
    tabs = reporter.page.locator("nav.tabs a").all_inner_texts()
    assert "Vendor" not in tabs
    assert "Audit trail" not in tabs
    assert "Notifications" not in tabs
    page = reporter.open("vendor")
    assert "cannot open" in page.locator("main").inner_text()
    page = reporter.open("users")
    assert page.get_by_role("button", name="Release").count() == 0
    reporter.close()


def test_an_admin_releases_a_seat_after_confirming(demo: Stack, browser: Browser) -> None:
    admin = Session(browser, demo, "org_admin", "globex", WIDTHS["desktop"])
    seats = next(p for p in admin.api("/v1/orgs/globex/plans")["items"] if p["type"] == "seats")
    page = admin.open("users", f"?plan={seats['plan_id']}")
    before = admin.api(f"/v1/orgs/globex/plans/{seats['plan_id']}/usage")["consumed"]
    button = page.get_by_role("button", name="Release").first
    user = button.get_attribute("aria-label").removeprefix("Release the seat of ")  # type: ignore[union-attr]
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.wait_for_selector("p.msg.ok")
    assert f"Released the seat of {user}" in page.locator("p.msg.ok").inner_text()
    assert admin.api(f"/v1/orgs/globex/plans/{seats['plan_id']}/usage")["consumed"] == before - 1
    admin.close()


def test_the_token_stays_out_of_request_lines_and_logs(demo: Stack, browser: Browser) -> None:
    admin = Session(browser, demo, "org_admin", "acme", WIDTHS["desktop"])
    admin.open("usage")
    assert "token=" not in admin.page.url
    assert admin.token not in demo.log()
    # Keyboard: the first Tab reaches the skip link, then the views' tabs are reachable.
    admin.page.keyboard.press("Tab")
    assert admin.page.evaluate("document.activeElement.className") == "skip"
    admin.close()


def _figures(stack: Stack) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.token('vendor_admin')}"}

    def get(path: str) -> Any:
        answer = requests.get(f"{stack.url}{path}", headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    figures: dict[str, Any] = {"overdrafts": get("/v1/overdrafts")}
    for org in ("acme", "globex", "initech"):
        for plan in get(f"/v1/orgs/{org}/plans")["items"]:
            usage = get(f"/v1/orgs/{org}/plans/{plan['plan_id']}/usage")
            usage.pop("data_as_of")
            figures[plan["plan_id"]] = usage
            figures[f"{plan['plan_id']}/users"] = get(f"/v1/orgs/{org}/plans/{plan['plan_id']}/users?limit=1000")
        report = get(f"/v1/orgs/{org}/reports/license-ai-usage?timeframe=this_year")
        report.pop("data_as_of")
        figures[f"{org}/report"] = report
    return figures


def test_running_the_demo_again_changes_no_figure(demo: Stack) -> None:
    roll_up(demo)  # what the tests before changed (a released seat) settles first
    before = _figures(demo)
    run_demo(demo)
    assert _figures(demo) == before
