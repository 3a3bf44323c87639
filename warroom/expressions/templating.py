"""Sandboxed Jinja2 rendering of step parameters: bounded in time, work and output size, off the
event loop, with `secret.NAME` resolved from the worker's environment and confined to uses
whose every form can be scrubbed.

Only runbook text is ever a template. Incident and alert content reach templates as data
(variables), never as template source.

Secret rule (checked statically by `secret_usage_problems`, enforced before every render): a
secret may be written whole (`{{ secret.NAME }}`), joined with `~`, chosen by an inline `if`, or
passed through the encoding filters in `ENCODING_FILTERS`, whose outputs are tracked and scrubbed
like the secret itself. Any other operation on it (slicing, methods, other filters, tests,
comparisons, loops, `{% set %}`, macros) is refused with a TemplateError.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment, safe_range

from warroom.errors import TemplateError, WarroomError
from warroom.expressions.redaction import SECRET_ENV_PREFIX, SecretLookup, Secrets, registry

__all__ = [
    "ENCODING_FILTERS",
    "SECRET_ENV_PREFIX",
    "RenderLimits",
    "SecretLookup",
    "Secrets",
    "environment",
    "render_in_thread",
    "render_value",
    "secret_usage_problems",
]

#: The only filters a secret may pass through; their outputs are tracked as secret.
ENCODING_FILTERS = frozenset({"urlencode", "b64encode"})

#: Nodes an `{{ output }}` carrying a secret may sit inside: none of them captures the output
#: into a value a template could transform further (as `{% set %}`, `{% filter %}` and macros do).
_PLAIN_ANCESTORS = (nodes.Template, nodes.Output, nodes.If, nodes.For, nodes.With, nodes.Scope)


@dataclass(frozen=True)
class RenderLimits:
    """What one `render_value` call may spend."""

    seconds: float = 10.0
    #: loop iterations, calls, attribute and item lookups, filters and operators
    operations: int = 100_000
    output_chars: int = 1024 * 1024


@dataclass
class _Budget:
    limits: RenderLimits
    secrets: Secrets | None
    deadline: float = field(init=False)
    operations: int = 0
    output: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limits.seconds

    def tick(self) -> None:
        self.operations += 1
        if self.operations > self.limits.operations:
            raise TemplateError(
                f"template rendering exceeded its limit of {self.limits.operations} operations "
                "(loop iterations, calls, lookups): simplify the template"
            )
        if time.monotonic() > self.deadline:
            raise _time_limit(self.limits.seconds)

    def check_size(self, chars: int, what: str = "output") -> None:
        if chars > self.limits.output_chars:
            raise TemplateError(
                f"template {what} would exceed the output limit of "
                f"{self.limits.output_chars} characters"
            )


def _time_limit(seconds: float) -> TemplateError:
    return TemplateError(
        f"template rendering exceeded its time limit of {seconds:g} s "
        "(the step's timeout, at most 10 s): simplify the template"
    )


#: The budget of the rendering running in this thread (None outside `render_value`).
_budget: ContextVar[_Budget | None] = ContextVar("warroom_template_budget", default=None)


def _tick() -> _Budget | None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()
    return budget


def _check_size(chars: int, what: str) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.check_size(chars, what)


_MAX_POWER_BITS = 65536
_FORMAT_NUMBER = re.compile(r"\d+")


def _check_format(fmt: str) -> None:
    """A width or precision in a format string allocates that many characters up front."""
    for number in _FORMAT_NUMBER.findall(fmt):
        _check_size(int(number), "format width")


class _CountedIterable:
    """An iterable whose every item costs one operation (loops, `range`, anything consuming it)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            _tick()
            yield item


def _counted(items: Iterable[Any]) -> _CountedIterable:
    return _CountedIterable(items)


def _counted_range(*args: int) -> _CountedIterable:
    return _CountedIterable(safe_range(*args))


