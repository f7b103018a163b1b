"""Who hears how far a long data step has got (decoding a zip of 60,000 images takes a minute).

The app installs a listener around a page (:func:`listening`); the decoder reports to whatever listener
the current thread has (:func:`report`), and to nobody when none is installed (the CLI, the tests).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Listener = Callable[[str, int, int], None]  # (what, done, total)
_LOCAL = threading.local()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this thread's progress reports to ``listener`` while the block runs."""
    before = getattr(_LOCAL, "listener", None)
    _LOCAL.listener = listener
    try:
        yield
    finally:
        _LOCAL.listener = before


def report(what: str, done: int, total: int) -> None:
    """Tell this thread's listener, if any, that ``done`` of ``total`` items of ``what`` are finished."""
    listener = getattr(_LOCAL, "listener", None)
    if listener is not None:
        listener(what, done, total)
