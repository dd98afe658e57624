"""YAML files read with the line of every key, so that an error can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from capplan.errors import ConfigError

# libyaml's parser when PyYAML was built with it (about 10x faster); its nodes carry the same
# line marks as the pure-Python loader's.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    """A parsed YAML file and its node tree, so that a key path can be turned into a line."""

    source: str
    data: Any
    root: yaml.Node | None

    def line_of(self, path: Sequence[str | int]) -> int | None:
        node = self.root
        line = None if node is None else node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _check_duplicate_keys(source: str, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                raise ConfigError(
                    source, "duplicate key", key=str(key.value), line=key.start_mark.line + 1
                )
            seen.add(key.value)
            _check_duplicate_keys(source, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(source, item)


def read_yaml(path: Path) -> Document:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, "is a directory, expected a YAML file") from None
    except OSError as error:
        raise ConfigError(source, f"cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        at = len((raw[: error.start] + b"x").splitlines())  # \n, \r\n or \r ends a line
        raise ConfigError.not_utf8(source, raw, error, at) from None
    loader = SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_duplicate_keys(source, root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, f"invalid YAML: {error.problem}", line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(source, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()
    return Document(source=source, data=data, root=root)
