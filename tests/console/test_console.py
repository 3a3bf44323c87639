"""The web console in headless Chromium against a real `warroom dev`: the list and the
timeline update without reload, decisions are taken from the page (as the signed-in token's
identity), refusals say why, alert content is text, and a phone screen needs no sideways
scrolling."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.console.conftest import (
    MALLORY,
    Console,
    keep_for_readme,
    mark,
    same_document,
    screenshot,
)


def test_a_declared_incident_appears_in_the_list_without_reload(console: Console, tmp_path):
    page = console.page()
    mark(page)
    incident_id = console.declare("console-flaky", "appears live")
    row = page.locator("#rows tr", has=page.get_by_role("link", name=incident_id))
    expect(row).to_be_visible()
    expect(row).to_contain_text("console-flaky")
    assert same_document(page)
    screenshot(page, tmp_path, "incidents")


def test_an_approver_approves_from_the_page_and_the_step_runs_live(console: Console, tmp_path):
    # Declared from the runbooks page by one person (the declarer never approves) ...
    page = console.page(MALLORY)
    page.get_by_role("link", name="Runbooks").first.click()
    runbook = page.locator("article#rb-demo-checkout")
    runbook.get_by_text("Declare an incident with demo-checkout").click()
    runbook.get_by_label("Summary").fill("checkout 5xx after deploy")
    runbook.get_by_role("button", name="Declare").click()
    expect(page.get_by_role("heading", name="Checkout 5xx spike after deploy")).to_be_visible()
    incident_id = page.url.rsplit("/", 1)[1]
    # ... and approved by an approver, following it on the incident page.
    page = console.page()
    page.goto(f"{console.url}/console/incidents/{incident_id}")

    # measure-impact runs, then rollback waits: the page shows it without reload.
    approvals = page.locator(
        "section", has=page.get_by_role("heading", name="Waiting for approval")
    )
    expect(approvals).to_contain_text("Step rollback")
    expect(approvals).to_contain_text("dana-oncall, sre-lead")
    approvals.get_by_label("Comment").fill("roll back to v2.4.0 <b>now</b>")
    keep_for_readme(screenshot(page, tmp_path, "incident-awaiting-approval"))
    # From the keyboard: the comment box, then Tab to Approve, then Enter.
    page.keyboard.press("Tab")
    expect(approvals.get_by_role("button", name="Approve rollback")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Done: approve rollback")
    mark(page)
    timeline = page.locator("#timeline")
    approved = timeline.locator("li", has_text="approved")
    expect(approved).to_contain_text("dana-oncall")
    expect(approved).to_contain_text("rollback")
    expect(approved).to_contain_text("roll back to v2.4.0 <b>now</b>")
    # The verify step retries until the service recovers (2s): it ends after the redirect.
    expect(
        timeline.locator("li", has_text="step succeeded").filter(has_text="error-rate-normal")
    ).to_be_visible()
    steps = page.locator("table.steps")
    expect(steps.locator("tr", has_text="rollback")).to_contain_text("succeeded")
    expect(steps.locator("tr", has_text="rollback")).to_contain_text("dana-oncall")
    expect(steps.locator("tr", has_text="all-clear")).to_contain_text("succeeded")
    assert same_document(page), "the step's progress came without a reload"
    assert console.checkout.version == "v2.4.0"
    screenshot(page, tmp_path, "incident")

    # Closed: the page says so without reload (no actions left), and the postmortem draft
    # is there, rendered and as Markdown.
    expect(page.locator("#timeline")).to_contain_text("closed: resolved")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    page.get_by_role("link", name="Postmortem draft").click()
    expect(page.get_by_role("heading", name=re.compile("^Postmortem: Checkout"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the Markdown").click()
    assert download.value.suggested_filename == f"postmortem-{incident_id}.md"
    screenshot(page, tmp_path, "postmortem")


def test_a_non_approver_sees_the_workflows_refusal_even_without_javascript(
    console: Console, tmp_path
):
    incident_id = console.declare("demo-checkout", "mallory tries")
    console.wait_for_approval(incident_id, "rollback")
    page = console.page(MALLORY, java_script_enabled=False)  # plain forms
    page.goto(f"{console.url}/console/incidents/{incident_id}")
    approve = page.get_by_role("button", name="Approve rollback")
    approve.click()
    expect(page.get_by_role("alert")).to_have_text(
        "refused: mallory is not an approver of step 'rollback' (approvers: sre-lead)"  # dana-oncall declared it
    )
    expect(page.locator("table.steps tr", has_text="rollback")).to_contain_text("awaiting approval")
    screenshot(page, tmp_path, "refused")


def test_a_paused_step_is_retried_from_the_page(console: Console, tmp_path):
    console.flaky.healthy = False
    incident_id = console.declare("console-flaky", "poke fails")
    page = console.page()
    page.goto(f"{console.url}/console/incidents/{incident_id}")
    retry = page.get_by_role("button", name="Retry poke")
    expect(retry).to_be_visible()  # live: the step fails after the page loaded, or before
    expect(page.locator("table.steps tr", has_text="poke")).to_contain_text("503")
    console.flaky.healthy = True
    retry.click()
    expect(page.get_by_role("status")).to_contain_text("Done: retry poke")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li", has_text="retried")).to_contain_text("dana-oncall")
    expect(
        timeline.locator("li", has_text="step succeeded").filter(has_text="poke")
    ).to_be_visible()
    screenshot(page, tmp_path, "retried")


def test_an_alert_label_with_html_shows_as_text(console: Console, tmp_path):
    evil = "<script>alert(1)</script>"
    alert = {
        "title": "ConsoleTest",
        "dedup_key": f"console-{uuid.uuid4().hex[:8]}",
        "labels": {"evil": evil},
        "annotations": {"runbook_url": '"><img src=x onerror=alert(2)>'},
    }
    incident_id = console.api("POST", "/v1/alerts", json=alert)["incident_id"]
    page = console.page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{console.url}/console/incidents/{incident_id}")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    labels = page.locator("article.alert dl.labels").first
    expect(labels.locator("div", has_text="evil").locator("dd")).to_have_text(evil)
    expect(page.locator("article.alert")).to_contain_text('"><img src=x onerror=alert(2)>')
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []
    screenshot(page, tmp_path, "alert")


def test_the_phone_viewport_has_no_horizontal_scroll(console: Console, tmp_path):
    incident_id = console.declare("demo-checkout", "seen on a phone " + "x" * 120)
    page = console.page(viewport={"width": 390, "height": 844}, is_mobile=True)
    for path in ("/console/", f"/console/incidents/{incident_id}", "/console/runbooks"):
        page.goto(f"{console.url}{path}")
        expect(page.locator("main h1").first).to_be_visible()
        if "incidents/" in path:
            expect(page.get_by_role("button", name="Approve rollback")).to_be_visible()
        wide = page.evaluate(
            "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        assert wide[0] <= wide[1], f"{path}: {wide[0]}px wide on a {wide[1]}px screen"
        screenshot(page, tmp_path, "phone-" + path.strip("/").replace("/", "-"))
