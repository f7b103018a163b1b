"""Known answers for the statistics of a contrast (explorer.verdict.contrast)."""
import numpy as np
import pytest
from scipy import stats

from explorer.verdict.contrast import contrast, decide, detectable, estimate, hedges_g, holm, welch_df


def test_welch_difference_against_scipy_and_a_hand_computed_df():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]  # variances 1 and 4
    c = contrast(a, b)
    # df = (1/3 + 4/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = (25/9) / (17/18) = 50/17
    assert c.df == pytest.approx(50 / 17)
    assert c.diff == pytest.approx(-2.0)
    assert c.se == pytest.approx(np.sqrt(5 / 3))
    assert c.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    half = stats.t.ppf(0.975, 50 / 17) * np.sqrt(5 / 3)
    assert (c.ci_low, c.ci_high) == pytest.approx((-2 - half, -2 + half))
    assert (c.n_a, c.n_b, c.log_scale) == (3, 3, False)


def test_hedges_g_is_the_pooled_d_with_the_small_sample_correction():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    d = -2 / np.sqrt((2 * 1 + 2 * 4) / 4)  # Cohen's d with the pooled SD
    assert hedges_g(a, b) == pytest.approx(d * (1 - 3 / (4 * 6 - 9)))


def test_identical_samples_give_no_difference():
    c = contrast([1.0, 2.5, 4.0], [1.0, 2.5, 4.0])
    assert c.diff == 0 and c.p == pytest.approx(1.0) and c.effect == 0
    assert c.ci_low < 0 < c.ci_high
    assert contrast([2.0, 2.0], [2.0, 2.0]).p == 1.0  # both constant and equal


def test_one_replicate_is_too_thin():
    c = contrast([1.0], [2.0, 3.0])
    assert c.thin and np.isnan(c.p) and c.diff == pytest.approx(-1.5)
    assert decide(c, -1, False).outcome == "too thin"
    assert contrast([1.0, float("nan")], [2.0, 3.0]).thin  # a NaN replicate does not count


def test_holm_known_outcome():
    h = holm([0.01, 0.04, 0.03, 0.005])
    assert h.adjusted == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert h.reject == (True, False, False, True)


def test_holm_leaves_untested_contrasts_out_of_the_family():
    h = holm([0.02, float("nan"), 0.04])
    assert h.adjusted[0] == pytest.approx(0.04) and np.isnan(h.adjusted[1]) and h.adjusted[2] == pytest.approx(0.04)
    assert h.reject == (True, False, True)
    with pytest.raises(ValueError):
        holm([1.5])


def test_log_scale_interval_stays_positive_and_is_a_ratio():
    a, b = [0.01, 0.5, 3.0], [0.02, 0.03, 0.04]  # on the linear scale the CI of a's mean crosses 0
    assert estimate(a).ci_low < 0
    e = estimate(a, log_scale=True)
    assert 0 < e.ci_low < e.centre < e.ci_high
    assert e.centre == pytest.approx(np.exp(np.mean(np.log(a))))
    c = contrast(a, b, log_scale=True)
    assert 0 < c.ci_low < c.diff < c.ci_high
    assert c.diff == pytest.approx(np.exp(np.mean(np.log(a)) - np.mean(np.log(b))))
    assert c.p == pytest.approx(stats.ttest_ind(np.log(a), np.log(b), equal_var=False).pvalue)
    with pytest.raises(ValueError, match="positive"):
        contrast([0.0, 1.0], [1.0, 2.0], log_scale=True)


def test_decisions_follow_the_predicted_direction():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, 8), rng.normal(0, 1, 8)
    c = contrast(a, b)
    assert decide(c, +1, True).outcome == "as predicted"
    assert decide(c, -1, True).outcome == "opposite"
    d = decide(c, +1, False)
    assert d.outcome == "no difference detected" and "80% power" in d.note


def test_detectable_difference_matches_the_t_approximation():
    c = contrast([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    expected = (stats.t.ppf(0.975, 50 / 17) + stats.t.ppf(0.8, 50 / 17)) * np.sqrt(5 / 3)
    assert detectable(c) == pytest.approx(expected)


def test_welch_df_of_equal_variances_and_sizes_is_the_pooled_df():
    assert welch_df(2.0, 5, 2.0, 5) == pytest.approx(8.0)


def test_estimate_mean_and_t_interval():
    e = estimate([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1 / np.sqrt(3)
    assert (e.centre, e.ci_low, e.ci_high, e.n) == pytest.approx((2.0, 2 - half, 2 + half, 3))
    one = estimate([4.0])
    assert one.centre == 4.0 and np.isnan(one.ci_low) and one.n == 1


def test_sweep_summary_uses_the_log_scale_for_positive_ratios_only():
    import pandas as pd

    from explorer.verdict.init_summary import summarise_sweep
    rows = [dict(depth=8, residual=True, batchnorm=True, seed=s, measure=m, block=-1, value=v)
            for s, (g, lag) in enumerate([(0.01, -0.2), (0.5, 0.1), (3.0, 0.4)])
            for m, v in (("grad_ratio", g), ("lag1", lag))]
    rows.append(dict(depth=8, residual=True, batchnorm=True, seed=0, measure="branch_var_ratio", block=0, value=0.2))
    s = summarise_sweep(pd.DataFrame(rows)).set_index("measure")
    assert list(s.index) == ["grad_ratio", "lag1"]  # the per-block row is left out by default
    g = s.loc["grad_ratio"]
    assert g.log_scale and 0 < g.ci_low < g.centre < g.ci_high and g.n == 3
    assert g.centre == pytest.approx(np.exp(np.mean(np.log([0.01, 0.5, 3.0]))))
    lag = s.loc["lag1"]
    assert not lag.log_scale and lag.centre == pytest.approx(0.1)
    assert len(summarise_sweep(pd.DataFrame(rows), blocks=True)) == 3


def test_sweep_contrasts_on_a_known_pattern():
    import pandas as pd

    from explorer.verdict.init_summary import sweep_contrasts
    rng = np.random.default_rng(0)
    centre = {(20, False): 1.0, (56, False): 10.0, (56, True): 10.0}  # deep plain = deep residual > shallow plain
    rows = [dict(depth=d, residual=r, batchnorm=True, seed=s, measure="grad_ratio", block=-1,
                 value=c * float(np.exp(rng.normal(0, 0.1)))) for (d, r), c in centre.items() for s in range(10)]
    out = sweep_contrasts(pd.DataFrame(rows), "grad_ratio", (+1, +1)).set_index("contrast")
    first, second = out.loc["deep plain vs shallow plain"], out.loc["deep plain vs deep residual"]
    assert first.log_scale and first.ci_low < 10 < first.ci_high and first.outcome == "as predicted"
    assert second.outcome == "no difference detected" and second.p_holm >= second.p
