"""The dashboard (SPEC §10) in a real browser: Debian's chromium driven by Playwright, against the
local stack loaded by the demo loader (``usage-local demo --small``). Each view renders at phone
and desktop width without horizontal scrolling or console errors, with the API's own figures;
screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request

from tests.support import ROOT, Stack, roll_up

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "tests" / "artifacts"
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
ORG_VIEWS = ["usage", "seats", "report", "insights", "activity", "users", "exports", "notifications", "audit"]
VENDOR_VIEWS = {"vendor": "Vendor", "opportunities": "Opportunities"}
# The insight kinds the small demo gives acme (SPEC §11).
ACME_KINDS = {
    "credits.run_out",
    "mau.over_allowance",
    "hard_limit.denials",
    "seats.reclaimable",
    "renewal.sizing",
    "ai.low_adoption",
}


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
    """The small demo's data, loaded once for the module (the browser: tests/browser/conftest.py)."""
    assert "#token=" in run_demo(stack)
    return stack


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

    def reload(self) -> Page:
        """Load the page again (the same view; the token stays in the tab's session storage)."""
        self.page.reload()
        self.page.wait_for_selector("nav.tabs a")
        self.page.wait_for_function(
            "() => !document.querySelector('main .state') || "
            "!document.querySelector('main .state').textContent.startsWith('Loading')"
        )
        return self.page

    def api(self, path: str) -> Any:
        answer = requests.get(f"{self.stack.url}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def writes(self) -> list[tuple[str, str]]:
        """From now on, every request the page sends that is not a GET, as (method, URL)."""
        sent: list[tuple[str, str]] = []

        def on_request(request: Request) -> None:
            if request.method != "GET":
                sent.append((request.method, request.url))

        self.page.on("request", on_request)
        return sent

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
    assert vendor.page.locator("nav.tabs a").all_inner_texts() == list(VENDOR_VIEWS.values())
    for view in VENDOR_VIEWS:
        page = vendor.open(view)
        assert page.locator("main h1").count() == 1, view
        assert page.locator("main .state.error").count() == 0, (view, page.locator("main").inner_text()[:500])
        assert fits_width(page), f"{view} scrolls sideways at {width} width"
        page.screenshot(path=str(ARTIFACTS / f"{view}-{width}.png"), full_page=True)
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


def shown(value: Any) -> str:
    """An evidence figure as the Insights panel writes it (web/js/insights.js)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return n(value)
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", value):
        return f"{value[:10]} {value[11:16]} UTC"
    return str(value)


def assert_evidence_shown(card: Locator, evidence: dict[str, Any]) -> None:
    """Every field of the evidence is a row of the card's evidence table, in the API's order, with
    the API's figure: money as "12.00 EUR", lists as lists, lists of rows as a small table."""
    rows = card.locator("table.evidence > tbody > tr")
    assert [rows.nth(i).get_attribute("data-field") for i in range(rows.count())] == list(evidence)
    for field, value in evidence.items():
        cell = card.locator(f'table.evidence > tbody > tr[data-field="{field}"] > td')
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines = cell.locator("table.mini tbody tr")
            assert lines.count() == len(value), field
            for i, line in enumerate(value):
                assert lines.nth(i).locator("td").all_inner_texts() == [shown(v) for v in line.values()], field
        elif isinstance(value, list):
            assert [t.strip() for t in cell.locator("li").all_text_contents()] == [shown(v) for v in value], field
        else:
            assert cell.inner_text().strip() == shown(value), (field, value)


def cards_of(page: Page) -> Locator:
    return page.locator("main article.insight")


def test_the_insights_panel_shows_the_apis_items_and_evidence(demo: Stack, browser: Browser) -> None:
    admin = Session(browser, demo, "org_admin", "acme", WIDTHS["desktop"])
    answer = admin.api("/v1/orgs/acme/insights")
    items = answer["items"]
    assert {i["kind"] for i in items} >= ACME_KINDS  # the demo holds every kind for acme
    page = admin.open("insights")
    badge = page.locator("main .badge").first.inner_text()
    assert "Data as of" in badge
    assert answer["freshness"] in badge
    cards = cards_of(page)
    assert cards.count() == len(items)
    assert [cards.nth(i).get_attribute("data-insight-id") for i in range(cards.count())] == [i["id"] for i in items]
    assert cards.locator("h2").all_inner_texts() == [i["title"] for i in items]
    shown_kinds = {cards.nth(i).get_attribute("data-kind") for i in range(cards.count())}
    assert shown_kinds >= ACME_KINDS
    for item in items:
        card = page.locator(f'article.insight[data-insight-id="{item["id"]}"]')
        # Severity in words, not colour only; critical first, then warning, then info.
        assert item["severity"] in card.locator(".severity").inner_text().lower()
        assert card.locator("p.detail").inner_text() == item["detail"]
        assert_evidence_shown(card, item["evidence"])
        buttons = card.get_by_role("button")
        if item["kind"] == "seats.reclaimable":
            ids = item["evidence"]["user_ids"]
            assert buttons.all_inner_texts() == [f"Release the {len(ids)} idle seats"]
            assert item["action"]["summary"] in card.inner_text()
        else:
            # renewal.sizing is the vendor's call: an org admin reads the suggestion, gets no button.
            assert buttons.count() == 0, item["kind"]
        if item["kind"] == "renewal.sizing":
            assert f"renew with an amount of {n(item['action']['body']['amount'])}" in card.inner_text()
    severities = [i["severity"] for i in items]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    # The figures the cards are about, spelled out.
    by_kind = {i["kind"]: i for i in items}
    seats = page.locator(f'article[data-insight-id="{by_kind["seats.reclaimable"]["id"]}"]')
    idle = by_kind["seats.reclaimable"]["evidence"]
    assert seats.locator('tr[data-field="idle_seats"] td').inner_text() == n(idle["idle_seats"])
    assert seats.locator('tr[data-field="user_ids"] li').count() == len(idle["user_ids"])
    if idle["tied_up"] is not None:
        assert f"{idle['tied_up']['amount']} {idle['tied_up']['currency']}" in seats.inner_text()
    credits = page.locator(f'article[data-insight-id="{by_kind["credits.run_out"]["id"]}"]')
    forecast = by_kind["credits.run_out"]["evidence"]["forecast_exhausted_on"]
    assert credits.locator('tr[data-field="forecast_exhausted_on"] td').inner_text() == forecast
    denials = page.locator(f'article[data-insight-id="{by_kind["hard_limit.denials"]["id"]}"]')
    refused = by_kind["hard_limit.denials"]["evidence"]
    assert denials.locator('tr[data-field="denials"] td').inner_text() == n(refused["denials"])
    assert denials.locator('tr[data-field="distinct_users"] td').inner_text() == n(refused["distinct_users"])
    months = by_kind["mau.over_allowance"]["evidence"]["last_complete_months"]
    mau = page.locator(f'article[data-insight-id="{by_kind["mau.over_allowance"]["id"]}"]')
    assert mau.locator("table.mini tbody tr td:first-child").all_inner_texts() == [m["month"] for m in months]
    page.screenshot(path=str(ARTIFACTS / "insights-acme.png"), full_page=True)
    assert admin.errors == []
    # The evidence is the usage and report APIs' own figures.
    usage = {i["plan_id"]: admin.api(f"/v1/orgs/acme/plans/{i['plan_id']}/usage") for i in items if i["plan_id"]}
    assert usage[by_kind["seats.reclaimable"]["plan_id"]]["inactive_assignments"] == idle["idle_seats"]
    assert usage[by_kind["seats.reclaimable"]["plan_id"]]["consumed"] == idle["seats_in_use"]
    run_out = usage[by_kind["credits.run_out"]["plan_id"]]
    assert run_out["forecast_exhausted_on"] == forecast
    assert run_out["consumed"] == by_kind["credits.run_out"]["evidence"]["credits_used"]
    rows = {r["month"]: r["active_users"] for r in usage[by_kind["mau.over_allowance"]["plan_id"]]["months"]}
    assert [m["active_users"] for m in months] == [rows[m["month"]] for m in months]
    assert usage[by_kind["hard_limit.denials"]["plan_id"]]["hard_limit"] == refused["hard_limit"]
    report = admin.api("/v1/orgs/acme/reports/license-ai-usage?timeframe=last_30_days")
    groups = {g["group"]: g for g in report["consumption_by_group"]}
    adoption = by_kind["ai.low_adoption"]["evidence"]
    shown_group = groups[adoption["group"]]
    assert (shown_group["active_users"], shown_group["ai_actions"]) == (
        adoption["active_users"],
        adoption["ai_actions"],
    )
    admin.close()


def test_the_vendor_sees_opportunities_and_renewals_at_risk_ranked(demo: Stack, browser: Browser) -> None:
    vendor = Session(browser, demo, "vendor_admin", None, WIDTHS["desktop"])
    opportunities = vendor.api("/v1/insights?category=opportunity&limit=1000")["items"]
    renewals = vendor.api("/v1/insights?category=renewal_at_risk&limit=1000")["items"]
    assert opportunities[0]["org_id"] == "globex"  # the demo's overdraft organization, priced
    assert opportunities[0]["money"]["currency"] == "EUR"
    page = vendor.open("opportunities")
    assert "Data as of" in page.locator("main .badge").first.inner_text()
    rows = page.locator("#opportunities tbody tr")
    assert rows.count() == len(opportunities)
    first = rows.first.locator("td").all_inner_texts()
    assert first[0] == "1"
    assert first[1] == "globex"
    assert first[2] == opportunities[0]["plan_id"]
    assert first[-1] == f"{opportunities[0]['money']['amount']} EUR"
    # The API's ranking, kept: rank numbers and organizations in its order.
    assert page.locator("#opportunities tbody td.rank").all_inner_texts() == [
        str(k) for k in range(1, len(opportunities) + 1)
    ]
    assert page.locator("#opportunities tbody tr td:nth-child(2)").all_inner_texts() == [
        o["org_id"] for o in opportunities
    ]
    assert (
        page.locator("#opportunities tbody tr td:nth-child(5)")
        .all_inner_texts()[0]
        .startswith(n(opportunities[0]["units"]))
    )
    shown_renewals = page.locator("#renewals tbody tr td:nth-child(2)").all_inner_texts()
    assert shown_renewals == [r["org_id"] for r in renewals]
    assert "initech" in shown_renewals
    at_risk = next(r for r in renewals if r["org_id"] == "initech")
    row = page.locator("#renewals tbody tr").nth(shown_renewals.index("initech")).locator("td").all_inner_texts()
    assert row[3:7] == [
        at_risk["ends_at"][:10],
        n(at_risk["days_left"]),
        f"{n(at_risk['consumed'])} of {n(at_risk['amount'])}",
        f"{at_risk['utilization_pct']} %",
    ]
    assert page.locator("main .chart svg").count() == 1  # the top opportunities by money

    # Paging by next_cursor: two a page, "More" until the API has no more; the ranks continue.
    page = vendor.open("opportunities", "?limit=2")
    more = page.locator("#opportunities-panel").get_by_role("button", name="More")
    assert page.locator("#opportunities tbody tr").count() == min(2, len(opportunities))
    clicks = 0
    while more.is_visible():
        count = page.locator("#opportunities tbody tr").count()
        more.click()
        page.wait_for_function(f"document.querySelectorAll('#opportunities tbody tr').length > {count}")
        clicks += 1
    assert clicks == (len(opportunities) - 1) // 2
    assert page.locator("#opportunities tbody tr td:nth-child(2)").all_inner_texts() == [
        o["org_id"] for o in opportunities
    ]
    assert page.locator("#opportunities tbody td.rank").all_inner_texts()[-1] == str(len(opportunities))

    # A renewal.sizing action is the vendor's: the button asks first; Cancel sends nothing.
    sizing = next(i for i in vendor.api("/v1/orgs/initech/insights")["items"] if i["kind"] == "renewal.sizing")
    plans_before = vendor.api("/v1/orgs/initech/plans")["items"]
    page = vendor.open("insights", "?org=initech")
    writes = vendor.writes()
    card = page.locator(f'article[data-insight-id="{sizing["id"]}"]')
    card.get_by_role("button", name=f"Renew with an amount of {n(sizing['action']['body']['amount'])}").click()
    dialog = page.get_by_role("dialog")
    assert sizing["action"]["summary"] in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert page.locator("dialog").count() == 0
    assert writes == []
    assert vendor.api("/v1/orgs/initech/plans")["items"] == plans_before
    assert vendor.errors == []
    vendor.close()


def test_a_reporter_sees_the_insights_but_no_release_button(demo: Stack, browser: Browser) -> None:
    reporter = Session(browser, demo, "reporter", "acme", WIDTHS["phone"])
    assert "Insights" in reporter.page.locator("nav.tabs a").all_inner_texts()
    items = reporter.api("/v1/orgs/acme/insights")["items"]
    page = reporter.open("insights")
    assert cards_of(page).count() == len(items)
    reclaimable = next(i for i in items if i["kind"] == "seats.reclaimable")
    card = page.locator(f'article[data-insight-id="{reclaimable["id"]}"]')
    assert_evidence_shown(card, reclaimable["evidence"])  # the evidence, but nothing to press
    assert card.get_by_role("button").count() == 0
    assert "An organization admin can release these seats." in card.inner_text()
    assert page.locator("main article.insight button").count() == 0
    assert fits_width(page)
    # An organization with nothing to recommend says so plainly.
    nobody = Session(browser, demo, "reporter", f"quiet-{uuid.uuid4().hex[:8]}", WIDTHS["phone"])
    page = nobody.open("insights")
    assert cards_of(page).count() == 0
    assert "No insights right now" in page.locator("main .state").inner_text()
    assert reporter.errors == []
    assert nobody.errors == []
    reporter.close()
    nobody.close()


def test_an_admin_releases_the_idle_seats_of_an_insight_after_confirming(demo: Stack, browser: Browser) -> None:
    # initech, not acme or globex: the other tests read their figures (and release a globex seat).
    admin = Session(browser, demo, "org_admin", "initech", WIDTHS["phone"])
    item = next(i for i in admin.api("/v1/orgs/initech/insights")["items"] if i["kind"] == "seats.reclaimable")
    users = item["evidence"]["user_ids"]
    assert len(users) >= 2
    plan = item["plan_id"]
    product = item["action"]["path"].split("?product=")[1]
    before = admin.api(f"/v1/orgs/initech/plans/{plan}/usage")["consumed"]
    page = admin.open("insights")
    writes = admin.writes()
    card = page.locator(f'article[data-insight-id="{item["id"]}"]')
    button = card.get_by_role("button", name=f"Release the {len(users)} idle seats")

    # Asked first: the dialog lists whom it releases; Cancel (and Escape) change nothing.
    button.click()
    dialog = page.get_by_role("dialog")
    assert dialog.is_visible()
    assert [t.strip() for t in dialog.locator("li").all_text_contents()] == users
    assert page.evaluate("document.activeElement.textContent") == "Cancel"  # keyboard: the safe choice first
    dialog.get_by_role("button", name="Cancel").click()
    assert page.locator("dialog").count() == 0
    button.click()
    assert page.get_by_role("dialog").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("dialog").count() == 0
    page.wait_for_timeout(300)
    assert writes == []
    again = next(i for i in admin.api("/v1/orgs/initech/insights")["items"] if i["kind"] == "seats.reclaimable")
    assert again["evidence"]["user_ids"] == users
    assert admin.api(f"/v1/orgs/initech/plans/{plan}/usage")["consumed"] == before

    # Confirmed: one DELETE per listed user, with progress, then the result.
    status = card.locator('p[role="status"]')
    status.evaluate(
        "node => { window.statuses = []; new MutationObserver(() => window.statuses.push(node.textContent))"
        ".observe(node, {childList: true, characterData: true, subtree: true}); }"
    )
    button.click()
    page.get_by_role("dialog").get_by_role("button", name="Release").click()
    # "Released …" ends it, also when some were not released.
    card.locator('p[role="status"]', has_text=re.compile(r"^Released ")).wait_for(timeout=60_000)
    assert status.inner_text() == f"Released {len(users)} seats; the insight disappears after the next daily rollup."
    progress = page.evaluate("window.statuses")
    assert [f"Releasing {k} of {len(users)}…" for k in range(1, len(users) + 1)] == [
        p for p in progress if p.startswith("Releasing")
    ]
    expected = [("DELETE", f"{demo.url}/v1/orgs/initech/seats/{quote(u, safe='')}?product={product}") for u in users]
    assert writes == expected
    assert expected[0][1] == f"{demo.url}{item['action']['path']}"  # built exactly as the action's path
    assert admin.api(f"/v1/orgs/initech/plans/{plan}/usage")["consumed"] == before - len(users)
    holders = {u["user_id"]: u for u in admin.api(f"/v1/orgs/initech/plans/{plan}/users?limit=1000")["items"]}
    assert all(holders[u]["seat_reason"] is None for u in users)
    log = admin.api(f"/v1/orgs/initech/plans/{plan}/activity?type=seat.released&limit=100")["items"]
    assert {e["user_id"] for e in log} >= set(users)
    page.screenshot(path=str(ARTIFACTS / "insights-released.png"), full_page=True)

    # After the daily rollup the insight is gone, from the API and from the panel.
    roll_up(demo)
    assert all(i["kind"] != "seats.reclaimable" for i in admin.api("/v1/orgs/initech/insights")["items"])
    page = admin.reload()
    assert page.locator("main h1").inner_text() == "Insights"
    assert page.locator('main article.insight[data-kind="seats.reclaimable"]').count() == 0
    assert admin.errors == []
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
