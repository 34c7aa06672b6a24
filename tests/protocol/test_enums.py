"""The vocabulary is defined once: no module spells one of its word lists out again."""

from __future__ import annotations

import ast
from pathlib import Path

import trizap
from trizap.protocol.enums import (
    DESIRED_STATES,
    ENGINE_NAMES,
    FAULT_KINDS,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    SESSION_STATUSES,
)

SRC = Path(trizap.__file__).parent
ENUMS = SRC / "protocol" / "enums.py"
VOCABULARIES = {
    "engine names": ENGINE_NAMES,
    "session statuses": SESSION_STATUSES,
    "message statuses": MESSAGE_STATUSES,
    "message kinds": MESSAGE_KINDS,
    "fault kinds": FAULT_KINDS,
    "desired states": DESIRED_STATES,
}


def _literal_values(tree: ast.AST) -> list[tuple[int, frozenset[object]]]:
    """Every `Literal[...]` of a module, as its line and set of values."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            values = [i.value for i in items if isinstance(i, ast.Constant)]
            found.append((node.lineno, frozenset(values)))
    return found


def test_each_vocabulary_is_spelled_out_only_in_protocol_enums() -> None:
    again = []
    for path in sorted(SRC.rglob("*.py")):
        if path == ENUMS:
            continue
        for line, values in _literal_values(ast.parse(path.read_text())):
            for name, words in VOCABULARIES.items():
                if values == frozenset(words):
                    again.append(f"{path.relative_to(SRC)}:{line} redefines the {name}")
    assert again == []


def test_the_checker_sees_a_redefinition() -> None:
    tree = ast.parse(
        'Status = Literal["queued", "sent", "delivered", "read", "failed", "cancelled"]'
    )
    assert (1, frozenset(MESSAGE_STATUSES)) in _literal_values(tree)
