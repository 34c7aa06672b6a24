"""docs/api.md is the OpenAPI document in prose, and the document explains itself: every
operation has a description and examples, and every example written for it is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from trizap.http.apidoc import BEGIN, END, document, render
from trizap.http.examples import BY_OPERATION, EXAMPLES
from trizap.protocol.schema import NAMED_UNIONS

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_docs_api_md_is_the_reference_of_the_current_code() -> None:
    text = API_MD.read_text()
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert generated == render(*document()).strip(), (
        "docs/api.md is out of date: run `python -m trizap.http.apidoc docs/api.md`"
    )


def test_it_lists_every_route() -> None:
    doc, _ = document()
    text = API_MD.read_text()
    for path, item in doc["paths"].items():
        for method in item:
            assert f"#### `{method.upper()} {path}`" in text


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]


def _examples(operation: dict[str, Any], doc: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(example, schema) of every request body and answer of the operation, errors
    included (through their `$ref`)."""
    found = []
    contents = [operation.get("requestBody", {}).get("content", {})]
    for answer in operation["responses"].values():
        if "$ref" in answer:
            answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        contents.append(answer.get("content", {}))
    for content in contents:
        for media in content.values():
            if "example" in media:
                found.append((media["example"], media["schema"]))
    return found


def test_every_operation_has_a_description_and_an_example() -> None:
    doc, _ = document()
    for name, operation in _operations(doc):
        assert operation.get("description", "").strip(), name
        assert _examples(operation, doc), name
        body = operation.get("requestBody")
        if body is not None and "application/json" in body["content"]:
            assert "example" in body["content"]["application/json"], name
        elif body is not None:  # a file's bytes (an upload): their types and schemas
            assert all("schema" in media for media in body["content"].values()), name
        for status, answer in operation["responses"].items():
            for kind, media in answer.get("content", {}).items():
                if kind == "application/json" and "$ref" in media["schema"]:
                    assert "example" in media, (name, status)


def test_every_example_fits_its_schema() -> None:
    """Written examples (and the problems') are checked against the schema they stand
    for: an example cannot show a field the server does not send."""
    doc, _ = document()
    written = {NAMED_UNIONS.get(t) or t.__name__ for t in EXAMPLES} | {
        type(e).__name__ for answers in BY_OPERATION.values() for e in answers.values()
    }
    checked = 0
    for name, operation in _operations(doc):
        for example, schema in _examples(operation, doc):
            ref = schema.get("$ref", "")
            if ref.rsplit("/", 1)[-1] not in written | {"Problem"}:
                continue
            validator = Draft202012Validator({**schema, "components": doc["components"]})
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, (name, ref, errors)
            checked += 1
    assert checked > 40
