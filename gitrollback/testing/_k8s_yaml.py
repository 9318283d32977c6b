"""YAML as Kubernetes tools read it: the simulators' own reader, independent of gitrollback's.

kubectl, the kube-apiserver (apply bodies) and Argo CD (``kube.SplitYAML`` on ``kustomize build`` output) all
decode YAML with ``sigs.k8s.io/yaml``: go-yaml v2 turns the text into JSON, so YAML 1.1 scalars apply (``yes``
and ``on`` are booleans) and timestamps stay strings, as JSON has no time type. PyYAML's safe loader is a YAML
1.1 reader too; the timestamp resolver is dropped here to match. gitrollback itself reads YAML with ruamel.yaml
(YAML 1.2, ``gitrollback._yaml``); the simulators deliberately do not share that reader, so a manifest the
product reads one way and a cluster another shows up in tests instead of agreeing by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

from gitrollback.testing._extras import require

yaml = require("yaml", "PyYAML")

__all__ = ["YAMLError", "iter_all", "load", "load_all"]

YAMLError: type[Exception] = yaml.YAMLError
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: 5x faster


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader without the timestamp resolver (``sigs.k8s.io/yaml`` keeps timestamps as strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


def load(text: str | bytes) -> Any:
    """One document as plain dicts, lists and scalars; ``YAMLError`` when it is not YAML."""
    return yaml.load(text, Loader=_Loader)


def iter_all(text: str | bytes) -> Iterator[Any]:
    """The documents of a stream one by one, empty ones (``---`` with nothing, comments only) skipped.

    A syntax error surfaces as ``YAMLError`` when the iteration reaches it, after the documents before it.
    """
    for doc in cast(Iterable[Any], yaml.load_all(text, Loader=_Loader)):
        if doc is not None:
            yield doc


def load_all(text: str | bytes) -> list[Any]:
    """Every document of a stream, empty ones dropped."""
    return list(iter_all(text))
