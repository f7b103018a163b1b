"""Tidy tables from run records: what the charts, the pages, the CSVs and the report show.

Every table carries, for each run, its unique ``label`` among the runs given, its
``condition`` id and ``condition_label``, its ``seed`` and live ``status``. Aggregation
(`band`) is only ever over the replicates of one condition: the group key of a run is its
condition when it ran to its end (finished or imported), and its own id otherwise, so an
unfinished or diverged run is drawn on its own, never averaged with finished ones.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..reference import HE_2016_CIFAR10_TEST_ERROR, HE_2016_SOURCE
from ..runs import Labels, Run, condition_id, did_not_train, label_runs, series_labels

BAND_KINDS = ("std", "95% CI")
COMPLETE = ("finished", "imported")
RUN_COLUMNS = ["run", "group", "group_label", "condition", "condition_label", "run_id", "seed", "status",
               "condition_text"]  # condition_text: the whole condition in words (labels name only what differs)


def run_keys(runs: list[Run], labels: Labels | None = None) -> pd.DataFrame:
    """One row a run: label, aggregation group (condition, or the run itself if incomplete), seed, status.

    ``labels``: labels made for a larger set of runs shown together (the app's selection), so that a
    table of some of them names them as every other table does.
    """
    statuses = {r.id: r.status for r in runs}
    labels = labels or label_runs([r.record for r in runs], statuses)
    rows = []
    for r in runs:
        cond = labels.condition_of[r.id]
        complete = statuses[r.id] in COMPLETE
        rows.append({"run": labels.run[r.id], "group": cond if complete else r.id,
                     "group_label": labels.condition[cond] if complete else labels.run[r.id], "condition": cond,
                     "condition_label": labels.condition[cond], "run_id": r.id, "seed": r.seed, "status": statuses[r.id],
                     "condition_text": labels.full.get(cond, "")})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _with_keys(rows: list[dict], keys: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["run_id", *columns])
    return keys.merge(df, on="run_id", how="inner")[RUN_COLUMNS + columns]


def history_table(runs: list[Run], labels: Labels | None = None) -> pd.DataFrame:
    """One row per (run, epoch, split) with accuracy, loss and error; long form for charts."""
    rows = []
    for run in runs:
        for h in run.history():
            for split, acc, loss in (("train", h.get("train_acc"), h.get("train_loss")),
                                     ("train (clean)", h.get("train_eval_acc"), h.get("train_eval_loss")),
                                     ("test", h.get("test_acc"), h.get("test_loss"))):
                if acc is not None:
                    rows.append({"run_id": run.id, "epoch": h["epoch"], "split": split, "accuracy": acc, "loss": loss})
    df = _with_keys(rows, run_keys(runs, labels), ["epoch", "split", "accuracy", "loss"])
    df["loss"] = pd.to_numeric(df["loss"], errors="coerce")
    return df


def generalisation_gap(hist: pd.DataFrame) -> pd.DataFrame:
    """Clean train accuracy minus test accuracy per run and epoch (falls back to running train accuracy)."""
    cols = RUN_COLUMNS + ["epoch", "gap"]
    if hist.empty:
        return pd.DataFrame(columns=cols)
    wide = hist.pivot_table(index=RUN_COLUMNS[:6] + ["epoch"], columns="split", values="accuracy").reset_index()
    train_col = "train (clean)" if "train (clean)" in wide else "train"
    wide["gap"] = wide[train_col] - wide["test"]
    keys = hist[RUN_COLUMNS].drop_duplicates("run_id")
    return wide.drop(columns=[c for c in ("seed", "status", "condition_text") if c in wide]).merge(
        keys[["run_id", "seed", "status", "condition_text"]], on="run_id")[cols]


def band(df: pd.DataFrame, by: list[str], value: str, kind: str = "95% CI",
         clip: tuple[float, float] | None = None) -> pd.DataFrame:
    """Mean of ``value`` within ``by`` groups (replicates only: group by condition), with a band.

    ``kind``: "std" (mean ± one standard deviation) or "95% CI" (mean ± t_{0.975, n-1} s / sqrt(n)).
    With one replicate the band collapses to the mean. ``clip`` keeps the band inside the
    metric's range (an accuracy's band never leaves [0, 1]).
    """
    from scipy.stats import t as student_t

    if kind not in BAND_KINDS:
        raise ValueError(f"band kind must be one of {BAND_KINDS}, got {kind!r}.")
    g = df.groupby(by, dropna=False)[value].agg(["mean", "std", "count"]).reset_index()
    s = g["std"].fillna(0.0)
    if kind == "std":
        half = s
    else:
        tq = np.where(g["count"] > 1, student_t.ppf(0.975, np.maximum(g["count"] - 1, 1)), 0.0)
        half = tq * s / np.sqrt(g["count"].clip(lower=1))
    g["lo"], g["hi"] = g["mean"] - half, g["mean"] + half
    if clip is not None:
        g["lo"], g["hi"] = g["lo"].clip(*clip), g["hi"].clip(*clip)
    return g


def per_class_table(run: Run, epoch: int | None = None) -> pd.DataFrame:
    """Seed 000's Table 1: test accuracy of every class at one epoch (default: the last)."""
    hist = run.history()
    if not hist:
        return pd.DataFrame(columns=["class", "test_acc"])
    row = hist[-1] if epoch is None else next((h for h in hist if h["epoch"] == epoch), hist[-1])
    per = row.get("test_per_class") or []
    classes = run.record.data.classes or [str(i) for i in range(len(per))]
    return pd.DataFrame({"class": list(classes)[:len(per)], "test_acc": per})


