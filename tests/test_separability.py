"""Separability metrics against cases with known answers (explorer.separability)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import expit
from scipy.spatial.distance import pdist
from threadpoolctl import threadpool_limits

from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explorer import separability as sep

ALL = list(sep.METRICS)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Matrices here are <= n x n: BLAS threads gain nothing, and when other jobs share the
    CPU their spin-waiting slows these tests down many times over (see the module docstring)."""
    with threadpool_limits(1, user_api="blas"):
        yield


def gaussian_classes(n, means, cov, seed):
    """n rows split equally over len(means) Gaussian classes sharing one covariance."""
    rng = np.random.default_rng(seed)
    means = np.asarray(means, float)
    y = np.arange(n) % len(means)
    X = rng.standard_normal((n, means.shape[1])) @ np.linalg.cholesky(cov).T + means[y]
    return X, y


def random_spd(d, seed):
    A = np.random.default_rng(seed).standard_normal((d, d))
    return A @ A.T + d * np.eye(d)


def two_class_problem(n, delta, d=5, seed=0):
    """Two classes at Mahalanobis distance delta under a random SPD covariance."""
    cov = random_spd(d, seed + 100)
    v = np.random.default_rng(seed + 200).standard_normal(d)
    v *= delta / 2 / np.sqrt(v @ np.linalg.solve(cov, v))
    return gaussian_classes(n, [-v, v], cov, seed)


def true_mi_bits(delta):
    """I(X;Y) for two equal-prior Gaussian classes: 1 - E[h2(P(y=1|t))], t ~ the discriminant."""
    def h2(p):
        p = np.clip(p, 1e-300, 1 - 1e-16)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    # by symmetry the expectation over the mixture equals the one under class 1: N(delta/2, 1)
    f = lambda t: stats.norm.pdf(t - delta / 2) * h2(expit(delta * t))  # log-odds = delta * t
    return 1.0 - integrate.quad(f, -30, 30, limit=200)[0]


