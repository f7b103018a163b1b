"""What every page shares: run sources, the sidebar model picker, cached loaders, CSV buttons."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from .. import settings
from ..models import CIFAR_DEPTHS, ModelSpec
from ..charts.common import color_map
from ..runs import BrokenRun, Labels, Run, escaped_name, label_runs, list_runs, main_runs
from .navigation import path
from .progress import data_progress
from .words import app_words

FAMILY_LABELS = {"cifar": "CIFAR ResNet (6n+2)", "resnet": "torchvision ResNet"}
DEPTHS = {"cifar": [d for d in CIFAR_DEPTHS if d <= 110], "resnet": [18, 34, 50, 101]}
SOURCES = ["shipped zoo", "own runs", "both"]


def zoo_root() -> Path:
    return settings.zoo_root()


def own_root() -> Path:
    return settings.own_root()


def guarded(fn):
    """Run a page; any failure becomes one short message, never a traceback, and the app goes on."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            with data_progress():  # decoding a data set the first time takes a minute: a bar with the time left
                return fn(*a, **kw)
        except ValueError as e:  # our own errors say what was expected
            st.error(app_words(str(e)))
        except Exception as e:  # noqa: BLE001 - the UI must never show a traceback (it goes to the server log)
            import traceback
            traceback.print_exc()
            st.error(f"Something went wrong ({type(e).__name__}: {app_words(str(e)[:200])}). The rest of the app keeps working; "
                     "try another selection or reload.")
    return wrapper


def _signature(root: Path) -> tuple:
    """Changes whenever a run is added, removed or its config rewritten (status, epochs)."""
    if not root.is_dir():
        return ()
    sig = []
    for p in sorted(root.iterdir()):
        c = p / "config.json"
        try:
            sig.append((escaped_name(p.name), c.stat().st_mtime_ns))  # hashed by st.cache_data: valid UTF-8 only
        except OSError:
            sig.append((escaped_name(p.name), 0))
    return tuple(sig)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_list(root: str, sig: tuple) -> tuple[list[Run], list[BrokenRun]]:
    listing = list_runs(Path(root))
    return listing.runs, listing.broken


def load_runs(source: str) -> tuple[list[Run], list[BrokenRun]]:
    roots = {"shipped zoo": [zoo_root()], "own runs": [own_root()], "both": [zoo_root(), own_root()]}[source]
    runs, broken = [], []
    for root in dict.fromkeys(roots):
        r, b = _cached_list(str(root), _signature(root))
        runs += r
        broken += b
    return runs, broken


def analysable(runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.weights_file() is not None]


def model_widgets(prefix: str, defaults: dict | None = None, runs: list[Run] | None = None,
                  variant_disabled: bool = False) -> tuple[str, int, bool, bool]:
    """Family, depth, residual and BatchNorm. With ``runs``, only the depths those runs have are offered."""
    d = defaults or {}
    fams = list(FAMILY_LABELS)
    family = st.selectbox("Family", fams, index=fams.index(d.get("family", "cifar")), format_func=FAMILY_LABELS.get,
                          key=f"{prefix}_family")
    present = sorted({r.spec.depth for r in runs or [] if r.spec.family == family})
    depths = present if runs is not None and present else sorted(DEPTHS[family])
    depth_default = d.get("depth") if d.get("depth") in depths else depths[0]
    if len(depths) > 1:
        depth = st.select_slider("Depth", options=depths, value=depth_default, key=f"{prefix}_depth_{family}")
    else:
        depth = depths[0]
        st.caption(f"Depth: {depth} (the only one with runs here)")
    if runs is not None:
        st.caption("Depths with runs in this source; train others on the Train page.")
    residual = st.toggle("Residual connections", value=d.get("residual", True), key=f"{prefix}_residual",
                         disabled=variant_disabled)
    batchnorm = st.toggle("BatchNorm", value=d.get("batchnorm", True), key=f"{prefix}_bn", disabled=variant_disabled)
    return family, depth, residual, batchnorm


@dataclass(frozen=True)
class Selection:
    """What the sidebar hands every page: the selected runs, their labels and one colour per condition."""

    runs: tuple[Run, ...] = ()
    labels: Labels | None = None
    colors: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.runs]


@st.fragment(run_every=5)
def advance_jobs() -> None:
    """Queued training jobs advance every few seconds while the app is open, whichever page is drawn."""
    try:
        from ..jobs import queue as jobs
        jobs.tick(own_root(), settings.max_running())
    except Exception:  # noqa: BLE001 - a bad job file must not take every page down; the Train page's panel names it
        import traceback
        traceback.print_exc()


def store_selection(sel: Selection) -> None:
    st.session_state["selection"] = sel


def selection() -> Selection:
    """The sidebar's selection of this run of the app (empty before the sidebar has drawn)."""
    sel = st.session_state.get("selection")
    return sel if isinstance(sel, Selection) else Selection()


