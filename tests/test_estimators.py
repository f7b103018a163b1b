"""The CV metrics' two classifiers, written in numpy, against the library estimators they restate."""
import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf as sk_ledoit_wolf
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explorer.separability.estimators import lda_directions, lda_fit, ledoit_wolf, probe_fit


def _cases():
    rng = np.random.default_rng(3)
    y = np.arange(300) % 4
    X = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 12))
    X[:, :4] += 1.5 * np.eye(4)[y]
    yield "gaussian, 4 classes", X[:240], y[:240], X[240:]
    d = load_digits()
    Z = PCA(32, random_state=0).fit_transform(d.data)  # what the metrics fit: PCA scores
    yield "digits PCA(32), 10 classes", Z[:1400], d.target[:1400], Z[1400:]
    yb = (np.arange(200) % 2)
    Xb = rng.standard_normal((200, 6)) + 0.8 * yb[:, None]
    yield "two classes (binomial)", Xb[:150], yb[:150] + 3, Xb[150:]


@pytest.mark.parametrize("d", [1, 5, 40])
def test_ledoit_wolf_equals_the_library(d):
    X = np.random.default_rng(d).standard_normal((30, d)) * np.arange(1, d + 1)
    np.testing.assert_allclose(ledoit_wolf(X), sk_ledoit_wolf(X)[0], rtol=1e-10, atol=1e-12)


def test_ledoit_wolf_of_isotropic_noise_shrinks_towards_the_identity():
    """Known answer: for white noise with d close to n the sample covariance is far from I, the shrunk one close."""
    X = np.random.default_rng(0).standard_normal((50, 40))
    S = np.cov(X.T, bias=True)
    assert np.linalg.norm(ledoit_wolf(X) - np.eye(40)) < 0.5 * np.linalg.norm(S - np.eye(40))


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_lda_equals_the_library(case):
    _, X, y, Xt = case
    ours = lda_fit(X, y)
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X, y)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    S, ref_s = ours.scores(Xt), ref.decision_function(Xt)  # two classes: the library gives score1 - score0
    ref_diff = ref_s[:, None] if ref_s.ndim == 1 else ref_s[:, 1:] - ref_s[:, :1]
    np.testing.assert_allclose(S[:, 1:] - S[:, :1], ref_diff, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_probe_equals_the_library(case):
    _, X, y, Xt = case
    ours = probe_fit(X, y)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(X, y)
    np.testing.assert_array_equal(ours.classes, ref.classes_)
    # the same objective from the same start with the same optimiser: the same iterates, up to rounding
    np.testing.assert_allclose(ours.predict_proba(Xt), ref.predict_proba(Xt), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))


def test_probe_on_separable_classes_is_confident_and_right():
    """Known answer: two well-separated clusters are classified perfectly with probabilities near 1."""
    rng = np.random.default_rng(1)
    y = np.arange(100) % 2
    X = rng.standard_normal((100, 3)) * 0.1 + 5.0 * y[:, None]
    m = probe_fit(X, y)
    assert (m.predict(X) == y).all() and m.predict_proba(X)[np.arange(100), y].min() > 0.9


@pytest.mark.parametrize("case", list(_cases())[:2], ids=lambda c: c[0])
def test_lda_directions_give_the_library_view(case):
    """The 2-D LDA view: the library's eigen-solver transform, up to each axis's sign."""
    _, X, y, _ = case
    ref = LinearDiscriminantAnalysis(n_components=2, solver="eigen", shrinkage="auto").fit_transform(X, y)
    ours = X @ lda_directions(X, y)[:, :2]
    for j in range(2):
        err = min(np.abs(ours[:, j] - ref[:, j]).max(), np.abs(ours[:, j] + ref[:, j]).max())
        assert err <= 1e-8 * np.abs(ref[:, j]).max(), j
