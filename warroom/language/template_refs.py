"""What a runbook template refers to, worked out from its Jinja2 syntax tree without rendering it.

The loader uses this to refuse references to unknown or later steps at load time; the
workflow uses the same answers to send an activity only the values its templates read.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from jinja2 import meta, nodes

from warroom.expressions.templating import environment

#: A reference: the root name and the attribute/key path read from it,
#: e.g. ("steps", "measure-impact", "json", "x").
Ref = tuple[str, ...]


# Parsing only: no template here is ever rendered, so no undefined handling is needed.
def is_template(value: Any) -> bool:
    """Whether a value is a string Jinja2 would treat as a template (not plain text)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


def parse(text: str) -> nodes.Template:
    """The syntax tree of a template; raises jinja2.TemplateSyntaxError.

    Jinja2's parser recurses once per nesting level, so `{{ [[[[…` thousands deep would
    raise RecursionError: that is reported as a syntax error too.
    """
    try:
        return environment().parse(text)
    except RecursionError:
        raise jinja2.TemplateSyntaxError("the template is nested too deeply", 1) from None


def syntax_error(text: str) -> str | None:
    """Why a template does not compile, or None when it does."""
    try:
        # Compiling, not only parsing, finds unknown filters and tests.
        environment().compile(parse(text))
    except RecursionError:
        return "template syntax error: the template is nested too deeply"
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error on its line {exc.lineno}: {exc.message}"
    return None


@functools.lru_cache(maxsize=4096)
def references(text: str) -> frozenset[Ref]:
    """Root-name paths a template reads: `{{ steps['a'].json.x }}` → {("steps", "a", "json", "x")}.

    Follows `.attr`, `['key']`, `[0]` and `.get('key')`; stops at a computed subscript
    (`steps[name]` → ("steps",)). Names the template defines itself (`{% set %}`, loop
    variables, macro arguments) are not references. Plain text has none. A template that
    does not compile has none either: check `syntax_error` first.
    """
    if not is_template(text):
        return frozenset()
    try:
        tree = parse(text)
    except jinja2.TemplateSyntaxError:
        return frozenset()
    found: set[Ref] = set()
    try:
        _collect(tree, meta.find_undeclared_variables(tree), found)
    except RecursionError:  # parsed, yet too deep to walk: nothing can be said about it
        return frozenset()
    # Cached (the workflow asks for every step it runs), so immutable.
    return frozenset(found)


def references_in(value: Any) -> set[Ref]:
    """References of every template string inside `value` (a step's `with`: dicts, lists)."""
    if isinstance(value, str):
        return set(references(value))
    found: set[Ref] = set()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        found |= references_in(item)
    return found


def single_expression(text: str) -> bool:
    """Whether the template is exactly one `{{ expression }}` and nothing else (a `when`)."""
    try:
        tree = parse(text.strip())
    except jinja2.TemplateSyntaxError:
        return False
    body = tree.body
    return (
        len(body) == 1
        and isinstance(body[0], nodes.Output)
        and len(body[0].nodes) == 1
        and not isinstance(body[0].nodes[0], nodes.TemplateData)
    )


def _chain(node: nodes.Node) -> Ref | None:
    """The path a Name/Getattr/Getitem/.get() chain reads, or None when `node` is not one."""
    found = _walk_chain(node)
    return None if found is None else found[0]


def _walk_chain(node: nodes.Node) -> tuple[Ref, bool] | None:
    """(path, open): `open` is False after a computed key, whose path cannot be extended."""
    if isinstance(node, nodes.Name):
        return (node.name,), True
    inner: tuple[Ref, bool] | None
    if isinstance(node, nodes.Getattr):
        key: str | None = node.attr
        inner = _walk_chain(node.node)
    elif isinstance(node, nodes.Getitem):
        const = isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int)
        key = str(node.arg.value) if const else None  # type: ignore[attr-defined]
        inner = _walk_chain(node.node)
    elif (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr == "get"
        and node.args
        and isinstance(node.args[0], nodes.Const)
        and isinstance(node.args[0].value, str)
    ):
        key = node.args[0].value
        inner = _walk_chain(node.node.node)
    else:
        return None
    if inner is None:
        return None
    path, is_open = inner
    if not is_open:
        return path, False
    if key is None:  # computed key: the reference is as far as we can tell
        return path, False
    return (*path, key), True


def _spine_children(node: nodes.Node) -> list[nodes.Node]:
    """Sub-expressions of a chain that are not the chain itself (a computed key, call args)."""
    if isinstance(node, nodes.Getattr):
        return _spine_children(node.node)
    if isinstance(node, nodes.Getitem):
        return [node.arg, *_spine_children(node.node)]
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        return [*node.args[1:], *_spine_children(node.node.node)]
    return []


def _collect(node: nodes.Node, free: set[str], found: set[Ref]) -> None:
    chain = _chain(node)
    if chain is not None and not (isinstance(node, nodes.Name) and node.ctx != "load"):
        if chain[0] in free:
            found.add(chain)
        for child in _spine_children(node):
            _collect(child, free, found)
        return
    for child in node.iter_child_nodes():
        _collect(child, free, found)
