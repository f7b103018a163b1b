"""Every parameter of the separability metrics, in one frozen record.

The metric functions take their defaults from :data:`DEFAULT_SETTINGS`;
:meth:`MetricSettings.kwargs_for` gives the keyword arguments one metric takes, and
:func:`describe` one paragraph of prose naming them (for help texts and the report).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .checks import InputError


def _field(default: int, least: int, help: str):
    """A dataclass field with its one-line help text and its least allowed value."""
    return field(default=default, metadata={"help": help, "least": least})


@dataclass(frozen=True)
class MetricSettings:
    """The metric parameters; part of every cached analysis table's key."""

    # components (count), capped by the rank (and by n - K in Fisher's criterion)
    p: int = _field(32, 1, "principal components kept for Fisher's criterion, the CV classifiers, the silhouette")
    # components (count), capped by the rank
    q: int = _field(10, 1, "principal components forming Z in the k-NN mutual-information estimate")
    # neighbours (count), capped by the class size - 1
    k_mi: int = _field(3, 1, "neighbours within a class in the k-NN mutual-information estimate")
    # neighbours (count), capped by the training-fold size
    k_knn: int = _field(5, 1, "neighbours voting in the k-NN classifier")
    # folds (count), capped by the smallest class size
    folds: int = _field(5, 2, "stratified CV folds of the held-out accuracies and the probe information bound")
    # integer seed (dimensionless) of StratifiedKFold(shuffle=True)
    seed: int = _field(0, 0, "seed of the cross-validation fold shuffle")

    def __post_init__(self):
        for f in fields(self):
            v, least = getattr(self, f.name), f.metadata["least"]
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise InputError(f"metric setting {f.name} must be an integer >= {least}; got {v!r}.")

    def to_dict(self) -> dict[str, int]:
        """Field -> value, JSON-ready."""
        return asdict(self)

    def kwargs_for(self, metric_name: str) -> dict[str, int]:
        """The keyword arguments metric ``metric_name`` takes, with these settings' values."""
        if metric_name not in METRIC_PARAMETERS:
            raise InputError(f"unknown metric {metric_name!r}; choose one of {', '.join(METRIC_PARAMETERS)}.")
        return {arg: getattr(self, name) for arg, name in METRIC_PARAMETERS[metric_name].items()}

    @staticmethod
    def help(name: str) -> str:
        """One line saying what field ``name`` is."""
        return {f.name: f.metadata["help"] for f in fields(MetricSettings)}[name]


# metric -> {keyword argument it takes: MetricSettings field}; tests check it against the signatures
METRIC_PARAMETERS: dict[str, dict[str, str]] = {
    "fisher_trace_ratio": {},
    "fisher_criterion": {"p": "p"},
    "lda_accuracy": {"p": "p", "folds": "folds", "seed": "seed"},
    "linear_probe_accuracy": {"p": "p", "folds": "folds", "seed": "seed"},
    "knn_accuracy": {"k": "k_knn", "p": "p", "folds": "folds", "seed": "seed"},
    "mi_probe_bits": {"p": "p", "folds": "folds", "seed": "seed"},
    "mi_knn_bits": {"q": "q", "k": "k_mi"},
    "silhouette": {"p": "p"},
}

DEFAULT_SETTINGS = MetricSettings()


def describe(settings: MetricSettings = DEFAULT_SETTINGS) -> str:
    """One paragraph of prose naming every setting, e.g. for a help text or the report."""
    s = settings
    return (f"Fisher's trace ratio uses every feature; Fisher's criterion (Ledoit-Wolf shrunk within-class "
            f"scatter) and the silhouette use the top p = {s.p} principal components. The LDA, logistic-probe "
            f"and {s.k_knn}-nearest-neighbour accuracies and the probe's information bound are held-out "
            f"estimates from {s.folds} stratified cross-validation folds (shuffle seed {s.seed}), with the "
            f"p = {s.p} components fitted on each training fold only. The k-NN mutual-information estimate "
            f"uses the top q = {s.q} principal components and k = {s.k_mi} neighbours within a class.")
