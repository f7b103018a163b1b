"""MetricSettings: one record of every metric parameter, agreeing with the metric signatures."""
import inspect

import numpy as np
import pytest
from sklearn.feature_selection import mutual_info_classif

from explorer import separability as sep
from explorer.separability import DEFAULT_SETTINGS, MetricSettings, describe


def _takes(name):
    """The metric's keyword parameters and their defaults (X and y left out)."""
    params = list(inspect.signature(sep.METRICS[name]).parameters.values())[2:]
    return {p.name: p.default for p in params}


@pytest.mark.parametrize("name", list(sep.METRICS))
def test_kwargs_for_names_exactly_the_parameters_each_metric_takes(name):
    kw = DEFAULT_SETTINGS.kwargs_for(name)
    assert kw == _takes(name)  # same names, and the signature defaults are the settings' values


def test_kwargs_for_follows_the_settings_and_tells_the_two_ks_apart():
    s = MetricSettings(p=7, q=2, k_mi=4, k_knn=9, folds=3, seed=11)
    assert s.kwargs_for("mi_knn_bits") == {"q": 2, "k": 4}
    assert s.kwargs_for("knn_accuracy") == {"k": 9, "p": 7, "folds": 3, "seed": 11}
    assert s.kwargs_for("fisher_trace_ratio") == {}
    with pytest.raises(ValueError, match="unknown metric"):
        s.kwargs_for("nope")


def test_settings_reach_the_metric_through_score():
    """q = 1, k_mi = 3 through the settings give sklearn's one-dimensional estimate (as in
    test_mi_knn_matches_sklearn_in_one_dimension); k_mi = 8 gives another value, so the field arrives."""
    rng = np.random.default_rng(26)
    y = np.arange(600) % 3
    X = (rng.standard_normal(600) + np.array([-1.0, 0.0, 1.5])[y])[:, None]
    expected = mutual_info_classif(X, y, n_neighbors=3, random_state=0)[0] / np.log(2)
    s = MetricSettings(q=1, k_mi=3)
    assert sep.score("mi_knn_bits", X, y, **s.kwargs_for("mi_knn_bits"))[0] == pytest.approx(expected, rel=1e-6)
    other = MetricSettings(q=1, k_mi=8)
    assert sep.score("mi_knn_bits", X, y, **other.kwargs_for("mi_knn_bits"))[0] != pytest.approx(expected, rel=1e-6)


def test_to_dict_round_trips_and_the_record_is_frozen():
    d = DEFAULT_SETTINGS.to_dict()
    assert d == {"p": 32, "q": 10, "k_mi": 3, "k_knn": 5, "folds": 5, "seed": 0}
    assert MetricSettings(**d) == DEFAULT_SETTINGS
    with pytest.raises(AttributeError):
        DEFAULT_SETTINGS.p = 3


@pytest.mark.parametrize("field, bad", [("p", 0), ("q", -1), ("k_mi", 1.5), ("k_knn", True), ("folds", 1), ("seed", -1),
                                        ("p", "32")])
def test_bad_settings_are_refused_with_a_sentence(field, bad):
    with pytest.raises(ValueError, match=f"metric setting {field} must be an integer >= "):
        MetricSettings(**{field: bad})


def test_every_field_has_a_help_line_and_describe_names_every_value():
    s = MetricSettings(p=17, q=4, k_mi=6, k_knn=13, folds=7, seed=42)
    text = describe(s)
    for value in ("p = 17", "q = 4", "k = 6", "13-nearest", "7 stratified", "seed 42"):
        assert value in text
    assert "\n" not in text and text.endswith(".")
    for name in s.to_dict():
        assert MetricSettings.help(name) and "\n" not in MetricSettings.help(name)


def test_metric_info_follows_the_settings():
    info = sep.metric_info(MetricSettings(folds=3, k_knn=7, q=4))
    assert info["knn_accuracy"].startswith("3-fold CV estimate of 7-NN accuracy")
    assert "top-4 PCs" in info["mi_knn_bits"]
    assert sep.METRIC_INFO["lda_accuracy"] == "5-fold CV estimate of shrinkage-LDA accuracy on PCA(p), in [0, 1]"
    assert set(sep.METRIC_INFO) == set(sep.METRICS)
