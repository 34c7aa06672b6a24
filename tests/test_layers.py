"""The packages of trizap import one way:

    http -> runtime -> domain -> supervisor -> actors
                       domain -> whatsapp, store, protocol
                       whatsapp, store -> protocol;  config -> protocol

A layer may import any layer below it, never one above: the actor kernel imports nothing
else of trizap, the vocabulary (`protocol`) nothing at all. `dbthread` (a thread that owns
a database connection and group-commits) is plumbing that the store and the sim network's
own store both use; it imports nothing, and neither does `outbound` (requests to addresses
users give: the address rule and its HTTP client). `cli` (the command line) and
the package's lazy `__init__` sit on top of everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import trizap

SRC = Path(trizap.__file__).parent

BELOW: dict[str, set[str]] = {
    "protocol": set(),
    "actors": set(),
    "dbthread": set(),
    "outbound": set(),
    "config": {"protocol"},
    "store": {"protocol", "dbthread"},
    "whatsapp": {"protocol", "dbthread"},
    "supervisor": {"actors"},
    "domain": {
        "supervisor",
        "actors",
        "whatsapp",
        "store",
        "protocol",
        "config",
        "dbthread",
        "outbound",
    },
    "runtime": {
        "domain",
        "supervisor",
        "actors",
        "whatsapp",
        "store",
        "protocol",
        "config",
        "dbthread",
        "outbound",
    },
    "http": {"runtime", "domain", "supervisor", "actors", "store", "protocol", "config"},
}
TOP = {"cli", "__main__", "__init__"}


def _layer(module: str) -> str:
    """`trizap.domain.session.actor` -> `domain`; `trizap.config` -> `config`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, module: str, source: str) -> list[tuple[int, str]]:
    """The trizap modules `source` (the module `module`, at `path`) imports, absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("trizap")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "trizap":  # `from trizap import x`: x is the layer
                found += [(node.lineno, f"trizap.{a.name}") for a in node.names]
            elif target.startswith("trizap."):
                found.append((node.lineno, target))
    return found


def violations(path: Path, module: str, source: str) -> list[str]:
    layer = _layer(module)
    if layer in TOP:
        return []
    allowed = BELOW[layer] | {layer}
    return [
        f"{module}:{line} imports {target} ({layer} may import {sorted(BELOW[layer])})"
        for line, target in _imports(path, module, source)
        if _layer(target) not in allowed
    ]


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out.append((path, ".".join(parts)))
    return out


def test_every_package_is_a_known_layer() -> None:
    layers = {_layer(module) for _, module in _modules()}
    assert layers <= set(BELOW) | TOP, layers - set(BELOW) - TOP


def test_no_import_goes_against_the_direction() -> None:
    found = []
    for path, module in _modules():
        found += violations(path, module, path.read_text())
    assert found == []


def test_the_check_sees_an_upward_import() -> None:
    path = SRC / "actors" / "ref.py"
    assert violations(path, "trizap.actors.ref", "from ..runtime import Runtime\n")
    assert violations(path, "trizap.actors.ref", "from ..domain.hub import EventHub\n")
    assert violations(path, "trizap.actors.ref", "import trizap.supervisor\n")
    store = SRC / "store" / "base.py"
    assert violations(store, "trizap.store.base", "from ..whatsapp.engine import Engine\n")
    assert violations(store, "trizap.store.base", "from trizap import runtime\n")
    assert not violations(store, "trizap.store.base", "from ..protocol.enums import X\n")
    domain = SRC / "domain" / "session" / "actor.py"
    assert violations(domain, "trizap.domain.session.actor", "from ...runtime import Sessions\n")
    assert not violations(domain, "trizap.domain.session.actor", "from ..deps import Deps\n")
