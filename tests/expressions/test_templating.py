"""Templating: the secret rule (static check and enforcement), tracked encodings, scrubbing of
every encoded and transformed form, and the limits that bound a rendering."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.secretforms import (
    HEADER_SECRET,
    URL_SECRET,
    encoded_forms,
    halves,
    leaks,
    transformed_forms,
)
from warroom.errors import TemplateError
from warroom.expressions.redaction import SecretLookup, Secrets
from warroom.expressions.templating import RenderLimits, render_value, secret_usage_problems

# ---- the secret rule ------------------------------------------------------------------

ALLOWED = [
    "{{ secret.TOKEN }}",
    "Bearer {{ secret['TOKEN'] }}",
    "{{ 'Bearer ' ~ secret.TOKEN ~ '!' }}",
    "{{ secret.TOKEN | urlencode }}",
    "Basic {{ ('user:' ~ secret.TOKEN) | b64encode }}",
    "{{ secret.TOKEN | urlencode | b64encode }}",
    "{{ secret.A if incident.sev == 'SEV1' else secret.B }}",
    "{% if incident.x %}{{ secret.TOKEN }}{% endif %}",
    "{% for u in incident.urls %}{{ u }}?t={{ secret.TOKEN | urlencode }}{% endfor %}",
    "{{ incident.title | upper }} has no secret at all",
]

REFUSED = [
    ("{{ secret.TOKEN | upper }}", "secret.TOKEN is passed to filter 'upper'"),
    ("{{ secret.TOKEN[:4] }}", "secret.TOKEN is indexed or sliced"),
    ("{{ secret.TOKEN.lower() }}", "secret.TOKEN is used through .lower"),
    ("{{ steps[secret.TOKEN] }}", "secret.TOKEN is indexed or sliced"),
    ("{{ secret }}", "`secret` may only be used as secret.NAME"),
    ("{{ secret[incident.name] }}", "`secret` may only be used as secret.NAME"),
    ("{% set t = secret.TOKEN %}{{ t }}", "secret.TOKEN is assigned to a variable"),
    ("{% if secret.TOKEN == 'x' %}y{% endif %}", "secret.TOKEN is compared"),
    ("{{ secret.TOKEN is string }}", "secret.TOKEN is tested with 'string'"),
    ("{% for c in secret.TOKEN %}{{ c }}{% endfor %}", "secret.TOKEN is looped over"),
    ("{{ 'x' | replace('x', secret.TOKEN) }}", "secret.TOKEN is passed to filter 'replace'"),
    ("{{ ('a' ~ secret.TOKEN) | upper }}", "passed to filter 'upper'"),
    ("{% filter upper %}{{ secret.TOKEN }}{% endfilter %}", "inside a block that captures"),
    ("{% set x %}{{ secret.TOKEN }}{% endset %}{{ x[1:] }}", "inside a block that captures"),
    ("{% macro m() %}{{ secret.TOKEN }}{% endmacro %}{{ m()[2:] }}", "captures its output"),
]


@pytest.mark.parametrize("template", ALLOWED)
def test_whole_and_encoded_secret_uses_are_allowed(template: str):
    assert secret_usage_problems(template) == []


@pytest.mark.parametrize(("template", "problem"), REFUSED)
def test_any_other_operation_on_a_secret_is_a_problem(template: str, problem: str):
    problems = secret_usage_problems(template)
    assert len(problems) == 1 and problem in problems[0], problems
    assert "may only be written whole" in problems[0] or "secret.NAME" in problems[0]


def test_an_unparsable_template_has_no_secret_problems_to_report():
    assert secret_usage_problems("{{ secret.X ") == []


@pytest.mark.parametrize(("template", "problem"), REFUSED[:3])
def test_rendering_refuses_a_template_with_secret_problems(template: str, problem: str):
    secrets = Secrets({"WARROOM_SECRET_TOKEN": HEADER_SECRET})
    with pytest.raises(TemplateError) as info:
        render_value({"h": template}, {"secret": SecretLookup(secrets), "steps": {}})
    assert problem in str(info.value)
    assert secrets.used == []  # refused before any secret was read


def test_encoding_filter_outputs_are_tracked_only_when_they_carry_a_secret():
    secrets = Secrets({"WARROOM_SECRET_TOKEN": URL_SECRET})
    rendered = render_value(
        ["{{ incident.title | urlencode }}", "Basic {{ ('user:' ~ secret.TOKEN) | b64encode }}"],
        {"secret": SecretLookup(secrets), "incident": {"title": "checkout down"}},
    )
    assert rendered[0] == "checkout%20down"
    assert secrets.derived == [rendered[1].removeprefix("Basic ")]
    assert secrets.scrub(" ".join(rendered)) == "checkout%20down Basic ***"


# ---- scrubbing ------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [URL_SECRET, HEADER_SECRET, "pa ss+w/rd=😀\n\t"])
def test_every_encoded_form_is_scrubbed(secret: str):
    secrets = Secrets({"WARROOM_SECRET_X": secret})
    assert secret == secrets.resolve("X")
    scrubbed = [secrets.scrub(f"before {form} after") for form in encoded_forms(secret)]
    assert leaks(scrubbed, [secret]) == []
    assert all(s.startswith("before ") and s.endswith(" after") for s in scrubbed)


@pytest.mark.parametrize("name", ["used", "derived", "values", "scrub", "resolve"])
def test_templates_reach_secrets_by_name_only(name: str):
    secrets = Secrets({f"WARROOM_SECRET_{name}": "by-name", "WARROOM_SECRET_T": "other"})
    data = {"secret": SecretLookup(secrets)}
    assert render_value(["{{ secret.T }}", f"{{{{ secret.{name} }}}}"], data) == [
        "other",
        "by-name",
    ]


def test_scrubbing_only_the_start_of_a_long_text_never_keeps_part_of_a_secret():
    secrets = Secrets({"WARROOM_SECRET_X": URL_SECRET})
    secrets.resolve("X")
    form = urllib.parse.quote(urllib.parse.quote(URL_SECRET, safe=""), safe="")
    window = 200 + 2 * (40 * len(URL_SECRET) + 64)
    # Forms scrubbed before the edge shrink the text, pulling what lies at the edge forward.
    many = (form + "-") * (window // len(form))
    for at in range(0, window + 100, 7):
        text = "x" * at + form + "y" * 100_000
        for candidate in (text, many + text):
            kept = secrets.scrub_prefix(candidate, 200)[:200]
            assert not any(form[:n] in kept for n in range(4, len(form) + 1)), at


def test_scrubbing_leaves_other_text_alone():
    secrets = Secrets({"WARROOM_SECRET_X": "s3cr3t-token"})
    assert secrets.resolve("X")
    # Its halves (6 characters) are too short to be told from ordinary words: they stay.
    text = 's3cr3t token {"a": "s3cr3t_token"} %73%33 s3cr3t- -token'
    assert secrets.scrub(text) == text
    assert secrets.scrub_data({"s3cr3t-token": ["x S3CR3T-Token"]}) == {"***": ["x ***"]}


ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.mark.parametrize("secret", [URL_SECRET, HEADER_SECRET, ROUTING_KEY])
def test_case_changed_reversed_and_halved_forms_are_scrubbed(secret: str):
    """What an endpoint's error message makes of a secret it was sent: "unknown key ABC...",
    "key must not start with ...", a reversed or half-quoted value (each in any encoding)."""
    secrets = Secrets({"WARROOM_SECRET_X": secret})
    secrets.resolve("X")
    forms = {secret.upper(), secret.lower(), secret.swapcase(), secret[::-1].upper()}
    forms |= {f.upper() for f in encoded_forms(secret)} | {f.lower() for f in encoded_forms(secret)}
    forms |= transformed_forms(secret) | {f.swapcase() for f in transformed_forms(secret)}
    scrubbed = [secrets.scrub(f"before {form} after") for form in forms]
    assert leaks(scrubbed, [secret]) == []
    assert all(s.startswith("before ") and s.endswith(" after") for s in scrubbed)
    # Halves apart, as "starts with FIRST ... ends with SECOND" says them.
    for first, second in [(secret[: len(secret) // 2], secret[len(secret) // 2 :])]:
        said = secrets.scrub(f"key starts with {first.upper()}, ends with {second}.")
        assert said == "key starts with ***, ends with ***."


def test_halves_of_a_short_secret_are_not_scrubbed_on_their_own():
    secret = "abcdefg-HIJKLMN"  # 15 characters: halves of 7, too likely to be ordinary text
    assert halves(secret) == set()
    secrets = Secrets({"WARROOM_SECRET_X": secret})
    secrets.resolve("X")
    text = "abcdefg HIJKLMN"
    assert secrets.scrub(text) == text
    assert secrets.scrub(f"({secret.upper()}) ({secret[::-1]})") == "(***) (***)"


# ---- limits ---------------------------------------------------------------------------


def render(template: str, limits: RenderLimits | None = None) -> str:
    return render_value(template, {"incident": {"items": [1, 2]}}, limits)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("template", "limit"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "limit of 100000 operations",
        ),
        # loops over a variable, with no call or output inside, still spend the budget
        (
            "{% set r = incident['items'] * 500 %}"
            "{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}",
            "limit of 100000 operations",
        ),
        ("{{ 'x' * 1000000000 }}", "repetition would exceed the output limit"),
        ("{{ '%999999999d' % 1 }}", "format width would exceed the output limit"),
        ("{{ '{:>999999999}'.format(1) }}", "format width would exceed the output limit"),
        ("{{ 'x' | center(999999999) }}", "'center' argument would exceed the output limit"),
        ("{{ 10 ** 1000 ** 100 }}", "number to 100 is too large"),
        ("{{ 10 ** 100000 }}", "power of a 4-bit number to 100000 is too large"),
        ("{% for i in range(30000) %}{{ 'x' * 60 }}{% endfor %}", "output would exceed"),
    ],
)
def test_a_rendering_over_a_limit_is_a_template_error_naming_it(template: str, limit: str):
    with pytest.raises(TemplateError) as info:
        render(template)
    assert limit in str(info.value)


def test_a_rendering_past_its_deadline_names_the_time_limit():
    endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError) as info:
        render(endless, RenderLimits(seconds=0.05, operations=10**12))
    assert "exceeded its time limit of 0.05 s" in str(info.value)


def test_lipsum_is_not_available():
    with pytest.raises(TemplateError, match="lipsum"):
        render("{{ lipsum(100000) }}")


def test_an_error_of_the_templates_own_making_is_a_template_error():
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}")


def test_ordinary_templates_still_render():
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}|{{ incident['items'] | sum }}") == (
        "012|3"
    )