def random_orthogonal(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------- known population values
def test_trace_ratio_matches_scatter_matrices():
    X, y = gaussian_classes(90, np.eye(3, 4) * 2, np.eye(4), seed=1)
    mu, parts = X.mean(0), [X[y == k] for k in range(3)]
    Sw = sum((P - P.mean(0)).T @ (P - P.mean(0)) for P in parts)
    Sb = sum(len(P) * np.outer(P.mean(0) - mu, P.mean(0) - mu) for P in parts)
    assert sep.fisher_trace_ratio(X, y) == pytest.approx(np.trace(Sb) / np.trace(Sw), rel=1e-10)


def test_fisher_criterion_approaches_population_value():
    d, cov = 5, random_spd(5, 3)
    means = np.random.default_rng(4).standard_normal((3, d)) * 2
    X, y = gaussian_classes(4002, means, cov, seed=5)
    centred = means - means.mean(0)
    truth = np.trace(np.linalg.solve(cov, centred.T @ centred / 3))  # equal priors
    assert sep.fisher_criterion(X, y) == pytest.approx(truth, rel=0.1)
    assert sep.effective_p(4002, d, 3, 32) == d


def test_two_class_accuracy_and_mi_approach_bayes_values():
    delta = 2.0
    X, y = two_class_problem(2000, delta, seed=6)
    bayes, truth = stats.norm.cdf(delta / 2), true_mi_bits(delta)
    assert truth == pytest.approx(0.486, abs=0.002)
    assert sep.lda_accuracy(X, y) == pytest.approx(bayes, abs=0.03)
    assert sep.linear_probe_accuracy(X, y) == pytest.approx(bayes, abs=0.03)
    assert 0.7 < sep.knn_accuracy(X, y) < bayes + 0.03  # k-NN is consistent but slower
    assert sep.mi_probe_bits(X, y) == pytest.approx(truth, abs=0.06)
    assert sep.mi_knn_bits(X, y) == pytest.approx(truth, abs=0.06)


def test_mi_knn_matches_sklearn_in_one_dimension():
    """With q = 1 the estimator is sklearn's mutual_info_classif (nats; scaling is irrelevant)."""
    X, y = gaussian_classes(600, [[-1.0], [0.0], [1.5]], np.eye(1), seed=26)
    expected = mutual_info_classif(X, y, n_neighbors=3, random_state=0)[0] / np.log(2)
    assert sep.mi_knn_bits(X, y, q=1, k=3) == pytest.approx(expected, rel=1e-6)


def test_mi_never_exceeds_label_entropy():
    X, y = two_class_problem(400, 14.0, seed=7)  # almost perfectly separable
    for f in (sep.mi_probe_bits, sep.mi_knn_bits):
        assert 0.9 < f(X, y) <= 1.0
    means = np.eye(4, 6) * 40
    X4, y4 = gaussian_classes(400, means, np.eye(6), seed=8)
    assert 1.9 < sep.mi_knn_bits(X4, y4) <= 2.0
    assert 1.9 < sep.mi_probe_bits(X4, y4) <= 2.0


# ---------------------------------------------------------------- invariances
def test_trace_ratio_invariant_to_scaling_and_rotation():
    X, y = gaussian_classes(300, np.eye(3, 8), random_spd(8, 9), seed=9)
    base = sep.fisher_trace_ratio(X, y)
    assert sep.fisher_trace_ratio(X * 1e3, y) == pytest.approx(base, rel=1e-10)
    rotated = X @ random_orthogonal(8, 10) + 5
    assert sep.fisher_trace_ratio(rotated, y) == pytest.approx(base, rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.floats(1e-3, 1e3))
def test_trace_ratio_invariance_property(seed, scale):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((12, 4)), np.arange(12) % 3
    Q = random_orthogonal(4, seed)
    base = sep.fisher_trace_ratio(X, y)
    assert sep.fisher_trace_ratio(scale * X @ Q, y) == pytest.approx(base, rel=1e-8)


def test_fisher_and_lda_approximately_invariant_to_invertible_map():
    X, y = gaussian_classes(1500, np.eye(3, 5) * 1.5, random_spd(5, 11), seed=12)
    A = random_spd(5, 13) + random_orthogonal(5, 14)  # invertible, not orthogonal
    assert np.linalg.cond(A) < 50
    assert sep.fisher_criterion(X @ A, y) == pytest.approx(sep.fisher_criterion(X, y), rel=0.05)
    assert sep.lda_accuracy(X @ A, y) == pytest.approx(sep.lda_accuracy(X, y), abs=0.02)


def test_embed_is_an_isometry_and_metrics_agree_on_it():
    y = np.arange(120) % 3  # 9000 features: wider than one Gram chunk
    X = np.random.default_rng(15).standard_normal((120, 9000), dtype=np.float32)
    X[:, :3] += 3 * np.eye(3, dtype=np.float32)[y]
    Z = sep.embed(X)
    assert Z.shape[0] == 120 and Z.shape[1] <= 119
    np.testing.assert_allclose(pdist(Z), pdist(X.astype(float)), rtol=1e-5)
    for name, f in sep.METRICS.items():  # per-fold PCA on Z == per-fold PCA on X: no leak
        assert f(Z, y) == pytest.approx(f(X, y), rel=1e-4, abs=1e-4), name


def test_pca_of_principal_coordinates_is_their_leading_columns():
    """embed's output is already principal coordinates: its PCA takes the coordinate axes (no
    eigensolver) and equals the eigensolver's scores up to sign; other inputs still get the solver."""
    from explorer.separability import linalg
    X = np.random.default_rng(4).standard_normal((150, 2000)) * np.geomspace(10, 0.1, 2000)
    F = sep.embed(X)
    mean, V = linalg.fit_pca(F, 12)
    assert np.array_equal(V, np.eye(F.shape[1])[:, :12])  # the axes themselves, largest variance first
    solver = (F - mean) @ linalg.top_eig(np.cov(F.T, bias=True) * len(F), 12)[1]
    np.testing.assert_allclose(np.abs(sep.pca_scores(F, 12)), np.abs(solver), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.abs(sep.pca_scores(F, 12)), np.abs(sep.pca_scores(X, 12)), rtol=1e-8, atol=1e-10)
    R = F[:, :40] @ random_orthogonal(40, 5)  # rotated: no longer principal axes
    assert linalg.coordinate_axes(R, 5) is None
    near = F[:, :40].copy()
    near[:, 1] += 1e-6 * near[:, 0]  # one off-diagonal entry of 2e-6 relative: not diagonal
    assert linalg.coordinate_axes(near, 5) is None
    # a diagonal scatter matrix with ties and a zero variance: stable order, zero dropped
    A = np.diag(np.sqrt([1.0, 3.0, 3.0, 0.0]))
    assert np.array_equal(linalg.coordinate_axes(A, 4), np.eye(4)[:, [1, 2, 0]])


def test_fold_scores_from_the_gram_matrix_equal_a_pca_fitted_on_the_training_rows():
    from explorer.separability import linalg
    F = np.random.default_rng(8).standard_normal((90, 300)) * np.geomspace(5, 0.5, 300) + 3.0  # not centred
    train = np.random.default_rng(9).permutation(90)[:70]
    mean, V = linalg.fit_pca(F[train], 10)
    Z = linalg.fold_scores(F @ F.T, train, 10)
    assert Z.shape == (90, 10)
    np.testing.assert_allclose(np.abs(Z), np.abs((F - mean) @ V), rtol=1e-9, atol=1e-9)


def test_cv_metrics_equal_sklearn_pipelines_fitted_per_fold_on_raw_features():
    """The per-fold PCA on embed(X) must match PCA fitted on the raw training rows alone."""
    y = np.arange(120) % 3
    X = np.random.default_rng(25).standard_normal((120, 3000))
    X[:, :3] += 6 * np.eye(3)[y]  # accuracies 0.6-0.98: far from both chance and 1
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pca = PCA(8, svd_solver="full")
    probe = make_pipeline(StandardScaler(), LogisticRegression())
    cases = [
        (sep.lda_accuracy, LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")),
        (sep.knn_accuracy, KNeighborsClassifier(5)),
        (sep.linear_probe_accuracy, probe),
    ]
    for f, model in cases:
        expected = np.mean(cross_val_predict(make_pipeline(pca, model), X, y, cv=cv) == y)
        assert f(X, y, p=8) == pytest.approx(expected, abs=1.5 / 120), f.__name__
    P = cross_val_predict(make_pipeline(pca, probe), X, y, cv=cv, method="predict_proba")
    ce = -np.mean(np.log(P[np.arange(120), y]))
    assert sep.mi_probe_bits(X, y, p=8) == pytest.approx((np.log(3) - ce) / np.log(2), rel=1e-6)


# ---------------------------------------------------------------- no class information
@pytest.mark.parametrize("case", ["identical", "shuffled"])
def test_no_class_information_gives_about_zero(case):
    rng = np.random.default_rng(16)
    if case == "identical":
        X, y = rng.standard_normal((600, 20)), np.arange(600) % 3
    else:
        X, y = gaussian_classes(600, np.eye(3, 20) * 3, np.eye(20), seed=17)
        y = rng.permutation(y)
    assert sep.mi_probe_bits(X, y) < 0.05
    assert sep.mi_knn_bits(X, y) < 0.06
    for f in (sep.lda_accuracy, sep.linear_probe_accuracy, sep.knn_accuracy):
        assert abs(f(X, y) - 1 / 3) < 0.07
    assert sep.fisher_trace_ratio(X, y) < 0.02  # null: about (K-1)/(n-K)
    assert sep.fisher_criterion(X, y) < 0.2  # null: about (K-1)p/n
    assert abs(sep.silhouette(X, y)) < 0.03


# ---------------------------------------------------------------- d >> n
def test_wide_features_stay_finite_and_fast():
    rng = np.random.default_rng(18)
    X, y = rng.standard_normal((500, 65536), dtype=np.float32), np.arange(500) % 10
    times, t0 = {}, time.perf_counter()
    for name, f in sep.METRICS.items():
        t = time.perf_counter()
        assert np.isfinite(f(X, y)), name
        times[name] = time.perf_counter() - t
    total = time.perf_counter() - t0
    t = time.perf_counter()
    Z = sep.embed(X)
    values = {name: f(Z, y) for name, f in sep.METRICS.items()}
    via_embed = time.perf_counter() - t
    print(f"\n(500, 65536) float32, 10 classes: all metrics {total:.2f} s; "
          f"via embed(X) once {via_embed:.2f} s")
    for name, s in times.items():
        print(f"  {name:22s} {s:6.2f} s  value {values[name]:.4f}")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("X, y, match", [
    (np.zeros(10), np.arange(10) % 2, "2-D"),
    (np.zeros((10, 3)), np.arange(9) % 2, "one label per row"),
    (np.zeros((10, 3)), np.zeros(10), "at least 2 classes"),
    (np.zeros((10, 3)), np.r_[np.zeros(9), 1], "only 1 sample"),
])
@pytest.mark.parametrize("name", ALL)
def test_caller_errors_raise_value_error(X, y, match, name):
    with pytest.raises(ValueError, match=match):
        sep.METRICS[name](X, y)
    with pytest.raises(ValueError, match=match):
        sep.score(name, X, y)


def test_bad_parameters_and_names_raise():
    X, y = gaussian_classes(40, np.eye(2, 3), np.eye(3), seed=19)
    with pytest.raises(ValueError, match="unknown metric"):
        sep.score("nope", X, y)
    with pytest.raises(ValueError, match="p must be"):
        sep.score("lda_accuracy", X, y, p=0)
    with pytest.raises(ValueError, match="folds must be"):
        sep.lda_accuracy(X, y, folds=1)
    with pytest.raises(ValueError, match="same n"):
        sep.linear_cka(X, X[:-1])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("name", ALL)
def test_non_finite_features_give_nan_and_a_reason(bad, name):
    X, y = gaussian_classes(60, np.eye(3, 4), np.eye(4), seed=20)
    X[5, 2] = bad
    value, reason = sep.score(name, X, y)
    assert np.isnan(value) and "non-finite" in reason
    assert np.isnan(sep.METRICS[name](X, y))
    assert "non-finite" in sep.check_features(X, y)
    assert "non-finite" in sep.score(name, sep.embed(X), y)[1]


@pytest.mark.parametrize("name", ALL)
def test_degenerate_features_never_raise_through_score(name):
    y = np.arange(30) % 3
    value, reason = sep.score(name, np.ones((30, 7)), y)
    assert np.isnan(value) and "constant" in reason
    value, reason = sep.score(name, np.eye(3, 7)[y], y)  # every class is one point
    assert "collapsed" in reason


def test_check_features_on_clean_and_collapsed_input():
    X, y = gaussian_classes(60, np.eye(3, 4), np.eye(4), seed=21)
    assert sep.check_features(X, y) is None
    collapsed = np.eye(3, 4)[y] * 2
    assert "collapsed" in sep.check_features(collapsed, y)
    assert sep.fisher_trace_ratio(collapsed, y) == np.inf
    assert sep.score("fisher_trace_ratio", collapsed, y)[0] == np.inf


def test_any_labels_and_the_success_path():
    X, y = gaussian_classes(90, np.eye(3, 4) * 2, np.eye(4), seed=24)
    names = np.array(["cat", "dog", "eel"])[y]
    for f in (sep.fisher_criterion, sep.lda_accuracy, sep.mi_knn_bits):
        assert f(X, names) == f(X, y)
    assert sep.score("lda_accuracy", X, names, p=3) == (sep.lda_accuracy(X, y, p=3), "")


def test_metric_tables_agree():
    assert set(sep.METRICS) == set(sep.METRIC_INFO)
    assert all(callable(f) for f in sep.METRICS.values())
    assert sep.effective_p(500, 65536, 10, 32) == 32
    assert sep.effective_p(30, 100, 10, 32) == 20
    assert sep.effective_p(500, 8, 10, 32, rank=3) == 3


# ---------------------------------------------------------------- linear CKA
def test_linear_cka_known_values():
    rng = np.random.default_rng(22)
    X = rng.standard_normal((300, 40))
    assert sep.linear_cka(X, X) == pytest.approx(1.0)
    assert sep.linear_cka(X, 3.5 * X @ random_orthogonal(40, 23) + 7) == pytest.approx(1.0)
    # population value for 10 of 40 iid columns: tr(I_10) / sqrt(tr(I_40) tr(I_10)) = 0.5,
    # plus a finite-n bias of about +0.02 at n = 300
    assert sep.linear_cka(X, X[:, :10]) == pytest.approx(0.52, abs=0.04)
    big = rng.standard_normal((2000, 10)), rng.standard_normal((2000, 10))
    assert 0 <= sep.linear_cka(*big) < 0.03
    assert np.isnan(sep.linear_cka(X, np.ones((300, 3))))


def test_cka_matrix_equals_the_gram_definition_for_narrow_and_wide_features():
    """Each entry is <K, L>_F / (||K|| ||L||) of the centred Gram matrices, whatever route computes it."""
    rng = np.random.default_rng(31)
    base = rng.standard_normal((60, 5))
    Xs = [base @ rng.standard_normal((5, d)) + 0.3 * rng.standard_normal((60, d)) for d in (4, 30, 200)]
    Xs.append(Xs[2].astype(np.float32))  # wide, float32 (the features' own type)
    H = np.eye(60) - 1 / 60
    Ks = [H @ X.astype(float) @ X.astype(float).T @ H for X in Xs]
    M = sep.cka_matrix(Xs)
    for i, K in enumerate(Ks):
        for j, L in enumerate(Ks):
            expected = np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))
            assert M[i, j] == pytest.approx(expected, rel=1e-5), (i, j)
            assert sep.linear_cka(Xs[i], Xs[j]) == pytest.approx(M[i, j], rel=1e-12)
    assert np.isnan(sep.cka_matrix([Xs[0], np.ones((60, 3))])[0, 1])
    with pytest.raises(sep.InputError):
        sep.cka_matrix([Xs[0], Xs[1][:-1]])
