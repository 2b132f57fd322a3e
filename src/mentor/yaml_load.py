"""YAML loading with alias expansion bounded.

PyYAML's safe loader shares one object for every alias of an anchor, so a few hundred bytes of nested
aliases ("billion laughs") load instantly and then explode when anything walks the data (JSON
canonicalisation of a rubric, deep copies of a config). Here the composed node graph is measured with
aliases expanded before anything is constructed; a document that would expand past `MAX_NODES`, or
that refers to itself, is refused as a YAML error.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000  # a large config or rubric has a few thousand


class AliasExpansionError(yaml.YAMLError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def _expanded_size(root: yaml.Node, limit: int) -> int:
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise AliasExpansionError("an alias refers to the node that contains it (a recursive document)")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > limit:
            raise AliasExpansionError(f"aliases expand to more than {limit:,} nodes (a YAML alias bomb?); "
                                      "write the values out, or nest fewer aliases")
        sizes[key] = total
        return total

    try:
        return size(root)
    except RecursionError:
        raise AliasExpansionError("the document is nested too deeply") from None


def safe_load(text: str, *, max_nodes: int = MAX_NODES) -> Any:
    """`yaml.safe_load`, refusing documents whose aliases expand past `max_nodes` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes)
        return loader.construct_document(node)
    finally:
        loader.dispose()
