"""Read the plain JSON form of a model (``models.to_json``) back into the frozen dataclass it came from.

Driven by the dataclasses' type hints, so a new field round-trips without code here. Handles what the models use:
dataclasses, ``X | None``, ``tuple[X, ...]``, ``Mapping``/``dict``, ``list``, ``Literal``, ``datetime``, enums and
plain scalars. Fields marked ``metadata={"json": False}`` (secrets, bulky caches) are not written, so they come
back as their default.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = ["from_json"]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def from_json(tp: Any, data: Any) -> Any:
    """``data`` (plain JSON values) as an instance of ``tp``.

    Raises:
        ValueError: ``data`` does not fit ``tp``.
    """
    if tp is Any:
        return data
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return from_json(arg, data)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or f"{data!r} fits none of {tp}")
    if origin is Literal:
        if data not in get_args(tp):
            raise ValueError(f"{data!r} is not one of {get_args(tp)}")
        return data
    if origin in (tuple, list, frozenset, set):
        if not isinstance(data, list):
            raise ValueError(f"expected a list for {tp}, got {type(data).__name__}")
        args = get_args(tp)
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            return tuple(from_json(arg, item) for arg, item in zip(args, data, strict=True))
        item_type = args[0] if args else Any
        items = [from_json(item_type, item) for item in data]
        return origin(items)
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {tp}, got {type(data).__name__}")
        args = get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        return {key: from_json(value_type, value) for key, value in data.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return _dataclass(tp, data)
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is datetime:
            if not isinstance(data, str):
                raise ValueError(f"expected a timestamp, got {data!r}")
            return datetime.fromisoformat(data.replace("Z", "+00:00"))
        if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        if isinstance(data, tp):
            return data
        raise ValueError(f"expected {tp.__name__}, got {type(data).__name__}")
    raise ValueError(f"cannot read {tp!r} from JSON")  # pragma: no cover - every model type is handled above


def _dataclass(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("json") is False or f.name not in data:
            continue
        try:
            kwargs[f.name] = from_json(hints[f.name], data[f.name])
        except ValueError as exc:
            raise ValueError(f"{cls.__name__}.{f.name}: {exc}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"{cls.__name__}: {exc}") from None
