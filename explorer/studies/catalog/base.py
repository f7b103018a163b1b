"""What a study is: one object, declared once, that the CLI, the Mechanisms page, the background
jobs, the cache and the report all read; and the registry that holds them.

A :class:`Study` has a name (the CLI's ``--kind``, the cache's kind), a title, a paragraph "about"
with its reference, a frozen settings dataclass whose fields carry their flag, label, help and
bounds (:func:`setting`), ``compute(run, inputs, settings, progress) -> tidy DataFrame``,
``chart(frame, colors) -> chart``, an optional ``page(frame, colors, names, ui)`` for views beyond
that chart (``ui`` is the page's Streamlit module, so no study imports Streamlit), and
``summarise(depth, frame, nets) -> sentence`` for the report. Adding a study is one module that
declares its ``STUDY`` plus one line in :mod:`explorer.studies.catalog.registry`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import pandas as pd


class StudyError(ValueError):
    """A study or a setting that cannot be used; the message says what was expected."""


def setting(default, *, flag: str, label: str, help: str, lo=None, hi=None, choices=None, odd: bool = False,
            widget_values=None, zero_ok: bool = False, widget_key: str | None = None):
    """A settings field with what the CLI and the page need: its flag, label and help, and its bounds
    (``lo``..``hi`` for numbers, ``choices`` for text, ``odd`` for grid sides, ``zero_ok``: 0 is allowed
    besides lo..hi); ``widget_values``: the values the page offers (a select slider) if not a free input."""
    return field(default=default, metadata={"flag": flag, "label": label, "help": help, "lo": lo, "hi": hi,
                                            "choices": choices, "odd": odd, "widget_values": widget_values,
                                            "zero_ok": zero_ok, "widget_key": widget_key})


def check_settings(obj) -> None:
    """Validate every field of a settings dataclass against its bounds (called from ``__post_init__``)."""
    for f in fields(obj):
        m, v = f.metadata, getattr(obj, f.name)
        if m.get("choices") is not None:
            if v not in m["choices"]:
                raise StudyError(f"{f.name} must be one of {', '.join(map(str, m['choices']))}, got {v!r}.")
            continue
        if isinstance(f.default, bool):
            if not isinstance(v, bool):
                raise StudyError(f"{f.name} must be true or false, got {v!r}.")
            continue
        number = (int,) if isinstance(f.default, int) else (int, float)
        if not isinstance(v, number) or isinstance(v, bool):
            raise StudyError(f"{f.name} must be {'an integer' if number == (int,) else 'a number'}, got {v!r}.")
        if m.get("zero_ok") and v == 0:
            continue
        lo, hi = m.get("lo"), m.get("hi")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise StudyError(f"{f.name} must be from {lo} to {hi:,}, got {v!r}.")
        if m.get("odd") and v % 2 == 0:
            raise StudyError(f"{f.name} must be odd, so that the trained weights (step 0) lie on the slice; got {v}.")


@dataclass(frozen=True)
class NoSettings:
    """A study without settings."""


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    about: str
    settings: type  # a frozen dataclass of setting() fields; its default instance is the default study
    compute: Callable[..., pd.DataFrame]  # (run, inputs, settings, progress) -> tidy frame (one row a measure)
    chart: Callable[..., Any]  # (frame, colors) -> an Altair chart: the study's main picture
    summarise: Callable[..., str] | None = None  # (depth, frame, nets) -> one sentence for the report
    page: Callable[..., None] | None = None  # (frame, colors, names, ui): the page's views (default: the chart)
    report_intro: str = ""  # the report's paragraph above the study's figure; no report section when empty
    report_chart: Callable[..., Any] | None = None  # (frame) -> the report's chart of one depth (default: chart)
    background: bool = False  # long: computed by a background process with progress, not on the page
    cost: Callable[..., str] | None = None  # (settings) -> what it costs, shown before computing
    key: Callable[..., dict] | None = None  # (settings) -> its part of the cache key (default: every field)
    reads: Callable[..., list] | None = None  # (run, inputs) -> [(extra key, image-set data or None)], see tables
    verdict_rows: tuple[str, ...] = ()  # the verdict rows it feeds
    page_fields: tuple[str, ...] = ()  # the settings the page offers as widgets (the others keep their defaults)
    columns: dict | None = None  # column -> type(s) every row has; a cached entry without them is a miss

    def defaults(self):
        return self.settings()

    def settings_key(self, settings) -> dict:
        return self.key(settings) if self.key is not None else asdict(settings)

    def setting_fields(self):
        return fields(self.settings)

    def flags(self, settings) -> list[str]:
        """The CLI flags that ask for ``settings`` (what a background job runs)."""
        out = []
        for f in fields(settings):
            v = getattr(settings, f.name)
            if isinstance(v, bool):
                out += [f.metadata["flag"]] if v else []
            else:
                out += [f.metadata["flag"], str(v)]
        return out

    def from_values(self, values: dict):
        """Settings from {field: value}, values missing taking their defaults; a bad one raises StudyError."""
        known = {f.name for f in fields(self.settings)}
        unknown = set(values) - known
        if unknown:
            raise StudyError(f"The {self.name} study has no setting {', '.join(sorted(unknown))}.")
        return self.settings(**values)


NUM, OPT = (int, float), (int, float, str, type(None))  # for Study.columns


REGISTRY: dict[str, Study] = {}


def register(study: Study) -> Study:
    """Add a study to the registry (its name must be new, a word of letters, digits and '-')."""
    if not study.name or not study.name.replace("-", "").isalnum():
        raise StudyError(f"A study's name is a word of letters, digits and '-', got {study.name!r}.")
    if study.name in REGISTRY and REGISTRY[study.name] is not study:
        raise StudyError(f"A study named {study.name!r} is registered already.")
    REGISTRY[study.name] = study
    return study


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def get(name: str) -> Study:
    if name not in REGISTRY:
        raise StudyError(f"Unknown study {name!r}; expected one of {', '.join(REGISTRY)}.")
    return REGISTRY[name]
