"""Pickle the frozen, slotted dataclasses that cross the worker pipe without ``fields()``.

Every package goes to a worker as a :class:`~gateway.core.values.Submission` and comes back
as an ``Outcome`` holding an ``Accepted`` with its message, deliveries, outbox rows and
trace events: about ten such objects. The ``__setstate__`` that ``dataclass(slots=True)``
generates calls ``dataclasses.fields()`` for every object it rebuilds, which was most of the
cost of unpickling an answer on the event loop. :func:`fast_pickle` gives a class a
``__reduce__`` with the field names computed once: the same object comes out (no
``__init__`` or ``__post_init__`` runs, as with the generated ``__setstate__``), faster.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, TypeVar

__all__ = ["fast_pickle"]

T = TypeVar("T")

_NAMES: dict[type, tuple[str, ...]] = {}


def fast_pickle(cls: type[T]) -> type[T]:
    """Class decorator (outside ``@dataclass``): pickle instances as a tuple of field values."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    if not names:
        return cls
    _NAMES[cls] = names
    get = operator.attrgetter(*names)
    single = len(names) == 1

    def __reduce__(self: Any) -> tuple[Any, ...]:
        values = get(self)
        return _rebuild, (cls, (values,) if single else values)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


def _rebuild(cls: type[T], values: tuple[Any, ...]) -> T:
    obj = object.__new__(cls)
    setattr_ = object.__setattr__  # the instances are frozen
    for name, value in zip(_NAMES[cls], values, strict=True):
        setattr_(obj, name, value)
    return obj
