"""The API reference in docs/api.md, written from the OpenAPI document.

    python -m trizap.http.apidoc docs/api.md    # rewrites the generated part in place

Everything between the two marker lines of the file is replaced by `render(...)`:
every route (what it does, who may call it, its parameters, body, answers and errors, an
example request and answer) and every object the routes and the WebSocket exchange (its
fields, their types and whether they are always there). The rest of the file is written
by hand. `tests/http/test_apidoc.py` fails when the file is not what this module writes
from the current code, so the reference cannot drift from the server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

BEGIN: Final = (
    "<!-- reference: written by `python -m trizap.http.apidoc docs/api.md`; do not edit -->"
)
END: Final = "<!-- end of the reference -->"

_AUTH: Final = {
    "none": "none",
    "any": "any token (`Authorization: Bearer <token>`)",
    "admin": "the admin token (`Authorization: Bearer <token>`)",
    "tenant": "a tenant token (`Authorization: Bearer <token>`)",
}


def document() -> tuple[dict[str, Any], dict[str, str]]:
    """The OpenAPI document the server publishes, and who may call each operation (by
    operation id: `none`, `any`, `admin` or `tenant`)."""
    from .app import _version, operations
    from .openapi import openapi_document

    ops = operations()
    return openapi_document(ops, version=_version()), {op.operation_id: op.auth for op in ops}


def render(doc: Mapping[str, Any], auth: Mapping[str, str]) -> str:
    schemas = doc["components"]["schemas"]
    out = ["## Routes", ""]
    tags = [t["name"] for t in doc["tags"]]
    by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {t: [] for t in tags}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            by_tag[operation["tags"][0]].append((method.upper(), path, operation))
    for tag in tags:
        out += [f"### {tag.capitalize()}", ""]
        for method, path, operation in by_tag[tag]:
            out += _operation(method, path, operation, auth[operation["operationId"]])
    out += ["## Objects", ""]
    out += [
        "The bodies and answers above, and the WebSocket's frames. A field marked *always*",
        "is in every instance (it may still be `null` where its type says so).",
        "",
    ]
    for name, schema in schemas.items():
        out += _object(name, schema)
    return "\n".join(out).rstrip() + "\n"


def _operation(method: str, path: str, operation: Mapping[str, Any], auth: str) -> list[str]:
    out = [f"#### `{method} {path}`", "", f"**{operation['summary']}.**", ""]
    if operation.get("description"):
        out += [operation["description"], ""]
    who = _AUTH[auth]
    if len(operation.get("security", [])) > 1:
        who += ", or `?token=` on the URL"
    out += [f"- Auth: {who}."]
    for param in operation.get("parameters", []):
        out.append(f"- {_parameter(param)}")
    body = operation.get("requestBody")
    if body is not None and "application/json" in body["content"]:
        schema = body["content"]["application/json"]["schema"]
        required = "" if body.get("required") else " (optional: an empty body is `{}`)"
        out.append(f"- Body: {_type(schema)}{required}.")
    elif body is not None:  # not JSON: a file's bytes, as they come
        out.append("- Body: " + " or ".join(f"`{kind}`" for kind in body["content"]) + ".")
    answers = []
    errors = []
    for status, answer in operation["responses"].items():
        if "$ref" in answer:
            errors.append(status)
            continue
        content = answer.get("content", {})
        kinds = [
            _type(media["schema"]) if kind == "application/json" else f"`{kind}`"
            for kind, media in content.items()
        ]
        what = f" {', '.join(kinds)}" if kinds else ""
        answers.append(f"{status} {answer['description']}{what}")
    out.append(f"- Answers: {'; '.join(answers)}.")
    if errors:
        out.append(f"- Errors (problem+json): {', '.join(errors)}.")
    out.append("")
    if body is not None:
        example = body["content"].get("application/json", {}).get("example")
        if example is not None:
            out += ["Request:", "", "```json", _json(example), "```", ""]
    for status, answer in operation["responses"].items():
        for kind, media in answer.get("content", {}).items():
            if "example" in media and "$ref" not in answer:
                label = "Answer" if kind == "application/json" else f"Answer (`{kind}`)"
                fence = "json" if kind == "application/json" else "text"
                value = media["example"]
                text = _json(value) if fence == "json" else str(value).rstrip()
                out += [f"{label} ({status}):", "", f"```{fence}", text, "```", ""]
    return out


def _parameter(param: Mapping[str, Any]) -> str:
    where = {"path": "Path", "query": "Query", "header": "Header"}[param["in"]]
    text = f"{where} `{param['name']}`: {_type(param['schema'])}"
    if param["in"] != "path" and not param.get("required"):
        text += ", optional"
    if param.get("description"):
        text += f". {param['description']}"
    return text + "."


def _type(schema: Mapping[str, Any]) -> str:
    """A schema in a few words: `SessionView`, string, integer 1..1000, one of a|b."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[1]
        return f"[`{name}`](#{name.lower()})"
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return " or ".join(_type(option) for option in options)
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        text = _type({**schema, "type": kinds[0] if len(kinds) == 1 else kinds})
        return f"{text} or null" if "null" in kind else text
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "string" and schema.get("format") == "date-time":
        return "time (RFC 3339, UTC)"
    text = str(kind)
    low, high = (
        schema.get("minimum", schema.get("minLength")),
        schema.get("maximum", schema.get("maxLength")),
    )
    if low is not None or high is not None:
        unit = " characters" if kind == "string" else ""
        text += f" {'' if low is None else low}..{'' if high is None else high}{unit}"
    return text


def _object(name: str, schema: Mapping[str, Any]) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [" ".join(str(schema["description"]).split()), ""]
    properties = schema.get("properties")
    if not properties:
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            out += ["One of: " + ", ".join(_type(o) for o in options) + ".", ""]
        return out
    required = set(schema.get("required", ()))
    out += ["| field | type | |", "|---|---|---|"]
    for field, prop in properties.items():
        notes = "always" if field in required else "optional"
        if prop.get("description"):
            notes += ": " + " ".join(str(prop["description"]).split())
        notes = notes.replace("|", "\\|")
        out.append(f"| `{field}` | {_type(prop)} | {notes} |")
    out.append("")
    return out


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def rewrite(path: Path, doc: Mapping[str, Any], auth: Mapping[str, str]) -> bool:
    """Replaces the generated part of `path`; whether it changed."""
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise ValueError(f"{path} has no line {BEGIN!r}")
    new = f"{head}{BEGIN}\n\n{render(doc, auth)}\n{END}{tail}"
    if new == text:
        return False
    path.write_text(new)
    return True


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m trizap.http.apidoc docs/api.md")
    changed = rewrite(Path(args[0]), *document())
    print(f"{args[0]}: {'rewritten' if changed else 'up to date'}")


if __name__ == "__main__":
    main()
