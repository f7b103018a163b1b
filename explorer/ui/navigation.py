"""The app's pages, registered once: app.py builds its navigation from this list, the pages link to each
other through it, and the tests walk it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str  # relative to the repository root, where app.py runs
    title: str
    icon: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "explorer/ui/pages/overview.py", "Overview", ":material/home:", default=True),
    PageSpec("runs", "explorer/ui/pages/runs.py", "Runs", ":material/table_rows:"),
    PageSpec("train", "explorer/ui/pages/train.py", "Train", ":material/model_training:"),
    PageSpec("curves", "explorer/ui/pages/curves.py", "Curves", ":material/show_chart:"),
    PageSpec("gradients", "explorer/ui/pages/gradients.py", "Gradients", ":material/gradient:"),
    PageSpec("separability", "explorer/ui/pages/separability.py", "Separability", ":material/scatter_plot:"),
    PageSpec("mechanisms", "explorer/ui/pages/mechanisms.py", "Mechanisms", ":material/biotech:"),
    PageSpec("verdict", "explorer/ui/pages/verdict.py", "Verdict", ":material/gavel:"),
)


def path(name: str) -> str:
    """The file of the page called ``name`` (for st.switch_page)."""
    return next(p.path for p in PAGES if p.name == name)
