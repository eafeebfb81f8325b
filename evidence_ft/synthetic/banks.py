"""The sentence banks in ``banks/*.yaml``, read once from the installed package.

Every sentence was written for this project. Kept as data so that editing the corpus means
editing YAML; the generator sees tuples, in file order (the order is part of a seeded corpus).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Banks:
    """Slot values, sentence templates per symptom and status, filler and explanations."""

    slots: dict[str, tuple[str, ...]]
    openers: tuple[str, ...]
    evidence: dict[str, tuple[str, ...]]  # status 1 templates per symptom
    absence: dict[str, tuple[tuple[str, str], ...]]  # (reason, template) per symptom
    filler: tuple[str, ...]
    short_posts: tuple[str, ...]
    criteria: dict[str, tuple[str, str, str]]  # (desc, name, topic) per symptom
    explain_positive: tuple[str, ...]
    explain_absence: dict[str, tuple[str, ...]]  # templates per absence reason
    second_pass: tuple[str, ...]  # second line of a repeated row's explanation


def _read(name: str) -> Any:
    text = resources.files(__package__).joinpath("banks", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _tuples(mapping: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {key: tuple(values) for key, values in mapping.items()}


@functools.cache
def load() -> Banks:
    """All banks, parsed on first use."""
    filler = _read("filler.yaml")
    explanations = _read("explanations.yaml")
    return Banks(
        slots=_tuples(_read("slots.yaml")),
        openers=tuple(_read("openers.yaml")),
        evidence=_tuples(_read("evidence.yaml")),
        absence={
            symptom: tuple(next(iter(item.items())) for item in items)
            for symptom, items in _read("absence.yaml").items()
        },
        filler=tuple(filler["filler"]),
        short_posts=tuple(filler["short_posts"]),
        criteria={
            symptom: (c["desc"], c["name"], c["topic"])
            for symptom, c in explanations["criteria"].items()
        },
        explain_positive=tuple(explanations["positive"]),
        explain_absence=_tuples(explanations["absence"]),
        second_pass=tuple(explanations["second_pass"]),
    )