def sidebar() -> Selection:
    """The shared model picker: draws the sidebar and returns the selection (runs, labels, colours)."""
    pending = st.session_state.pop("pending_pick", None)  # rows ticked on the Runs page
    if pending is not None:
        st.session_state["pick_mode"], st.session_state["pick_runs"] = "runs by name", pending
    with st.sidebar:
        st.header("Models")
        source = st.radio("Runs from", SOURCES, index=2, horizontal=True, key="source",
                          help=f"shipped zoo: {zoo_root()}/ · own runs: {own_root()}/")
        runs, broken = load_runs(source)
        mode = st.radio("Pick", ["by model", "runs by name"], horizontal=True, key="pick_mode")
        if mode == "by model":
            compare = st.toggle("Compare all four residual × BatchNorm variants", key="compare4",
                                help="Overrides the residual and BatchNorm switches below.")
            family, depth, residual, batchnorm = model_widgets("pick", runs=runs, variant_disabled=compare)
            spec = ModelSpec(family, depth, residual, batchnorm)
            matching = [r for r in runs if r.spec.family == family and r.spec.depth == depth
                        and (compare or (r.spec.residual == residual and r.spec.batchnorm == batchnorm))]
            labels = label_runs([r.record for r in matching], {r.id: r.status for r in matching}).run
            finished = [r for r in matching if r.status in ("finished", "imported")]
            main = main_runs(finished, variants_only=compare)
            default = [labels[r.id] for r in main]
            chosen = st.multiselect("Runs (each named by what sets it apart; the finished runs of the main "
                                    "experiment preselected)", [labels[r.id] for r in matching], default=default,
                                    key=f"runs_{family}_{depth}_{residual}_{batchnorm}_{compare}_{len(matching)}")
            selected = [r for r in matching if labels[r.id] in chosen]
            main_ids = {r.id for r in main}
            others = [labels[r.id] for r in finished if r.id not in main_ids]
            if others:
                st.caption(f"Not preselected, another experiment (other training-set size or epochs"
                           f"{', or a norm-free scheme' if compare else ''}): {'; '.join(others)}. Add them above to compare.")
            if compare:
                have = {r.spec.variant for r in main}  # of the main experiment
                missing = [v for v in ("FULL", "Nres", "Nbn", "Nboth") if v not in have]
                st.caption(f"At depth {depth}: {', '.join(v for v in ('FULL', 'Nres', 'Nbn', 'Nboth') if v in have) or 'no variant'}"
                           + (f". No run of {', '.join(missing)} here (train them on the Train page)." if missing else "."))
            if not matching:
                what = f"{family} depth {depth}" if compare else spec.label
                st.info(f"No run of {what} in {source}. Train it on the Train page.")
                if st.button("Train this model", key="train_this"):
                    st.session_state["train_prefill"] = {"family": family, "depth": depth, "residual": residual,
                                                         "batchnorm": batchnorm}
                    st.switch_page(path("train"))
        else:
            names = label_runs([r.record for r in runs], {r.id: r.status for r in runs}).run
            by_label = {names[r.id]: r for r in runs}
            picked = st.multiselect("Runs", list(by_label), key="pick_runs")
            selected = [by_label[n] for n in picked]
        if broken:
            with st.expander(f"{len(broken)} broken run(s), skipped"):
                for b in broken:
                    st.caption(f"{b.id}: {b.reason}")
        st.caption(f"{len(selected)} run(s) selected of {len(runs)}.")
    labels = label_runs([r.record for r in selected], {r.id: r.status for r in selected})
    # every page names and colours the selection alike
    return Selection(tuple(selected), labels, condition_colors(selected, labels))


def condition_colors(runs: list[Run], labels: Labels) -> dict[str, str]:
    """Condition label -> colour: its variant's hue (the same on every page, the Overview's lines included),
    the condition with the most runs of a variant taking the hue itself, the others its shades."""
    count: dict[str, int] = {}
    variant: dict[str, str] = {}
    for r in runs:
        lab = labels.condition[labels.condition_of[r.id]]
        count[lab] = count.get(lab, 0) + 1
        variant[lab] = r.spec.variant
    return color_map({lab: variant[lab] for lab in sorted(count, key=lambda k: (-count[k], k))})


def series_colors(table: pd.DataFrame) -> dict[str, str]:
    """Series label ("net" of a degradation table) -> colour, by the same rule as :func:`condition_colors`."""
    if table.empty:
        return {}
    g = table.groupby("net").agg(variant=("variant", "first"), runs=("run_id", "count")).reset_index()
    g = g.sort_values(["runs", "net"], ascending=[False, True])
    return color_map(dict(zip(g["net"], g["variant"])))


def csv_button(df: pd.DataFrame, filename: str, label: str = "Download CSV", key: str | None = None) -> None:
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=filename, mime="text/csv",
                       key=key or f"dl_{filename}", disabled=df.empty, on_click="ignore")  # a download changes nothing


def lazy_csv_button(make, filename: str, label: str) -> None:
    """A download button whose CSV (``make()`` -> DataFrame) is built only when it is clicked: for large tables.
    The click does not rerun the page: a rerun would redraw every chart for nothing and, on a slow machine, could
    drop the deferred table's registration before the browser has fetched it."""
    st.download_button(label, data=lambda: make().to_csv(index=False).encode("utf-8"), file_name=filename,
                       mime="text/csv", key=f"dl_{filename}", on_click="ignore")


def readable(runs: list[Run], what: str) -> list[Run]:
    """The runs whose ``what`` ("history" or "gradlog") reads and is non-empty; the others get one note."""
    ok, skipped = [], []
    for r in runs:
        try:
            if getattr(r, what)():
                ok.append(r)
        except ValueError as e:  # a damaged file never stops the page from drawing the other runs
            skipped.append(f"{r.id}: {e}")
    if skipped:
        st.caption(f"Skipped {len(skipped)} run(s) whose files cannot be read: " + "; ".join(skipped)[:500])
    return ok


def need_runs(runs: list[Run], what: str = "this page") -> bool:
    if not runs:
        st.info(f"Select one or more runs in the sidebar to see {what}. No runs yet? Train one on the Train page, "
                "or pick the shipped zoo.")
        return False
    return True
