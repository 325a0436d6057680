"""Finding which model sits at a pydantic error location, to list the keys it accepts."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from dsl.models import Journey


def keys_at(
    loc: tuple[str | int, ...] | list[str | int], root: type[BaseModel] = Journey
) -> list[str]:
    """The keys (aliases where set) accepted at ``loc`` under ``root``, or [] if not a model."""
    current: Any = root
    for element in loc:
        current = _descend(current, element)
        if current is None:
            return []
    model = _as_model(current)
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for m in get_args(annotation) if m is not type(None)]
    return [annotation]


def _tag_of(member: Any) -> str | None:
    if get_origin(member) is Annotated:
        for meta in get_args(member)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _as_model(annotation: Any) -> type[BaseModel] | None:
    models = [
        m
        for m in (_strip(x) for x in _members(annotation))
        if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    return models[0] if len(models) == 1 else None


def _descend(annotation: Any, element: str | int) -> Any:
    members = _members(annotation)
    if len(members) > 1:
        for member in members:
            stripped = _strip(member)
            if _tag_of(member) == element or getattr(stripped, "__name__", None) == element:
                return stripped
        model = _as_model(annotation)
        return _descend(model, element) if model is not None else None
    single = _strip(members[0]) if members else None
    if isinstance(single, type) and issubclass(single, BaseModel):
        for name, info in single.model_fields.items():
            if element in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(single)
    if origin is list and isinstance(element, int):
        return get_args(single)[0]
    if origin is dict and isinstance(element, str):
        return get_args(single)[1]
    return None


def strip_tags(
    loc: tuple[str | int, ...] | list[str | int], root: type[BaseModel] = Journey
) -> tuple[str | int, ...]:
    """A pydantic error location without its union tags: the path as written in the file.

    pydantic puts the tag of a discriminated union into the location, e.g.
    ``('steps', 0, 'wait', 'wait')`` for the ``wait`` key of a wait step. Tags can
    look like keys, so they are recognised by walking the model types.
    """
    current: Any = root
    path: list[str | int] = []
    for element in loc:
        members = _members(current) if current is not None else []
        if len(members) > 1 and any(_tag_of(m) == element for m in members):
            current = next(_strip(m) for m in members if _tag_of(m) == element)
            continue
        path.append(element)
        current = _descend(current, element) if current is not None else None
    return tuple(path)
