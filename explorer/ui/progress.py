"""Progress bars with an estimate of the time left, measured as the work goes (its cost per item so far)."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from ..data.progress import listening


def duration(seconds: float) -> str:
    """``seconds`` in words a person reads at a glance: "40 s", "3 min 10 s", "1 h 05 min"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Eta:
    """The time left of a piece of work, from its measured rate: elapsed / done × what remains."""

    def __init__(self, start: float | None = None):
        self.start = time.monotonic() if start is None else start

    def left(self, fraction: float) -> str:
        """"about 2 min 10 s left", or "" before there is anything to measure."""
        spent = time.monotonic() - self.start
        if fraction <= 0.02 or spent < 1.0:
            return ""
        return f"about {duration(spent / fraction * (1 - fraction))} left"


class Bar:
    """A progress bar whose text ends with the measured time left."""

    def __init__(self, text: str, where=None):
        self.eta, self.bar = Eta(), (where or st).progress(0.0, text=text)

    def update(self, fraction: float, text: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        left = self.eta.left(fraction)
        self.bar.progress(fraction, text=f"{text}; {left}" if left else text)

    def empty(self) -> None:
        self.bar.empty()


@contextmanager
def data_progress() -> Iterator[None]:
    """While the block runs, a data set being decoded (a zip read for the first time) shows a bar with the time
    left, drawn where the page has got to, and removed when the decoding ends."""
    bars: dict[str, Bar] = {}

    def show(what: str, done: int, total: int) -> None:
        key = f"{what} ({total:,} images)"
        if key not in bars:
            if done >= total:
                return  # too short to show
            bars[key] = Bar(f"{key}: the first time only, the result is cached")
        if done >= total:
            bars.pop(key).empty()
        else:
            bars[key].update(done / total, f"{key}: {done:,} done (the first time only, the result is cached)")
    with listening(show):
        yield


def observed_left(key, fraction: float) -> str:
    """The time left of work reported elsewhere (a background study's fraction), measured from when this
    session first saw it: "about 3 min 05 s left", or "" until it has moved."""
    seen = st.session_state.setdefault("progress_seen", {})
    start, first = seen.setdefault(key, (time.monotonic(), fraction))
    if fraction <= first:
        return ""
    rate = (fraction - first) / max(1e-9, time.monotonic() - start)
    return f"about {duration((1 - fraction) / rate)} left"


_PASSES = re.compile(r"([\d,]+) passes over ([\d,]+) images")


@st.cache_data(show_spinner=False, max_entries=32)
def seconds_per_image(spec_json: str, batch: int = 250) -> float:
    """Measured here, now: the time of a forward pass of ``batch`` images through the model, per image (untrained
    weights cost the same). Small batches cost far more an image on a CPU; the studies evaluate 500 at a time."""
    import json

    import torch

    from ..models import ModelSpec, build_model
    model = build_model(ModelSpec.from_dict(json.loads(spec_json))).eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        model(x)  # warm-up
        t = time.perf_counter()
        model(x)
        return (time.perf_counter() - t) / batch


def study_estimate(cost: str, specs: list) -> str:
    """The time a study costs the runs of ``specs``, from its ``cost`` ("N passes over M images a run") and the
    measured time of a forward pass of each model here; "" when the cost does not count passes."""
    m = _PASSES.search(cost or "")
    if not m or not specs:
        return ""
    passes, images = (int(g.replace(",", "")) for g in m.groups())
    import json
    total = sum(passes * images * seconds_per_image(json.dumps(s.to_dict(), sort_keys=True)) for s in specs)
    return (f"about {duration(total)} for {len(specs)} run(s) on this machine (measured: one forward pass of each "
            "model; a busy machine takes longer)")
