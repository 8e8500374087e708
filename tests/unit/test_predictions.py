"""Tests for the BG/NBD and Gamma-Gamma models in oscar_champions.predictions (no Django needed)."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from oscar_champions import predictions
from oscar_champions.predictions import (
    BetaGeoParams,
    GammaGammaParams,
    InsufficientData,
    ModelNotFitted,
    expected_average_spend,
    expected_transactions,
    fit_bgnbd,
    fit_gamma_gamma,
    predict_customer_value,
    probability_alive,
    sample_bgnbd,
    unconditional_expected_transactions,
)

CDNOW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow"


@pytest.fixture(scope="module")
def cdnow():
    data = np.genfromtxt(CDNOW / "cdnow_customers_summary.csv", delimiter=",", names=True)
    return data["frequency"], data["recency"], data["T"]


@pytest.fixture(scope="module")
def cdnow_spend():
    data = np.genfromtxt(CDNOW / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True)
    return data["x"], data["zbar"]


@pytest.fixture(scope="module")
def cdnow_fit(cdnow):
    return fit_bgnbd(*cdnow)


@pytest.fixture(scope="module")
def cdnow_spend_fit(cdnow_spend):
    return fit_gamma_gamma(*cdnow_spend)


def assert_same_bgnbd(left: BetaGeoParams, right: BetaGeoParams, rtol: float = 1e-6) -> None:
    for name in ("r", "alpha", "a", "b"):
        assert getattr(left, name) == pytest.approx(getattr(right, name), rel=rtol), name


# --------------------------------------------------------------------------------------------------------
# Published CDNOW results


def test_bgnbd_reproduces_published_cdnow_estimates(cdnow_fit):
    assert round(cdnow_fit.r, 3) == 0.243
    assert round(cdnow_fit.alpha, 3) == 4.414
    assert round(cdnow_fit.a, 3) == 0.793
    assert round(cdnow_fit.b, 3) == 2.426
    assert round(cdnow_fit.log_likelihood, 1) == -9582.4
    assert cdnow_fit.n_customers == 2357


def test_expected_transactions_reproduces_published_example(cdnow_fit):
    assert round(float(expected_transactions(cdnow_fit, 39, 2, 30.43, 38.86)), 3) == 1.226


def test_gamma_gamma_reproduces_published_cdnow_estimates(cdnow_spend_fit):
    assert cdnow_spend_fit.n_customers == 946
    assert round(cdnow_spend_fit.p, 2) == 6.25
    assert round(cdnow_spend_fit.q, 2) == 3.74
    # The maximum is at gamma = 15.4477 (lifetimes agrees): the published figures look truncated, not rounded.
    assert cdnow_spend_fit.gamma == pytest.approx(15.44, abs=0.01)


def test_expected_average_spend_reproduces_published_sample(cdnow_spend, cdnow_spend_fit):
    x, zbar = cdnow_spend
    published = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    # Also truncated: customer 1 is 24.6586 at the maximum.
    np.testing.assert_allclose(
        expected_average_spend(cdnow_spend_fit, x[:10], zbar[:10]), published, atol=0.01
    )


# --------------------------------------------------------------------------------------------------------
# Likelihoods and fitting


def central_gradient(function, point: np.ndarray, step: float = 1e-6) -> np.ndarray:
    gradient = np.empty_like(point)
    for i in range(len(point)):
        h = np.zeros_like(point)
        h[i] = step * max(abs(point[i]), 1.0)
        gradient[i] = (function(point + h) - function(point - h)) / (2 * h[i])
    return gradient


@pytest.mark.parametrize(
    "params",
    [(0.243, 4.414, 0.793, 2.426), (2.0, 0.5, 3.0, 0.3), (1.0, 1.0, 1.0, 1.0), (0.05, 80.0, 0.2, 9.0)],
)
def test_bgnbd_gradient_matches_finite_differences(cdnow, params):
    data = predictions._BetaGeoData.build(*cdnow, np.ones(len(cdnow[0])))
    params = np.array(params)
    _, gradient = predictions._bgnbd_log_likelihood(params, data)
    numeric = central_gradient(lambda p: predictions._bgnbd_log_likelihood(p, data)[0], params)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (0.5, 1.5, 2.0), (20.0, 8.0, 300.0)])
def test_gamma_gamma_gradient_matches_finite_differences(cdnow_spend, params):
    x, zbar = cdnow_spend
    data = predictions._GammaGammaData.build(x[x > 0], zbar[x > 0], np.ones(int((x > 0).sum())))
    params = np.array(params)
    _, gradient = predictions._gamma_gamma_log_likelihood(params, data)
    numeric = central_gradient(lambda p: predictions._gamma_gamma_log_likelihood(p, data)[0], params)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-3)


def test_penalised_objective_gradient_matches_finite_differences(cdnow):
    data = predictions._BetaGeoData.build(*cdnow, np.ones(len(cdnow[0])))
    objective = predictions._penalised(
        lambda params: predictions._bgnbd_log_likelihood(params, data),
        data.total,
        0.3,
        np.array([1, 0, 1, 1]),
    )
    theta = np.log([0.5, 3.0, 0.7, 2.0])
    numeric = central_gradient(lambda point: objective(point)[0], theta)
    np.testing.assert_allclose(objective(theta)[1], numeric, rtol=1e-6, atol=1e-8)


def test_bgnbd_log_likelihood_matches_paper_formula_per_customer(cdnow):
    x, t_x, T = cdnow
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    # The FHL (2005) likelihood as printed, evaluated customer by customer.
    likelihood = (
        special.beta(a, b + x)
        / special.beta(a, b)
        * special.gamma(r + x)
        * alpha**r
        / special.gamma(r)
        / (alpha + T) ** (r + x)
    ) + np.where(
        x > 0,
        special.beta(a + 1, b + x - 1)
        / special.beta(a, b)
        * special.gamma(r + x)
        * alpha**r
        / special.gamma(r)
        / (alpha + t_x) ** (r + x),
        0.0,
    )
    data = predictions._BetaGeoData.build(x, t_x, T, np.ones(len(x)))
    ll, _ = predictions._bgnbd_log_likelihood(np.array([r, alpha, a, b]), data)
    assert ll == pytest.approx(np.log(likelihood).sum(), rel=1e-12)


def test_gamma_gamma_log_likelihood_matches_paper_formula_per_customer(cdnow_spend):
    # Up to 5 repeat purchases, where the formula as printed does not overflow.
    x, zbar = (column[(cdnow_spend[0] > 0) & (cdnow_spend[0] <= 5)] for column in cdnow_spend)
    p, q, gamma = 6.25, 3.74, 15.44
    # The density of the mean of x gamma(p, nu) spends, mixed over nu ~ gamma(q, gamma).
    density = (
        special.gamma(p * x + q)
        / (special.gamma(p * x) * special.gamma(q))
        * gamma**q
        * zbar ** (p * x - 1)
        * x ** (p * x)
        / (gamma + x * zbar) ** (p * x + q)
    )
    data = predictions._GammaGammaData.build(x, zbar, np.ones(len(x)))
    ll, _ = predictions._gamma_gamma_log_likelihood(np.array([p, q, gamma]), data)
    assert ll == pytest.approx(np.log(density).sum(), rel=1e-10)


def test_fit_is_invariant_to_row_order(cdnow, cdnow_fit):
    order = np.random.default_rng(7).permutation(len(cdnow[0]))
    assert_same_bgnbd(fit_bgnbd(*(column[order] for column in cdnow)), cdnow_fit)


def test_weighted_fit_equals_expanded_fit(cdnow, cdnow_fit):
    rows, counts = np.unique(np.column_stack(cdnow), axis=0, return_counts=True)
    weighted = fit_bgnbd(*rows.T, weights=counts)
    assert_same_bgnbd(weighted, cdnow_fit)
    assert weighted.log_likelihood == pytest.approx(cdnow_fit.log_likelihood, rel=1e-10)
    assert weighted.n_customers == cdnow_fit.n_customers

    doubled = fit_bgnbd(*(np.tile(column, 2) for column in cdnow))
    assert_same_bgnbd(fit_bgnbd(*cdnow, weights=np.full(len(cdnow[0]), 2.0)), doubled)
    assert doubled.log_likelihood == pytest.approx(2 * cdnow_fit.log_likelihood, rel=1e-10)


def test_weighted_gamma_gamma_equals_expanded_fit(cdnow_spend, cdnow_spend_fit):
    rows, counts = np.unique(np.column_stack(cdnow_spend), axis=0, return_counts=True)
    weighted = fit_gamma_gamma(*rows.T, weights=counts)
    for name in ("p", "q", "gamma", "log_likelihood"):
        assert getattr(weighted, name) == pytest.approx(getattr(cdnow_spend_fit, name), rel=1e-6), name


@pytest.mark.parametrize("penalizer", [0.0, 0.05])
def test_bgnbd_scales_with_the_time_unit(cdnow, penalizer):
    x, t_x, T = cdnow
    weeks = fit_bgnbd(x, t_x, T, penalizer=penalizer)
    days = fit_bgnbd(x, t_x * 7, T * 7, penalizer=penalizer)
    assert days.alpha == pytest.approx(7 * weeks.alpha, rel=1e-6)
    for name in ("r", "a", "b"):
        assert getattr(days, name) == pytest.approx(getattr(weeks, name), rel=1e-6)
    # Densities of t_x pick up a Jacobian of 1/7 per repeat purchase.
    assert days.log_likelihood == pytest.approx(weeks.log_likelihood - x.sum() * np.log(7), rel=1e-8)


def test_gamma_gamma_scales_with_the_currency_unit(cdnow_spend, cdnow_spend_fit):
    x, zbar = cdnow_spend
    cents = fit_gamma_gamma(x, zbar * 100)
    assert cents.gamma == pytest.approx(100 * cdnow_spend_fit.gamma, rel=1e-6)
    assert cents.p == pytest.approx(cdnow_spend_fit.p, rel=1e-6)
    assert cents.q == pytest.approx(cdnow_spend_fit.q, rel=1e-6)


def test_gamma_gamma_uses_only_repeat_buyers_with_a_positive_spend(cdnow_spend, cdnow_spend_fit):
    x, zbar = cdnow_spend
    extra = fit_gamma_gamma(np.append(x, [3, 1, 0, 0]), np.append(zbar, [0.0, -5.0, 12.0, np.nan]))
    assert extra == cdnow_spend_fit
    with pytest.raises(ValueError, match="finite for repeat buyers"):
        fit_gamma_gamma(np.append(x, 2), np.append(zbar, np.nan))


def test_fit_recovers_simulated_parameters():
    truth = BetaGeoParams(r=0.5, alpha=6.0, a=0.7, b=3.0, log_likelihood=0.0, n_customers=0)
    rng = np.random.default_rng(2024)
    age = rng.uniform(20, 80, 50_000)
    frequency, recency = sample_bgnbd(truth, age, rng)
    fitted = fit_bgnbd(frequency, recency, age)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.1), name


def test_unconditional_expectation_matches_simulation(cdnow_fit):
    rng = np.random.default_rng(11)
    frequency, _ = sample_bgnbd(cdnow_fit, np.full(400_000, 52.0), rng)
    standard_error = frequency.std() / np.sqrt(len(frequency))
    assert float(unconditional_expected_transactions(cdnow_fit, 52.0)) == pytest.approx(
        frequency.mean(), abs=4 * standard_error
    )


# --------------------------------------------------------------------------------------------------------
# Thin or degenerate data


def test_too_few_customers_raise_insufficient_data(cdnow):
    with pytest.raises(InsufficientData, match="Too few repeat customers"):
        fit_bgnbd(*(column[:50] for column in cdnow))


def test_no_repeat_purchases_raise_insufficient_data():
    with pytest.raises(InsufficientData, match="Too few repeat customers"):
        fit_bgnbd(np.zeros(5000), np.zeros(5000), np.full(5000, 30.0))
    with pytest.raises(InsufficientData, match="Too few repeat customers"):
        fit_gamma_gamma(np.zeros(5000), np.zeros(5000))


def test_min_repeat_customers_is_a_parameter(cdnow, cdnow_spend):
    with pytest.raises(InsufficientData):
        fit_bgnbd(*cdnow, min_repeat_customers=1000)
    with pytest.raises(InsufficientData):
        fit_gamma_gamma(*cdnow_spend, min_repeat_customers=1000)
    assert fit_bgnbd(*(column[:300] for column in cdnow), min_repeat_customers=50).n_customers == 300


def test_data_without_churn_is_degenerate_unless_penalised():
    rng = np.random.default_rng(3)
    age = rng.uniform(20, 40, 500)
    frequency = rng.poisson(5, 500) + 1.0
    # Everybody bought on the last day: nothing in the data says anyone ever leaves.
    with pytest.raises(ModelNotFitted, match="degenerate"):
        fit_bgnbd(frequency, age, age)
    penalised = fit_bgnbd(frequency, age, age, penalizer=0.1)
    assert np.all(np.isfinite([penalised.r, penalised.alpha, penalised.a, penalised.b]))


def test_a_fit_run_off_along_the_ridge_is_degenerate(cdnow, monkeypatch):
    # The optimum a refresh of the demo store once found: a and b huge, their ratio fixed, short of the
    # bounds; the expected purchases overflow there.
    ridge = np.log([0.8896, 7.1207, 4688.8, 998584.9])
    monkeypatch.setattr(predictions, "_fit_log_params", lambda model, objective, theta0: np.exp(ridge))
    with pytest.raises(ModelNotFitted, match="degenerate"):
        fit_bgnbd(*cdnow)


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([1, 2], [5, 6], [4, 7], "recency cannot exceed age"),
        ([-1, 2], [0, 6], [4, 7], "non-negative whole number"),
        ([1.5, 2], [1, 6], [4, 7], "non-negative whole number"),
        ([1, 2], [1, 6], [4], "same length"),
        ([1, np.nan], [1, 6], [4, 7], "finite"),
    ],
)
def test_invalid_input_raises_value_error(frequency, recency, age, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(frequency, recency, age)


# --------------------------------------------------------------------------------------------------------
# Predictions


def test_probability_alive_by_hand():
    params = BetaGeoParams(r=1.0, alpha=1.0, a=1.0, b=2.0, log_likelihood=0.0, n_customers=0)
    # 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)) = 1 / (1 + 1/2 * 2**2)
    assert float(probability_alive(params, 1, 1.0, 3.0)) == pytest.approx(1 / 3)
    # Bought on the last day: only the dropout right after that purchase counts, a / (a + b + x - 1).
    assert float(probability_alive(params, 1, 3.0, 3.0)) == pytest.approx(2 / 3)


def test_probability_alive_is_one_without_repeat_purchases(cdnow_fit):
    np.testing.assert_array_equal(probability_alive(cdnow_fit, [0, 0, 0], 0.0, [0.0, 10.0, 500.0]), 1.0)


def test_expected_transactions_grow_with_horizon(cdnow, cdnow_fit):
    horizons = np.array([0.0, 1.0, 13.0, 26.0, 39.0, 52.0, 520.0])
    x, t_x, T = (column[:, None] for column in cdnow)
    values = expected_transactions(cdnow_fit, horizons, x, t_x, T)
    assert np.all(values[:, 0] == 0)
    assert np.all(np.diff(values, axis=1) > 0)


def test_expected_transactions_match_paper_form(cdnow_fit):
    r, alpha, a, b = cdnow_fit.r, cdnow_fit.alpha, cdnow_fit.a, cdnow_fit.b
    t, x, t_x, T = 26.0, np.array([0, 1, 2, 7, 20]), np.array([0.0, 5.0, 30.43, 29.43, 36.0]), 38.86
    # The FHL (2005) conditional expectation as printed, fine at these moderate x.
    z = t / (alpha + T + t)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    np.testing.assert_allclose(
        expected_transactions(cdnow_fit, t, x, t_x, T), numerator / denominator, rtol=1e-10
    )


def test_expected_transactions_stay_finite_for_heavy_buyers(cdnow_fit):
    values = expected_transactions(cdnow_fit, 52.0, [500, 5000], [38.0, 38.8], 38.86)
    assert np.all(np.isfinite(values)) and np.all(values > 0)


def test_expected_transactions_where_scipy_hyp2f1_fails():
    # r - a integer makes C - A - B of the hypergeometric an integer, where SciPy's hyp2f1 gives NaN.
    def at(r):
        params = BetaGeoParams(r=r, alpha=1.0, a=np.exp(2), b=np.exp(2), log_likelihood=0.0, n_customers=0)
        return expected_transactions(params, [1.0, 10.0, 20.0], 96, 0.0, 0.0)

    values = at(np.exp(2))
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)
    np.testing.assert_allclose(values, at(np.exp(2) * (1 + 1e-7)), rtol=1e-6)


def test_expected_transactions_are_continuous_through_a_equal_one():
    def at(a):
        params = BetaGeoParams(r=0.5, alpha=5.0, a=a, b=2.0, log_likelihood=0.0, n_customers=0)
        return expected_transactions(params, 30.0, [0, 3], [0.0, 10.0], 20.0)

    np.testing.assert_allclose(at(1.0), (at(1.0 - 1e-3) + at(1.0 + 1e-3)) / 2, rtol=1e-5)
    np.testing.assert_allclose(at(1.0 + 5e-5), at(1.0 + 2e-4), rtol=1e-3)


def test_unconditional_expectation_matches_paper_form(cdnow_fit):
    r, alpha, a, b = cdnow_fit.r, cdnow_fit.alpha, cdnow_fit.a, cdnow_fit.b
    t = np.array([1.0, 39.0, 78.0])
    # The FHL (2005) unconditional expectation as printed.
    expected = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    np.testing.assert_allclose(unconditional_expected_transactions(cdnow_fit, t), expected, rtol=1e-10)


def test_expected_average_spend_for_new_customers_is_population_mean(cdnow_spend_fit):
    values = expected_average_spend(cdnow_spend_fit, [0, 0], [0.0, np.nan])
    np.testing.assert_allclose(values, cdnow_spend_fit.population_mean_spend)


def test_predict_customer_value_combines_both_models(cdnow, cdnow_spend, cdnow_fit, cdnow_spend_fit):
    x, t_x, T = cdnow
    zbar = cdnow_spend[1]
    result = predict_customer_value(cdnow_fit, cdnow_spend_fit, x, t_x, T, zbar, horizons=[13, 52])
    assert result.expected_transactions.shape == result.predicted_value.shape == (len(x), 2)
    np.testing.assert_allclose(result.probability_alive, probability_alive(cdnow_fit, x, t_x, T))
    np.testing.assert_allclose(
        result.expected_transactions[:, 1], expected_transactions(cdnow_fit, 52, x, t_x, T)
    )
    np.testing.assert_allclose(
        result.expected_average_spend, expected_average_spend(cdnow_spend_fit, x, zbar)
    )
    np.testing.assert_allclose(
        result.predicted_value, result.expected_transactions * result.expected_average_spend[:, None]
    )
    single = predict_customer_value(cdnow_fit, cdnow_spend_fit, x, t_x, T, zbar, horizons=52)
    np.testing.assert_allclose(single.predicted_value[:, 0], result.predicted_value[:, 1])


# --------------------------------------------------------------------------------------------------------
# Properties


def log_uniform(low: float, high: float):
    return st.floats(np.log(low), np.log(high)).map(np.exp)


bgnbd_params = st.builds(
    BetaGeoParams,
    r=log_uniform(1e-2, 50),
    alpha=log_uniform(1e-2, 1e3),
    a=log_uniform(1e-2, 50),
    b=log_uniform(1e-2, 50),
    log_likelihood=st.just(0.0),
    n_customers=st.just(0),
)


@st.composite
def customers(draw):
    age = draw(st.floats(0.0, 1000.0))
    return draw(st.integers(0, 1000)), age * draw(st.floats(0.0, 1.0)), age


@settings(max_examples=300, deadline=None)
@given(
    params=bgnbd_params,
    customer=customers(),
    horizons=st.tuples(log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3)),
)
def test_predictions_are_valid_for_any_valid_input(params, customer, horizons):
    alive = float(probability_alive(params, *customer))
    assert 0.0 <= alive <= 1.0
    short, long = expected_transactions(params, np.sort(horizons), *customer)
    assert np.isfinite(long)
    assert 0.0 <= short <= long * (1 + 1e-9)


@given(
    p=log_uniform(1e-2, 100),
    q=log_uniform(1.01, 100),
    gamma=log_uniform(1e-2, 1e4),
    frequency=st.integers(1, 1000),
    mean_spend=log_uniform(1e-2, 1e5),
)
def test_expected_spend_lies_between_population_and_own_mean(p, q, gamma, frequency, mean_spend):
    params = GammaGammaParams(p=p, q=q, gamma=gamma, log_likelihood=0.0, n_customers=0)
    value = float(expected_average_spend(params, frequency, mean_spend))
    low, high = sorted([params.population_mean_spend, mean_spend])
    assert low * (1 - 1e-9) <= value <= high * (1 + 1e-9)
