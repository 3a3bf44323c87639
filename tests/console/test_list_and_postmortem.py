"""The incident list shows each incident's title and summary, says the order it lists in, and
its headers stay whole on a 1280-pixel screen; the postmortem page links only to the
console's own pages and the Temporal UI (people's links show their text and target)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import Console, screenshot
from warroom.console import render

EVIL = "https://evil.example"
#: Links people might write in a note, a comment or a summary, as Markdown.
LINKS = (
    f"[click here]({EVIL}/steal?c=1) <{EVIL}/auto> ![pixel]({EVIL}/p.png) "
    f"[ref link][r] [own page](/console/runbooks)\n\n[r]: {EVIL}/ref"
)


def lines_of(page: Page, selector: str) -> list[int]:
    """For each element: on how many lines its text is laid out."""
    counted: list[int] = page.eval_on_selector_all(
        selector,
        """els => els.map(el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        })""",
    )
    return counted


def test_the_list_shows_titles_in_the_order_it_says_and_whole_headers_at_1280px(
    console: Console, tmp_path
):
    first = console.declare("console-flaky", "the flaky endpoint " + "is down " * 20)
    second = console.declare("demo-checkout", "checkout 5xx at 20%")
    page = console.page(viewport={"width": 1280, "height": 800})
    page.goto(f"{console.url}/console/")
    row = page.locator("#rows tr", has=page.get_by_role("link", name=second))
    expect(row.locator("td[data-label=Title]")).to_contain_text("Checkout 5xx spike after deploy")
    expect(row.locator("td[data-label=Title]")).to_contain_text("checkout 5xx at 20%")
    row = page.locator("#rows tr", has=page.get_by_role("link", name=first))
    expect(row.locator("td[data-label=Title]")).to_contain_text("Flaky endpoint")
    expect(page.locator("table.list caption")).to_contain_text("Open incidents first")
    headers = page.locator("table.list thead th").all_inner_texts()
    assert headers[:2] == ["Incident", "Title"]
    assert lines_of(page, "table.list thead th") == [1] * len(headers), headers
    wide = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert wide[0] <= wide[1], f"{wide[0]}px wide on a {wide[1]}px screen"
    screenshot(page, tmp_path, "incidents-1280")


def test_the_postmortem_page_links_only_to_warrooms_own_pages(console: Console, tmp_path):
    incident_id = console.declare("console-flaky", f"summary with {LINKS}")
    console.api("POST", f"/v1/incidents/{incident_id}/note", json={"text": f"note: {LINKS}"})
    page = console.page()
    page.goto(f"{console.url}/console/incidents/{incident_id}/postmortem")
    article = page.locator("article.markdown")
    expect(article).to_contain_text(f"note: click here ({EVIL}/steal?c=1)")
    expect(article).to_contain_text(f"summary with click here ({EVIL}/steal?c=1)")
    hrefs = article.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(h == "/console/runbooks" for h in hrefs), hrefs
    assert article.locator("img").count() == 0
    text = article.inner_text()
    assert f"{EVIL}/auto" in text and f"pixel ({EVIL}/p.png)" in text
    screenshot(page, tmp_path, "postmortem-links")


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        (f"[x]({EVIL}/a)", f"<p>x ({EVIL}/a)</p>"),
        (f"[*x*]({EVIL}/a)", f"<p><em>x</em> ({EVIL}/a)</p>"),
        (f"<{EVIL}/a>", f"<p>{EVIL}/a</p>"),
        (f"![x]({EVIL}/p.png)", f"<p>x ({EVIL}/p.png)</p>"),
        (f"[x][r]\n\n[r]: {EVIL}/r", f"<p>x ({EVIL}/r)</p>"),
        ("[x](//evil.example/a)", "<p>x (//evil.example/a)</p>"),
        ("[x](/console/../v1/incidents)", "<p>x (/console/../v1/incidents)</p>"),
        ("[x](mailto:a@evil.example)", "<p>x (mailto:a@evil.example)</p>"),
        ("[x](/console/runbooks)", '<p><a href="/console/runbooks">x</a></p>'),
        ("[ui](http://ui.example:8233/namespaces/default/workflows/inc-a)",
         '<p><a href="http://ui.example:8233/namespaces/default/workflows/inc-a">ui</a></p>'),
        ("[ui](http://ui.example:8233.evil.example/x)", "<p>ui (http://ui.example:8233.evil.example/x)</p>"),
    ],
)  # fmt: skip
def test_markdown_links_go_only_to_the_console_and_the_temporal_ui(
    markdown: str, html: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(render.TEMPORAL_UI_ENV, "http://ui.example:8233/")
    assert render.markdown(markdown).strip() == html
