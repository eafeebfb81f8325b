"""Config options as dataclass fields: each holds its default, help, allowed values and check.

``option(...)`` builds such a field (evidence_ft.schema declares the configs with it);
``evidence_ft.config.validate`` runs each field's ``Check`` and words its error from the
field's ``allowed`` and ``example``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


def is_kind(kind: str, value: Any) -> bool:
    """Whether ``value`` has the type ``kind`` (bool is not a number; nan and inf are not)."""
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, (int, float)) and math.isfinite(value)
    if kind == "list":
        return isinstance(value, list)
    return isinstance(value, str)


@dataclass(frozen=True)
class Check:
    """A value's type (``kind``) and range (``ok``); ``nullable`` lets null through."""

    kind: str  # number | int | str | list | bool
    ok: Callable[[Any], bool]
    nullable: bool = False

    def __call__(self, value: Any) -> bool:
        if value is None and self.nullable:
            return True
        return is_kind(self.kind, value) and bool(self.ok(value))


def shown(value: Any) -> str:
    """A value as it is typed on the command line: null, true, [0.7,0.15,0.15], text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(shown(v) for v in value) + "]"
    return str(value) or "''"


def option(
    default: Any,
    help: str,
    *,
    check: Check | None = None,
    allowed: str | None = None,
    example: Any = dataclasses.MISSING,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field whose metadata holds its help, allowed values, example and check.

    ``choices`` builds the check and the allowed text; the example defaults to the default.
    """
    if choices is not None:
        check = Check("str", lambda v: v in choices)
        allowed = "one of " + "|".join(choices)
    if example is dataclasses.MISSING:
        example = default
    meta: dict[str, Any] = {
        "help": help,
        "allowed": allowed,
        "example": shown(example),
        "check": check,
    }
    if choices is not None:
        meta["choices"] = choices
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# The largest seed: numpy's (and so transformers.set_seed's and Optuna's) seeds are 32-bit.
SEED_MAX = 2**32 - 1


def int_option(
    default: int | None,
    help: str,
    low: int,
    *,
    high: int | None = None,
    nullable: bool = False,
    allowed: str | None = None,
    example: Any = dataclasses.MISSING,
) -> Any:
    """An integer option >= ``low`` (and <= ``high``; ``nullable``: null too), worded "an
    integer >= low" (" and <= high").

    >>> from dataclasses import fields, make_dataclass
    >>> f = fields(make_dataclass("X", [("n", int, int_option(3, "n", 1, nullable=True))]))[0]
    >>> f.metadata["allowed"], f.metadata["check"](None), f.metadata["check"](0)
    ('null or an integer >= 1', True, False)
    >>> g = fields(make_dataclass("Y", [("s", int, int_option(0, "s", 0, high=9))]))[0]
    >>> g.metadata["allowed"], g.metadata["check"](9), g.metadata["check"](10)
    ('an integer >= 0 and <= 9', True, False)
    """
    check = Check("int", lambda v: v >= low and (high is None or v <= high), nullable=nullable)
    if allowed is None:
        allowed = ("null or " if nullable else "") + f"an integer >= {low}"
        allowed += "" if high is None else f" and <= {high}"
    return option(default, help, check=check, allowed=allowed, example=example)


def seed_option(default: int | None, help: str, **kwargs: Any) -> Any:
    """A seed: an integer from 0 to ``SEED_MAX``."""
    return int_option(default, help, 0, high=SEED_MAX, **kwargs)


def choices_of(schema: type, name: str) -> tuple[str, ...]:
    """The allowed values of a field given as ``choices`` (e.g. ``EvalConfig``'s ``split``)."""
    return {f.name: f for f in dataclasses.fields(schema)}[name].metadata["choices"]


def default_of(schema: type, name: str) -> Any:
    """A field's default value: the one place that value is written.

    >>> from evidence_ft.schema import DataConfig
    >>> default_of(DataConfig, "split_ratios"), default_of(DataConfig, "max_length")
    ([0.7, 0.15, 0.15], 512)
    """
    f = {f.name: f for f in dataclasses.fields(schema)}[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def checked_fields(schema: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """``(dotted key, field)`` of every field with a check, nested schemas included."""
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        if is_schema(f.default_factory):
            yield from checked_fields(f.default_factory, key + ".")  # type: ignore[arg-type]
        elif f.metadata.get("check") is not None:
            yield key, f


def is_schema(value: Any) -> bool:
    """Whether a field's default factory is a nested schema (``EvalConfig.data``)."""
    return isinstance(value, type) and dataclasses.is_dataclass(value)


BOOL = Check("bool", lambda v: True)
TRUE_OR_FALSE = "true or false"


def describe(schema: type, prefix: str = "") -> Iterator[str]:
    """One line per key: ``key=default  help (allowed)``, for a --help page or the docs.

    >>> from evidence_ft.schema import CvConfig
    >>> list(describe(CvConfig, "cv."))
    ['cv.folds=0  Folds (0 = off; the test split stays fixed). (0 (off) or an integer >= 2)']
    """
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        if is_schema(f.default_factory):
            yield from describe(f.default_factory, key + ".")  # type: ignore[arg-type]
            continue
        allowed = f.metadata.get("allowed")
        text = f"{key}={shown(default_of(schema, f.name))}  {f.metadata['help']}"
        yield text + (f" ({allowed})" if allowed else "")
