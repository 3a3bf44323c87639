"""What a template refers to: root-name attribute paths read off the Jinja2 AST (placeholder)."""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment()


def references(text: str) -> set[tuple[str, ...]]:
    """`{{ steps['a'].json.x }}` → {("steps", "a", "json", "x")}; `{{ steps }}` → {("steps",)}."""
    return set(_walk(_env.parse(text)))


def _walk(node: nodes.Node) -> Iterator[tuple[str, ...]]:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # `x.json.get('k')`: a method of the value, so the whole value is needed
        yield from _walk(node.node.node)
        for child in [*node.args, *node.kwargs]:
            yield from _walk(child)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        path, rest = _chain(node)
        if path:
            yield path
        for child in rest:
            yield from _walk(child)
        return
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _chain(node: nodes.Node) -> tuple[tuple[str, ...] | None, list[nodes.Node]]:
    """The path of an attribute chain, and the nodes inside it still to walk (dynamic keys)."""
    parts: list[str] = []
    inner: list[nodes.Node] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const):
                parts.append(str(node.arg.value))
            else:
                parts.clear()  # a computed key: the whole value below is needed
                inner.append(node.arg)
            node = node.node
        elif isinstance(node, nodes.Name):
            return (node.name, *reversed(parts)), inner
        else:
            return None, [node, *inner]