def _guarded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every filter costs an operation, may not be asked for giant sizes, and an encoding
    filter's output is tracked as secret when its input carried one."""

    @functools.wraps(fn)  # keeps jinja's pass_context/pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _tick()
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool):
                _check_size(abs(arg), f"filter {name!r} argument")
        result = fn(*args, **kwargs)
        if isinstance(result, str):
            _check_size(len(result), f"filter {name!r} result")
            if name in ENCODING_FILTERS and budget is not None and budget.secrets is not None:
                budget.secrets.track(str(args[0]), result)
        return result

    return guarded


def _b64encode(value: Any) -> str:
    """Standard base64 of the UTF-8 text, as HTTP Basic auth wants (`user:password`)."""
    return base64.b64encode(str(value).encode("utf-8")).decode("ascii")


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with an operation/time budget checked on every call, lookup, loop iteration,
    filter and the operators that can allocate without bound."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False)
        self.globals["range"] = _counted_range
        self.globals.pop("lipsum", None)  # generates text of any requested size
        self.filters["b64encode"] = _b64encode
        self.filters["_counted"] = _counted
        self.filters = {name: _guarded_filter(name, fn) for name, fn in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every loop iterates through `_counted`, so even a loop without calls or output (over
        # a variable holding a list) spends the budget.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        return tree

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        # The sandbox hands out str.format wrapped; the format string is the bound method's self.
        method = getattr(__obj, "__wrapped__", __obj)
        if getattr(method, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(method, "__self__", None), str
        ):
            _check_format(method.__self__)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _check_size(len(seq) * times, "repetition")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            # Python computes a huge power in one uninterruptible C call.
            if right > 0 and left.bit_length() * right > _MAX_POWER_BITS:
                raise TemplateError(
                    f"template power of a {left.bit_length()}-bit number to {right} is too large "
                    f"(results are limited to {_MAX_POWER_BITS} bits)"
                )
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        return super().call_binop(context, operator, left, right)


_env = _BoundedSandbox()


def environment() -> SandboxedEnvironment:
    """The environment templates render in: its filters and tests are the ones a template may use,
    so the static checks parse and compile with it too."""
    return _env


# Parses for the static checks, without the loop instrumentation above.
_plain = jinja2.Environment()


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> jinja2.Template:
    return _env.from_string(source)


@functools.lru_cache(maxsize=1024)
def _secret_problems(source: str) -> tuple[str, ...]:
    return tuple(secret_usage_problems(source))


def secret_usage_problems(text: str) -> list[str]:
    """Every use of `secret` in template `text` that breaks the secret rule (module docstring),
    as readable sentences; empty when the template is fine or does not parse (syntax errors are
    `warroom.language.template_refs.syntax_error`'s). Pure: reads no secret, renders nothing."""
    try:
        tree = _plain.parse(text)
    except jinja2.TemplateSyntaxError:
        return []
    problems: list[str] = []

    def visit(node: nodes.Node, ancestors: list[nodes.Node]) -> None:
        if isinstance(node, nodes.Name) and node.name == "secret" and node.ctx == "load":
            problem = _secret_use_problem(node, ancestors)
            if problem:
                problems.append(problem)
        for child in node.iter_child_nodes():
            visit(child, [*ancestors, node])

    visit(tree, [])
    return problems


def _secret_use_problem(name: nodes.Name, ancestors: list[nodes.Node]) -> str | None:
    parent = ancestors[-1]
    if isinstance(parent, nodes.Getattr) and parent.node is name:
        label = f"secret.{parent.attr}"
    elif (
        isinstance(parent, nodes.Getitem)
        and parent.node is name
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        label = f"secret[{parent.arg.value!r}]"
    else:
        return "`secret` may only be used as secret.NAME or secret['NAME'] with a literal NAME"
    current: nodes.Node = parent
    for depth in range(len(ancestors) - 2, -1, -1):
        node = ancestors[depth]
        if isinstance(node, nodes.Output):
            if all(isinstance(a, _PLAIN_ANCESTORS) for a in ancestors[:depth]):
                return None
            return f"{label} is written inside a block that captures its output ({_RULE})"
        passes_whole = (
            isinstance(node, nodes.Concat)
            or (isinstance(node, nodes.CondExpr) and current in (node.expr1, node.expr2))
            or (
                isinstance(node, nodes.Filter)
                and node.node is current
                and node.name in ENCODING_FILTERS
            )
        )
        if not passes_whole:
            return f"{label} is {_describe(node)} ({_RULE})"
        current = node
    return f"{label} is never written out ({_RULE})"  # pragma: no cover - Output always encloses


_RULE = (
    "a secret may only be written whole as {{ secret.NAME }}, joined with ~, or encoded with "
    + " or ".join(f"| {f}" for f in sorted(ENCODING_FILTERS))
    + ", so that every form of it can be scrubbed from what is recorded"
)


#: How a node uses the secret inside it, for the refusal message.
_USES: tuple[tuple[type[nodes.Node] | tuple[type[nodes.Node], ...], Callable[[Any], str]], ...] = (
    (nodes.Filter, lambda n: f"passed to filter {n.name!r}"),
    (nodes.Getattr, lambda n: f"used through .{n.attr}"),
    ((nodes.Getitem, nodes.Slice), lambda n: "indexed or sliced"),
    (nodes.Call, lambda n: "passed to or used in a call"),
    (nodes.Test, lambda n: f"tested with {n.name!r}"),
    ((nodes.Compare, nodes.Operand), lambda n: "compared"),
    (nodes.For, lambda n: "looped over"),
    ((nodes.Assign, nodes.AssignBlock), lambda n: "assigned to a variable"),
)


def _describe(node: nodes.Node) -> str:
    for kind, say in _USES:
        if isinstance(node, kind):
            return say(node)
    return f"used in a {type(node).__name__} expression"


def render_value(value: Any, data: Mapping[str, Any], limits: RenderLimits | None = None) -> Any:
    """Render every string inside `value` (dicts and lists walked) as a template over `data`,
    within `limits` for the whole value. Blocking: from async code use `render_in_thread`."""
    lookup = data.get("secret")
    secrets = registry(lookup) if isinstance(lookup, SecretLookup) else None
    budget = _Budget(limits or RenderLimits(), secrets)
    token = _budget.set(budget)
    try:
        return _render(value, data, budget)
    finally:
        _budget.reset(token)


async def render_in_thread(
    value: Any, data: Mapping[str, Any], limits: RenderLimits | None = None
) -> Any:
    """`render_value` in a worker thread, so a heavy template never stalls the event loop (and
    with it every other incident on the worker)."""
    limits = limits or RenderLimits()
    try:
        # The budget ends the rendering at its deadline; the extra second is for a thread that
        # is stuck in one long C call between two checks: the step fails on time anyway.
        return await asyncio.wait_for(
            asyncio.to_thread(render_value, value, data, limits), limits.seconds + 1
        )
    except TimeoutError:
        raise _time_limit(limits.seconds) from None


def _render(value: Any, data: Mapping[str, Any], budget: _Budget) -> Any:
    if isinstance(value, str):
        return _render_text(value, data, budget)
    if isinstance(value, dict):
        return {k: _render(v, data, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, data, budget) for v in value]
    return value


def _render_text(value: str, data: Mapping[str, Any], budget: _Budget) -> str:
    if "{{" not in value and "{%" not in value:
        return value
    if problems := _secret_problems(value):
        raise TemplateError(f"template {value!r} is refused: {'; '.join(problems)}")
    try:
        chunks = []
        for chunk in _compiled(value).generate(data):
            budget.output += len(chunk)
            budget.check_size(budget.output)
            budget.tick()
            chunks.append(chunk)
        return "".join(chunks)
    except WarroomError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"template {value!r} failed: {exc} (templates see incident, params, steps and "
            "secret; steps['ID'] exists once step ID has ended, with its status and either its "
            "declared outputs or its whole result as steps['ID'].result)"
        ) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {value!r} failed: {exc}") from exc
    except Exception as exc:  # any error of the template's own making
        raise TemplateError(f"template {value!r} failed: {type(exc).__name__}: {exc}") from exc
