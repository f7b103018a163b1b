"""The images a study of trained weights evaluates: a fixed stratified subset of the run's own training
split when that data is on this machine, else the shipped probe set (500 test images), which is then
a different condition: its cache entry is keyed by the image set and the table says which it used."""
from __future__ import annotations

import torch

from ...data import normalize
from ...train.loop import stratified_subset


def images_here(run, inputs) -> bool:
    fp = run.record.data.fingerprint
    return bool(inputs.dataset is not None and fp and inputs.dataset.fingerprint == fp)


def reads_training_images(run, inputs):
    """On the run's training images when its data is here (the shipped results are), else the probe set."""
    train = {"images": f"training split {run.record.data.fingerprint}"}
    return ([train], train) if images_here(run, inputs) else ([train, {}], {})


def training_images(run, inputs, n: int):
    """A fixed stratified subset of the images the run trained on, normalised, and where it came from; a run
    trained on a subset (the loop's stratified subset, seed 0) is evaluated on images of that subset only."""
    mean, std, probe = inputs.mean, inputs.std, inputs.probe
    if not images_here(run, inputs):
        return (normalize(probe.images, mean, std), probe.labels,
                f"probe set ({len(probe.labels)} test images; no training data here)")
    ds = inputs.dataset
    pool = torch.arange(len(ds.train_y))
    sub = run.record.train.subset if run.record.train is not None else None
    if sub is not None and sub < len(pool):
        pool = stratified_subset(ds.train_y, sub, seed=0)
    n = min(n, len(pool))
    idx = pool[stratified_subset(ds.train_y[pool], n, seed=0)]
    return normalize(ds.train_x[idx], mean, std), ds.train_y[idx], f"training images ({n}, stratified)"


PROBE_TAG = " · probe images"


def separate_image_sets(df, colors: dict | None = None):
    """A study's table whose runs used different image sets (the training subset where the run's data is here,
    the probe set's test images where it is not) as different conditions: the rows on the probe set get
    ``PROBE_TAG`` on their condition label (never averaged or coloured with the others), and a colour of their own.
    Returns (table, colours)."""
    if "images_from" not in df.columns or "condition_label" not in df.columns:
        return df, colors
    probe = df["images_from"].astype(str).str.startswith("probe set")
    if not probe.any() or probe.all():
        return df, colors
    df = df.copy()
    df.loc[probe, "condition_label"] = df.loc[probe, "condition_label"].astype(str) + PROBE_TAG
    from ...charts.common import OTHER  # the hues no variant owns
    colors = dict(colors or {})
    for i, label in enumerate(dict.fromkeys(df.loc[probe, "condition_label"])):
        colors.setdefault(label, OTHER[i % len(OTHER)])
    return df, colors
