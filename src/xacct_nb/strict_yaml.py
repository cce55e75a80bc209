"""YAML for files people write by hand (params files): PyYAML's safe loader, made strict.

PyYAML's ``safe_load`` keeps the LAST of two equal keys in a mapping without a word, so a params
file with ``access_type: Read`` and then ``access_type: Full`` in one table entry grants Full.
`load` refuses that, at any depth, naming the key as a dotted path (``table_access_list[0].
access_type``) with the line and column of both occurrences. Keys that are equal once loaded
count as equal (``1`` and ``1.0``, ``true`` and ``1``): Python's dict would merge them too.

Merge keys (``<<: *defaults``) are refused as well: a merged key silently gives way to a key
written next to it, which is the same surprise. Anchors and aliases without ``<<`` are fine.

Pure: text in, Python values out; no I/O.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import StrictYamlError

__all__ = ["StrictYamlError", "load"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load(text: str) -> Any:
    """`text` as ``yaml.safe_load`` reads it, or StrictYamlError (duplicate or merge keys), or
    yaml.YAMLError (not YAML)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(loader, node, "", set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(loader: yaml.SafeLoader, node: Node, path: str, visited: set[int]) -> None:
    if id(node) in visited:  # an alias: its node was checked where it was anchored
        return
    visited.add(id(node))
    if isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check(loader, item, f"{path}[{i}]", visited)
        return
    if not isinstance(node, MappingNode):
        return
    seen: dict[Any, Node] = {}
    for key_node, value_node in node.value:
        mark = key_node.start_mark
        if key_node.tag == _MERGE_TAG:
            raise StrictYamlError(_join(path, "<<"), mark.line + 1, mark.column + 1,
                                  "YAML merge keys are not accepted",
                                  "write the keys out (a merged key silently gives way to one written next to it)")
        key = loader.construct_object(key_node, deep=True)
        name = _join(path, key)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: constructing the mapping reports it
            continue
        if first is not None:
            raise StrictYamlError(name, mark.line + 1, mark.column + 1, "is given twice in the same mapping",
                                  "keep one: YAML would silently use the last one",
                                  f"line {first.start_mark.line + 1}, column {first.start_mark.column + 1}")
        seen[key] = key_node
        _check(loader, value_node, name, visited)


def _join(path: str, key: Any) -> str:
    text = key if isinstance(key, str) and key.isprintable() and len(key) <= 60 else repr(key)[:60]
    return f"{path}.{text}" if path else str(text)