def degradation_table(runs: list[Run]) -> pd.DataFrame:
    """Final train and test error (%) of every complete run, with the series it belongs to.

    ``series`` is the condition without its depth (one line against depth); train error is
    the clean one (eval mode, no augmentation) where it was measured.
    """
    done = [r for r in runs if r.status == "finished" and r.record.final is not None
            and r.record.final.test_acc is not None]
    names = {}  # labelled within a family and data set (one chart): its lines name only what differs between them
    for family, data in {(r.spec.family, r.record.data.description) for r in done}:
        names.update(series_labels([r.record for r in done
                                    if r.spec.family == family and r.record.data.description == data]))
    keys = run_keys(done)
    rows = []
    for run in done:
        rec, final = run.record, run.record.final
        train_acc = final.clean_train_acc
        series = condition_id(rec, without_depth=True)
        rows.append({"run_id": run.id, "family": rec.model.family, "depth": rec.model.depth,
                     "variant": rec.model.variant, "series": series, "net": names[series],
                     "dataset": rec.data.description, "test_error": 100 * (1 - final.test_acc),
                     "train_error": 100 * (1 - train_acc) if train_acc is not None else np.nan,
                     "did_not_train": did_not_train(run)})
    cols = ["family", "depth", "variant", "series", "net", "dataset", "test_error", "train_error", "did_not_train"]
    return _with_keys(rows, keys, cols)


def reference_table() -> pd.DataFrame:
    """He et al.'s published CIFAR-10 test errors (residual nets), labelled with their source."""
    return pd.DataFrame({"depth": list(HE_2016_CIFAR10_TEST_ERROR), "test_error": list(HE_2016_CIFAR10_TEST_ERROR.values()),
                         "net": HE_2016_SOURCE})


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """Every run, one row: its label, condition, seed, status, epochs, data set, lr, accuracies, device, created."""
    keys = run_keys(runs).set_index("run_id")
    rows = []
    for run in runs:
        rec, final = run.record, run.record.final
        k = keys.loc[run.id]
        rows.append({"label": k["run"], "condition": k["condition"], "condition_text": k["condition_text"], "model": rec.model.name,
                     "variant": rec.model.variant, "family": rec.model.family, "depth": rec.model.depth,
                     "residual": rec.model.residual, "batchnorm": rec.model.batchnorm, "seed": rec.seed,
                     "status": run.status, "epochs_done": rec.epochs_done, "epochs": rec.epochs_planned,
                     "dataset": rec.data.description, "lr": None if rec.train is None else rec.train.lr,
                     "train_acc": None if final is None else final.clean_train_acc,
                     "test_acc": None if final is None else final.test_acc,
                     "device": ", ".join(rec.provenance.devices) or None, "created": rec.provenance.created,
                     "imported_from": None if rec.provenance.import_source is None else rec.provenance.import_source.file,
                     "reason": rec.reason or None, "run_id": run.id})
    return pd.DataFrame(rows)


def label_table(df: pd.DataFrame, runs: list[Run], labels: Labels | None = None) -> pd.DataFrame:
    """``df`` (with a run_id column) with the labels, conditions and statuses of the runs shown together."""
    labels = labels or label_runs([r.record for r in runs], {r.id: r.status for r in runs})
    keys = run_keys(runs, labels)
    out = df.drop(columns=[c for c in ("label", "condition", "condition_label", "status", "condition_text") if c in df])
    out = out.merge(keys.rename(columns={"run": "label"})[["run_id", "label", "condition", "condition_label", "status",
                                                           "condition_text"]], on="run_id", how="left")
    front = ["run_id", "label", "condition", "condition_label", "status"]
    return out[front + [c for c in out.columns if c not in front]]


def _ci(values) -> str:
    """mean ± 95% CI half-width (t-distribution) and the replicate count, as text."""
    from scipy.stats import t as student_t
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3g} (n=1)"
    half = student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.3g} ± {half:.2g} (n={len(v)})"


def answer_table(deg: pd.DataFrame, late: pd.DataFrame, sep: pd.DataFrame | None) -> pd.DataFrame:
    """Per series and depth: train and test error, the late stage0/last-stage gradient ratio, and the
    last stage's LDA accuracy and usable information, each mean ± 95% CI over the condition's replicates.

    ``deg``: `degradation_table`; ``late``: `gradient_tables.late_ratio_table`; ``sep``: analysis rows
    (any runs not in it show "–": not analysed yet).
    """
    rows = []
    for (net, depth), g in deg.groupby(["net", "depth"]):
        ids = set(g["run_id"])
        row = {"net": net, "depth": depth, "replicates": len(ids),
               "train error %": _ci(g["train_error"]), "test error %": _ci(g["test_error"]),
               "stage0 / last-stage gradient (late)": _ci(late[late["run_id"].isin(ids)]["ratio"]) if len(late) else "–"}
        for metric, name, scale in (("lda_accuracy", "last-stage LDA accuracy %", 100),
                                    ("mi_probe_bits", "last-stage usable information (bits)", 1)):
            vals = []
            if sep is not None and len(sep):
                s = sep[(sep["metric"] == metric) & sep["run_id"].isin(ids)]
                last = s.sort_values("stage").groupby("run_id").tail(1)
                vals = (scale * last["value"]).tolist()
            row[name] = _ci(vals) if vals else "not analysed yet"
        rows.append(row)
    return pd.DataFrame(rows)
