"""Validation of a YAML document by its model; the first problem becomes one ConfigError that names
the file, the key path, the line, and what was expected."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from capplan.config.document import Document
from capplan.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
        return
    if origin in (list, dict, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, if one does."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int) or part not in current.model_fields:
            continue  # a list index or a dict key: the model stays the item's model
        found = list(_models_in(current.model_fields[part].annotation))
        current = found[0] if found else None
    return current


def _key_path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key; {hint}expected one of: {', '.join(known)}" if known else "unknown key"
    if kind == "missing":
        return "missing; this key is required"
    message = str(error["msg"])
    if kind == "unknown_key":  # a key of a table keyed by metric (thresholds.yaml)
        return message
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("too_short", "too_long"):
        limits = error.get("ctx", {})
        bound = limits.get("min_length") if kind == "too_short" else limits.get("max_length")
        return f"expected {'at least' if kind == 'too_short' else 'at most'} {bound} item(s)"
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping of keys, got {error.get('input')!r}"
    if kind in ("int_from_float", "int_parsing_size"):
        return f"expected a whole number, got {error.get('input')!r}"
    if message.startswith("Input should be "):
        wanted = message.removeprefix("Input should be ")
        for words, sign in (
            ("greater than or equal to", ">="),
            ("less than or equal to", "<="),
            ("greater than", ">"),
            ("less than", "<"),
        ):
            if wanted.startswith(words):
                wanted = f"a number {sign}{wanted.removeprefix(words)}"
                break
        return f"expected {wanted}, got {error.get('input')!r}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        return f"expected text matching {pattern}, got {error.get('input')!r}"
    return message


def validate(
    model: type[M], document: Document, overridden: Mapping[tuple[str | int, ...], str] = {}
) -> M:
    """Validate a document; the first problem becomes a ConfigError with file, key and line."""
    try:
        return model.model_validate(document.data)
    except ValidationError as errors:
        # An unknown key first: a misspelt key is also reported missing, and the typo is the news.
        first = sorted(
            errors.errors(), key=lambda e: e["type"] not in ("extra_forbidden", "unknown_key")
        )[0]
        loc = tuple(first["loc"])
        context = first.get("ctx", {})
        # a validator of a whole list names the item it means, and the one it was compared with
        related = [loc + tuple(context["also"])] if context.get("also") else []
        if "path" in context:
            loc += tuple(context["path"])
        key = _key_path(loc) or None
        problem = _describe(first, model)
        more = errors.error_count() - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        for set_loc, assignment in overridden.items():
            # the value that failed came from --set, or the item that holds it failed a check
            # across its fields (warning below critical)
            if (
                loc[: len(set_loc)] == set_loc
                or (loc and set_loc[: len(loc)] == loc)
                or any(other[: len(set_loc)] == set_loc for other in related)
            ):
                raise ConfigError(f"--set {assignment}", problem, key=key) from None
        if document.data is None or not isinstance(document.data, dict):
            raise ConfigError(document.source, "expected a YAML mapping of keys") from None
        raise ConfigError(document.source, problem, key=key, line=document.line_of(loc)) from None
