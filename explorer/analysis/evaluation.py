"""Test accuracy, mean loss and per-class accuracy of a run on the full test split of its data.

For any run, trained here or imported: the model's weights in eval mode, the inputs normalised
with the statistics the run records (`explorer.analysis.inputs.run_mean_std`: the training code's
own, or the data set's when none is recorded), float32 throughout (no autocast), batched by
`explorer.train.evaluate` (the same code that measures the test accuracy during training).

    accuracy = #{i : argmax_k f(x_i)_k = y_i} / N,  loss = (1/N) sum_i -log softmax(f(x_i))_{y_i}

The result is a `Final` whose test numbers say what they were measured on (``evaluated_on``);
`store_evaluation` writes it into the run's record (atomically, through the run store).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

from .inputs import run_mean_std
from ..data import CIFAR10_CLASSES, DataError, Dataset, load_dataset
from ..runs import Final, Run, update_record
from ..settings import find_path, shorten
from ..train import TrainConfig, evaluate, resolve_device

Progress = Callable[[int, int], None]  # (images done, images in all)
CIFAR10_HOWTO = "get CIFAR-10 with `python -m explorer download-cifar10`, or give the path of a copy (--data)"


class EvaluationError(ValueError):
    """A run that cannot be evaluated as asked; the message says what was expected."""


def _missing(run: Run, source: str, given: bool) -> EvaluationError:
    d = run.record.data
    cifar = source == "cifar10" or (not given and list(d.classes or []) == CIFAR10_CLASSES)
    if given:
        what = "CIFAR-10" if source == "cifar10" else shorten(source, 80)
        return EvaluationError(f"{what} is not on this machine; " + (f"{CIFAR10_HOWTO}." if cifar else
                               "give the path of an existing folder or .zip with train/<class>/* and test/<class>/*."))
    what = d.description if d.description and not d.description.startswith("unknown") else source
    if cifar:
        return EvaluationError(f"The test images of {shorten(what, 80)} for run {run.id} are not on this machine; "
                               f"{CIFAR10_HOWTO}.")
    return EvaluationError(f"The test images of {shorten(what, 80)} for run {run.id} are not on this machine; give "
                           f"the path of a copy of {shorten(source, 80)} (--data).")


def eval_data(run: Run, source: str | None = None, loader: Callable[[str], Dataset] = load_dataset) -> Dataset:
    """The data set to evaluate ``run`` on: ``source`` if given, else the one its record names.

    A path that is relative is tried as given and then from the repository root. When the data
    is absent the error says how to get it (one sentence).
    """
    d = run.record.data
    wanted = source or d.source or d.name
    if not wanted:
        raise EvaluationError(f"Run {run.id} does not say which data set it was trained on; give one (--data): "
                              "digits, cifar10, or the path of a folder or .zip.")
    if wanted == "digits":
        return loader(wanted)
    if wanted == "cifar10":
        try:
            return loader(wanted)
        except DataError:
            raise _missing(run, wanted, bool(source)) from None
    p = find_path(wanted)
    if p is not None:
        return loader(str(p))
    raise _missing(run, wanted, bool(source))


def _check_fits(run: Run, data: Dataset) -> None:
    classes = run.record.data.classes
    if classes and list(classes) != list(data.classes):
        raise EvaluationError(f"Run {run.id} was trained on classes {shorten(', '.join(classes), 80)}; "
                              f"{shorten(data.description, 60)} has {shorten(', '.join(data.classes), 80)}.")
    if run.spec.num_classes != data.num_classes:
        raise EvaluationError(f"Run {run.id}'s model has {run.spec.num_classes} outputs but "
                              f"{shorten(data.description, 60)} has {data.num_classes} classes.")
    missing = sorted(set(range(data.num_classes)) - set(data.test_y.unique().tolist()))
    if missing:
        raise EvaluationError(f"The test split of {shorten(data.description, 60)} has no image of class "
                              f"{data.classes[missing[0]]}; per-class accuracy needs at least one of every class.")


def describe(data: Dataset) -> str:
    """What an evaluation was measured on, e.g. ``CIFAR-10 (JPEG copy), 10000 test images``."""
    return f"{data.description}, {len(data.test_y)} test images"


def evaluate_run(run: Run, data: Dataset, progress: Progress | None = None, *, device: str = "auto",
                 batch_size: int = 1000) -> Final:
    """The run's `Final` with its test accuracy, mean loss and per-class accuracy on ``data``'s test split.

    Pure: nothing is written (see `store_evaluation`). The other numbers of the run's final
    record (train accuracy ...) are kept.
    """
    _check_fits(run, data)
    cfg = TrainConfig(device=device, eval_batch_size=batch_size, bf16=False)
    dev = resolve_device(cfg.device)
    model = run.load_model().to(dev)
    mean, std = run_mean_std(run, data)
    n = len(data.test_y)
    step = (lambda done: progress(done, n)) if progress is not None else None
    out = evaluate(model, data.test_x, data.test_y, mean, std, cfg, data.num_classes, dev, on_batch=step)
    loss = out["loss"] if math.isfinite(out["loss"]) else None  # non-finite logits: the accuracy still stands
    return dataclasses.replace(run.record.final or Final(), test_acc=out["acc"], test_loss=loss,
                               test_per_class=tuple(out["per_class"]), evaluated_on=describe(data))


def store_evaluation(run: Run, final: Final) -> None:
    """Write ``final`` into the run's record (config.json is replaced atomically)."""
    update_record(run, final=final)
