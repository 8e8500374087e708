"""Customer-lifetime prediction models in plain NumPy/SciPy.

Two models, both fitted by maximum likelihood on per-customer summaries:

* the BG/NBD purchase-count model of Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way:
  An Alternative to the Pareto/NBD Model", Marketing Science 24(2);
* the Gamma-Gamma spend model of Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
  Customer Base Analysis", Journal of Marketing Research 42(4), in its (p, q, gamma) parametrisation.

A customer is summarised by ``frequency`` (x, the number of repeat purchases, i.e. purchases after the
first), ``recency`` (t_x, the time from the first to the last purchase) and ``age`` (T, the time from the
first purchase to the end of the observation period), all in one time unit of the caller's choosing (days,
weeks...). Fitted rate parameters (alpha) and prediction horizons are in that same unit.

This module has no Django dependency; messages of the exceptions are plain English strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

__all__ = [
    "BetaGeoParams",
    "CustomerValue",
    "GammaGammaParams",
    "InsufficientData",
    "ModelNotFitted",
    "expected_average_spend",
    "expected_transactions",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "predict_customer_value",
    "probability_alive",
    "sample_bgnbd",
    "unconditional_expected_transactions",
]

# The optimisers work on log-parameters inside this box; an optimum on its edge means the likelihood has
# no interior maximum (e.g. no sign of churn at all), which we report rather than return.
_LOG_BOUND = np.log(1e6)
_EDGE_TOLERANCE = 1e-3

# A tight tolerance: the objective is a mean log-likelihood of order 1, and parameters should be stable to
# well beyond the four significant digits anyone reports.
_SLSQP_OPTIONS = {"maxiter": 1000, "ftol": 1e-15}
_GRADIENT_TOLERANCE = 1e-6

# The BG/NBD expectation has a removable 0/0 singularity at a = 1; closer than this we interpolate.
_A_NEAR_ONE = 1e-4


class ModelNotFitted(Exception):
    """The model could not be fitted to the data honestly; the message says why."""


class InsufficientData(ModelNotFitted):
    """There is too little data (e.g. too few repeat customers) to fit the model."""


@dataclass(frozen=True)
class BetaGeoParams:
    """Fitted BG/NBD parameters.

    Purchase rates are gamma(r, alpha) distributed across customers and the per-purchase dropout
    probability is beta(a, b) distributed. ``log_likelihood`` is the unpenalised log-likelihood at the
    optimum and ``n_customers`` the number of customers the fit used.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters.

    A transaction's value is gamma(p, nu) distributed and nu is gamma(q, gamma) distributed across
    customers. ``log_likelihood`` is the unpenalised log-likelihood at the optimum and ``n_customers`` the
    number of repeat buyers the fit used.
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int

    @property
    def population_mean_spend(self) -> float:
        """Mean transaction value across the population, p * gamma / (q - 1)."""
        return self.p * self.gamma / (self.q - 1.0)


@dataclass(frozen=True)
class CustomerValue:
    """Per-customer predictions from :func:`predict_customer_value`.

    Arrays with a horizon dimension have shape ``(n_customers, len(horizons))``.
    """

    horizons: np.ndarray
    probability_alive: np.ndarray
    expected_transactions: np.ndarray
    expected_average_spend: np.ndarray
    predicted_value: np.ndarray


# --------------------------------------------------------------------------------------------------------
# Input handling


def _float_vector(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite.")
    return array


def _check_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be a non-negative whole number.")
    if np.any(t_x < 0) or np.any(T < 0):
        raise ValueError("recency and age must be non-negative.")
    if np.any(t_x > T):
        raise ValueError("recency cannot exceed age.")


def _dot(weights: np.ndarray, values: np.ndarray) -> float:
    """Weighted sum of ``values``.

    Not ``weights @ values``: OpenBLAS spreads long dot products over threads, and on a busy two-core
    server the hand-offs made a 100k-customer fit 20 times slower than this plain NumPy reduction.
    """
    return float(np.sum(weights * values))


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _float_vector("weights", weights)
    if w.shape != (n,):
        raise ValueError("weights must have one entry per customer.")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative.")
    return w


def _group_rows(columns: list[np.ndarray], weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows of ``columns`` into one row each, summing their ``weights``.

    Each column is first replaced by dense integer codes, then the codes are folded into one key column by
    column; re-densifying after each fold keeps keys below n**2, so int64 never overflows. This is several
    times faster than ``np.unique(..., axis=0)`` on 100k rows.
    """
    codes = np.zeros(len(weights), dtype=np.int64)
    first = np.arange(len(weights))
    for column in columns:
        levels, column_codes = np.unique(column, return_inverse=True)
        _, first, codes = np.unique(
            codes * len(levels) + column_codes, return_index=True, return_inverse=True
        )
    summed = np.bincount(codes, weights=weights, minlength=len(first))
    return [column[first] for column in columns], summed


def _fit_log_params(model: str, objective, theta0: np.ndarray) -> np.ndarray:
    """Minimise ``objective`` (value and gradient) over log-parameters; return the parameters.

    Raises :class:`ModelNotFitted` when the optimum is not a trustworthy interior maximum of the likelihood.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(theta0)
    # SLSQP rather than L-BFGS-B: as fast and as reliable here in function evaluations, but SciPy's L-BFGS-B
    # makes many tiny multi-threaded BLAS calls that cost ~0.1 s per fit on a busy machine.
    result = optimize.minimize(
        objective, theta0, jac=True, method="SLSQP", bounds=bounds, options=_SLSQP_OPTIONS
    )
    if not np.isfinite(result.fun) or not np.all(np.isfinite(result.x)):
        raise ModelNotFitted(f"The {model} fit failed: the likelihood is not finite.")
    # Checked before convergence: a run to the edge often ends in a line-search failure, and the edge is
    # the more useful explanation.
    if np.any(np.abs(np.abs(result.x) - _LOG_BOUND) < _EDGE_TOLERANCE):
        raise ModelNotFitted(f"The {model} fit is degenerate: a parameter ran off to zero or infinity.")
    # With this tight tolerance SLSQP may report a line-search failure at an optimum that is only limited
    # by rounding; a vanishing gradient tells the two apart.
    if not result.success and np.max(np.abs(result.jac)) > _GRADIENT_TOLERANCE:
        raise ModelNotFitted(f"The {model} fit did not converge ({result.message}).")
    return np.exp(result.x)


def _penalised(log_likelihood, n: float, penalizer: float, shrunk: np.ndarray):
    """Objective over log-parameters: mean negative log-likelihood plus an L2 penalty, with its gradient.

    The penalty ``penalizer * sum(log(param)**2)`` pulls the ``shrunk`` parameters towards 1 and away from
    0 and infinity. Only unit-free shape parameters are shrunk, so a penalised fit still scales exactly
    with the time or currency unit.
    """

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        ll, grad = log_likelihood(params)
        penalty = penalizer * shrunk * theta
        return -ll / n + penalty @ theta, -grad * params / n + 2.0 * penalty

    return objective


# --------------------------------------------------------------------------------------------------------
# BG/NBD


@dataclass(frozen=True)
class _BetaGeoData:
    """Customers compressed for the BG/NBD likelihood.

    Terms that depend on x alone are evaluated once per distinct x (``x_levels``, ``x_weights``); customers
    without repeat purchases only contribute through their age (``T0``, ``w0``); repeat buyers are grouped
    by identical (x, t_x, T) rows.
    """

    total: float
    x_levels: np.ndarray
    x_weights: np.ndarray
    T0: np.ndarray
    w0: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _BetaGeoData:
        keep = w > 0
        x, t_x, T, w = x[keep], t_x[keep], T[keep], w[keep]
        x_levels, x_codes = np.unique(x, return_inverse=True)
        repeat = x > 0
        (T0,), w0 = _group_rows([T[~repeat]], w[~repeat])
        (xr, txr, Tr), wr = _group_rows([x[repeat], t_x[repeat], T[repeat]], w[repeat])
        return cls(
            total=float(w.sum()),
            x_levels=x_levels,
            x_weights=np.bincount(x_codes, weights=w, minlength=len(x_levels)),
            T0=T0,
            w0=w0,
            x=xr,
            t_x=txr,
            T=Tr,
            w=wr,
        )


def _bgnbd_log_likelihood(params: np.ndarray, d: _BetaGeoData) -> tuple[float, np.ndarray]:
    """Total BG/NBD log-likelihood and its gradient with respect to (r, alpha, a, b).

    Per customer, the likelihood of FHL (2005), "Counting Your Customers the Easy Way", written as
    ln A1 + ln A2 + ln(A3 + [x > 0] A4) with A1 = Gamma(r + x) alpha^r / Gamma(r),
    A2 = B(a, b + x) / B(a, b), A3 = (alpha + T)^-(r + x) and A4 = a / (b + x - 1) (alpha + t_x)^-(r + x).
    The last term is a log-sum-exp of u = ln A3 and v = ln A4, and s = A4 / (A3 + A4) = expit(v - u) is
    the weight each of them gets in the gradient.
    """
    r, alpha, a, b = params
    xl, wl, W = d.x_levels, d.x_weights, d.total

    psi_abx = special.digamma(a + b + xl)
    psi_ab = special.digamma(a + b)
    ll = _dot(wl, special.gammaln(r + xl) + special.betaln(a, b + xl))
    ll += W * (r * np.log(alpha) - special.gammaln(r) - special.betaln(a, b))
    grad_r = _dot(wl, special.digamma(r + xl)) + W * (np.log(alpha) - special.digamma(r))
    grad_alpha = W * r / alpha
    grad_a = W * psi_ab - _dot(wl, psi_abx)
    grad_b = _dot(wl, special.digamma(b + xl) - psi_abx) - W * (special.digamma(b) - psi_ab)

    log_T0 = np.log(alpha + d.T0)
    ll -= r * _dot(d.w0, log_T0)
    grad_r -= _dot(d.w0, log_T0)
    grad_alpha -= r * _dot(d.w0, 1.0 / (alpha + d.T0))

    rx = r + d.x
    log_T = np.log(alpha + d.T)
    log_tx = np.log(alpha + d.t_x)
    u = -rx * log_T
    v = np.log(a) - np.log(b + d.x - 1.0) - rx * log_tx
    s = special.expit(v - u)
    ll += _dot(d.w, np.logaddexp(u, v))
    grad_r -= _dot(d.w, log_T + s * (log_tx - log_T))
    grad_alpha -= _dot(d.w, rx * ((1.0 - s) / (alpha + d.T) + s / (alpha + d.t_x)))
    grad_a += _dot(d.w, s) / a
    grad_b -= _dot(d.w, s / (b + d.x - 1.0))
    return float(ll), np.array([grad_r, grad_alpha, grad_a, grad_b])


def fit_bgnbd(
    frequency,
    recency,
    age,
    *,
    weights=None,
    penalizer: float = 0.0,
    min_repeat_customers: int = 200,
) -> BetaGeoParams:
    """Fit the BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way") by ML.

    ``frequency``, ``recency`` and ``age`` are per-customer x, t_x and T. ``weights`` optionally gives the
    number of customers each row stands for. ``penalizer`` adds
    ``penalizer * (ln(r)² + ln(a)² + ln(b)²)`` to the mean negative log-likelihood: a mild shrinkage that
    keeps thin or awkward data sets (e.g. no visible churn) away from degenerate optima.

    Raises :class:`InsufficientData` if fewer than ``min_repeat_customers`` customers have a repeat
    purchase, and :class:`ModelNotFitted` if the optimiser fails or the optimum is degenerate.
    """
    x = _float_vector("frequency", frequency)
    t_x = _float_vector("recency", recency)
    T = _float_vector("age", age)
    if not x.shape == t_x.shape == T.shape:
        raise ValueError("frequency, recency and age must have the same length.")
    _check_rfm(x, t_x, T)
    w = _weights(weights, len(x))

    n_repeat = w[x > 0].sum()
    if n_repeat < min_repeat_customers:
        raise InsufficientData(
            f"Too few repeat customers to predict purchases: {n_repeat:.0f} (need {min_repeat_customers})."
        )

    d = _BetaGeoData.build(x, t_x, T, w)
    # Start from r = a = b = 1 with alpha matching the observed mean purchase rate, so the start is on the
    # right scale whatever the time unit.
    rate = _dot(w, x) / max(_dot(w, T), np.finfo(float).tiny)
    theta0 = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    objective = _penalised(
        lambda params: _bgnbd_log_likelihood(params, d), d.total, penalizer, shrunk=np.array([1, 0, 1, 1])
    )
    r, alpha, a, b = _fit_log_params("BG/NBD", objective, theta0)
    # Along a ridge of the likelihood a and b can run off together, their ratio fixed, and stop short of
    # the bounds (seen on a demo store: a = 4,689, b = 998,585); the 2F1 of the expected purchases then
    # overflows. A fit that cannot predict for the very customers it was fitted on is degenerate.
    horizon = float(T.max())
    expected = _expected_if_alive(r, alpha, a, b, horizon, np.r_[d.x, np.zeros(len(d.T0))], np.r_[d.T, d.T0])
    if not np.all(np.isfinite(expected)):
        raise ModelNotFitted("The BG/NBD fit is degenerate: its predictions cannot be computed.")
    ll, _ = _bgnbd_log_likelihood(np.array([r, alpha, a, b]), d)
    return BetaGeoParams(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=ll,
        n_customers=round(d.total),
    )


def _rfm_arrays(*arrays) -> tuple[np.ndarray, ...]:
    broadcast = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))
    if not all(np.all(np.isfinite(a)) for a in broadcast):
        raise ValueError("Inputs must be finite.")
    return broadcast


def _log_odds_dead(params: BetaGeoParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ln(A4 / A3) of the likelihood: log-odds of having dropped out after the last purchase (x > 0)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # x = 0 rows are overwritten by the caller; max(x, 1) only keeps the log defined for them.
    return (
        np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )


def probability_alive(params: BetaGeoParams, frequency, recency, age) -> np.ndarray:
    """P(alive | x, t_x, T) under BG/NBD ("Counting Your Customers the Easy Way", FHL 2005).

    From Fader, Hardie & Lee's note "Computing P(alive) Using the BG/NBD Model":
    1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)). A customer with no repeat
    purchase is alive with probability 1: in BG/NBD dropout can only happen right after a repeat purchase.
    Inputs broadcast against each other.
    """
    x, t_x, T = _rfm_arrays(frequency, recency, age)
    _check_rfm(x, t_x, T)
    return np.where(x > 0, special.expit(-_log_odds_dead(params, x, t_x, T)), 1.0)


def _hyp2f1(A, B, C, z) -> np.ndarray:
    """Gauss's 2F1(A, B; C; z) from SciPy, stepping around its NaNs.

    SciPy 1.17 returns NaN for z near 1 when C - A - B is (nearly) an integer, e.g. BG/NBD with r - a
    integer. 2F1 is smooth in C there, and the mean of two neighbours 1e-6 away is accurate to ~1e-9.
    """
    value = np.array(special.hyp2f1(A, B, C, z))
    failed = ~np.isfinite(value)
    if np.any(failed):
        A, B, C, z = (np.broadcast_to(v, value.shape)[failed] for v in (A, B, C, z))
        step = 1e-6 * np.maximum(np.abs(C), 1.0)
        value[failed] = (special.hyp2f1(A, B, C - step, z) + special.hyp2f1(A, B, C + step, z)) / 2.0
    return value


def _expected_if_alive(r, alpha, a, b, t, x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, alive at T]: FHL (2005)'s conditional expectation / P(alive)."""
    if abs(a - 1.0) < _A_NEAR_ONE:
        # 0/0 at a = 1 but smooth in a: interpolate between points just either side.
        low, high = 1.0 - _A_NEAR_ONE, 1.0 + _A_NEAR_ONE
        y_low = _expected_if_alive_closed_form(r, alpha, low, b, t, x, T)
        y_high = _expected_if_alive_closed_form(r, alpha, high, b, t, x, T)
        return y_low + (y_high - y_low) * (a - low) / (high - low)
    return _expected_if_alive_closed_form(r, alpha, a, b, t, x, T)


def _expected_if_alive_closed_form(r, alpha, a, b, t, x, T) -> np.ndarray:
    """The closed form behind :func:`_expected_if_alive`, valid for a != 1.

    The paper's (a + b + x - 1) / (a - 1) [1 - ((alpha + T) / (alpha + T + t))^(r + x)
    2F1(r + x, b + x; a + b + x - 1; z)] with z = t / (alpha + T + t) multiplies a vanishing power by a
    hypergeometric term that overflows for large x. Euler's transformation
    2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) turns it into
    1 - (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z), whose first two hypergeometric
    parameters do not grow with x and whose series converges quickly.
    """
    z = t / (alpha + T + t)
    log_one_minus_z = np.log(alpha + T) - np.log(alpha + T + t)
    tail = np.exp((a - 1.0) * log_one_minus_z) * _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    # The true value is >= 0; rounding can leave a hair below zero for tiny t.
    return np.maximum((a + b + x - 1.0) / (a - 1.0) * (1.0 - tail), 0.0)


def expected_transactions(params: BetaGeoParams, t, frequency, recency, age) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units under BG/NBD.

    The conditional expectation of FHL (2005), "Counting Your Customers the Easy Way": P(alive | x, t_x, T)
    times the expected purchases of a customer still alive at T. Inputs (including ``t``) broadcast against
    each other.
    """
    t, x, t_x, T = _rfm_arrays(t, frequency, recency, age)
    _check_rfm(x, t_x, T)
    if np.any(t < 0):
        raise ValueError("The horizon t must be non-negative.")
    if_alive = _expected_if_alive(params.r, params.alpha, params.a, params.b, t, x, T)
    return if_alive * probability_alive(params, x, t_x, T)


def unconditional_expected_transactions(params: BetaGeoParams, t) -> np.ndarray:
    """E[X(t)]: expected repeat purchases of a new customer in their first ``t`` time units under BG/NBD.

    From FHL (2005), "Counting Your Customers the Easy Way"; it equals the conditional expectation at
    x = t_x = T = 0.
    """
    (t,) = _rfm_arrays(t)
    if np.any(t < 0):
        raise ValueError("The horizon t must be non-negative.")
    zero = np.zeros_like(t)
    return _expected_if_alive(params.r, params.alpha, params.a, params.b, t, zero, zero)


def sample_bgnbd(params: BetaGeoParams, age, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (frequency, recency) for customers of the given ages from the BG/NBD generative process.

    FHL (2005), "Counting Your Customers the Easy Way", section 3: each customer buys at a gamma(r, alpha)
    distributed Poisson rate and drops out after each repeat purchase with a beta(a, b) distributed
    probability. For synthetic test, benchmark and demo data.
    """
    T = _float_vector("age", age)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=T.shape)
    dropout = rng.beta(params.a, params.b, size=T.shape)
    would_buy = rng.poisson(rate * T)  # repeat purchases in (0, T] if the customer never dropped out
    x = np.minimum(would_buy, rng.geometric(dropout))
    # Given n Poisson arrivals in (0, T], the x-th arrival time is T times the x-th of n uniform order
    # statistics, which is Beta(x, n - x + 1) distributed.
    t_x = np.zeros_like(T)
    repeat = x > 0
    t_x[repeat] = T[repeat] * rng.beta(x[repeat], would_buy[repeat] - x[repeat] + 1)
    return x.astype(float), t_x


# --------------------------------------------------------------------------------------------------------
# Gamma-Gamma


@dataclass(frozen=True)
class _GammaGammaData:
    """Repeat buyers prepared for the Gamma-Gamma likelihood.

    Terms that depend on x alone are evaluated once per distinct x (``x_levels``, ``x_weights``); sums that
    do not involve the parameters are computed once; identical (x, zbar) rows are grouped.
    """

    total: float
    x_levels: np.ndarray
    x_weights: np.ndarray
    sum_x_log_m: float
    sum_log_zbar: float
    x: np.ndarray
    m: np.ndarray
    w: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, zbar: np.ndarray, w: np.ndarray) -> _GammaGammaData:
        (x, zbar), w = _group_rows([x, zbar], w)
        x_levels, x_codes = np.unique(x, return_inverse=True)
        m = x * zbar
        return cls(
            total=float(w.sum()),
            x_levels=x_levels,
            x_weights=np.bincount(x_codes, weights=w, minlength=len(x_levels)),
            sum_x_log_m=_dot(w, x * np.log(m)),
            sum_log_zbar=_dot(w, np.log(zbar)),
            x=x,
            m=m,
            w=w,
        )


def _gamma_gamma_log_likelihood(params: np.ndarray, d: _GammaGammaData) -> tuple[float, np.ndarray]:
    """Total Gamma-Gamma log-likelihood of mean spends and its gradient with respect to (p, q, gamma).

    The density of zbar in FHL (2005), "RFM and CLV: Using Iso-Value Curves", written with m = x * zbar:
    ln Gamma(px + q) - ln Gamma(px) - ln Gamma(q) + q ln gamma + px ln m - ln zbar - (px + q) ln(gamma + m).
    """
    p, q, gamma = params
    xl, wl, N = d.x_levels, d.x_weights, d.total
    psi_pxq = special.digamma(p * xl + q)
    log_gm = np.log(gamma + d.m)
    ll = _dot(wl, special.gammaln(p * xl + q) - special.gammaln(p * xl))
    ll += p * d.sum_x_log_m - d.sum_log_zbar - _dot(d.w, (p * d.x + q) * log_gm)
    ll += N * (q * np.log(gamma) - special.gammaln(q))
    grad_p = _dot(wl, xl * (psi_pxq - special.digamma(p * xl))) + d.sum_x_log_m - _dot(d.w, d.x * log_gm)
    grad_q = _dot(wl, psi_pxq) - _dot(d.w, log_gm) + N * (np.log(gamma) - special.digamma(q))
    grad_gamma = N * q / gamma - _dot(d.w, (p * d.x + q) / (gamma + d.m))
    return float(ll), np.array([grad_p, grad_q, grad_gamma])


def fit_gamma_gamma(
    frequency,
    mean_spend,
    *,
    weights=None,
    penalizer: float = 0.0,
    min_repeat_customers: int = 200,
) -> GammaGammaParams:
    """Fit the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves").

    ``frequency`` is x and ``mean_spend`` zbar, the mean value of the customer's repeat transactions. Only
    repeat buyers (x > 0) with a positive mean spend inform the fit: a gamma model cannot produce zero
    spend. ``mean_spend`` of customers with x = 0 is ignored and may be NaN. ``weights`` works as in
    :func:`fit_bgnbd`; ``penalizer`` adds ``penalizer * (ln(p)² + ln(q)²)`` to the mean negative
    log-likelihood.

    Raises :class:`InsufficientData` if fewer than ``min_repeat_customers`` such customers remain, and
    :class:`ModelNotFitted` if the optimiser fails, the optimum is degenerate, or q <= 1 (the population
    mean spend would be infinite).
    """
    x = _float_vector("frequency", frequency)
    zbar = np.asarray(mean_spend, dtype=float).reshape(-1)
    if x.shape != zbar.shape:
        raise ValueError("frequency and mean_spend must have the same length.")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be a non-negative whole number.")
    # Customers without repeat purchases have no mean spend (often NaN); it is not used for them.
    if not np.all(np.isfinite(zbar[x > 0])):
        raise ValueError("mean_spend must be finite for repeat buyers.")
    w = _weights(weights, len(x))

    keep = (x > 0) & (zbar > 0) & (w > 0)
    n_used = w[keep].sum()
    if n_used < min_repeat_customers:
        raise InsufficientData(
            f"Too few repeat customers to predict spend: {n_used:.0f} (need {min_repeat_customers})."
        )
    d = _GammaGammaData.build(x[keep], zbar[keep], w[keep])

    objective = _penalised(
        lambda params: _gamma_gamma_log_likelihood(params, d), d.total, penalizer, shrunk=np.array([1, 1, 0])
    )
    # Start with p = 1, q = 3 and gamma putting the population mean p * gamma / (q - 1) at the observed
    # mean spend, so the start is on the right scale whatever the currency unit.
    theta0 = np.log([1.0, 3.0, 2.0 * _dot(w[keep], zbar[keep]) / d.total])
    p, q, gamma = _fit_log_params("Gamma-Gamma", objective, theta0)
    if q <= 1.0:
        raise ModelNotFitted("The Gamma-Gamma fit is degenerate: spend is too heavy-tailed (q <= 1).")
    ll, _ = _gamma_gamma_log_likelihood(np.array([p, q, gamma]), d)
    return GammaGammaParams(
        p=float(p), q=float(q), gamma=float(gamma), log_likelihood=ll, n_customers=round(n_used)
    )


def expected_average_spend(params: GammaGammaParams, frequency, mean_spend) -> np.ndarray:
    """E[Z | x, zbar]: expected value of a customer's future transactions under Gamma-Gamma.

    FHL (2005), "RFM and CLV: Using Iso-Value Curves": p (gamma + x zbar) / (p x + q - 1), a
    weighted mean of the population mean p gamma / (q - 1) and the customer's own zbar. For x = 0 it is the
    population mean and ``mean_spend`` is ignored (it may be NaN). Inputs broadcast against each other.
    """
    x, zbar = np.broadcast_arrays(np.asarray(frequency, dtype=float), np.asarray(mean_spend, dtype=float))
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("frequency must be finite and non-negative.")
    # Customers without repeat purchases have no mean spend (often NaN); it is not used for them.
    zbar = np.where(x > 0, zbar, 0.0)
    if not np.all(np.isfinite(zbar)):
        raise ValueError("mean_spend must be finite for repeat buyers.")
    p, q, gamma = params.p, params.q, params.gamma
    return p * (gamma + x * zbar) / (p * x + q - 1.0)


# --------------------------------------------------------------------------------------------------------
# Combined


def predict_customer_value(
    bgnbd: BetaGeoParams,
    gamma_gamma: GammaGammaParams,
    frequency,
    recency,
    age,
    mean_spend,
    horizons,
) -> CustomerValue:
    """Per-customer probability alive, expected orders, expected order value and predicted value.

    ``horizons`` is one horizon or a sequence of them, in the time unit of ``recency`` and ``age``. The
    predicted value for a horizon is expected orders (BG/NBD) times expected average order value
    (Gamma-Gamma), undiscounted; FHL (2005) "RFM and CLV" justify the product by assuming spend
    independent of purchase timing.
    """
    x, t_x, T, zbar = (
        np.reshape(column, -1)
        for column in np.broadcast_arrays(
            *(np.asarray(values, dtype=float) for values in (frequency, recency, age, mean_spend))
        )
    )
    horizon_array = np.atleast_1d(np.asarray(horizons, dtype=float))
    if horizon_array.ndim != 1:
        raise ValueError("horizons must be a number or a sequence of numbers.")
    alive = probability_alive(bgnbd, x, t_x, T)
    orders = expected_transactions(bgnbd, horizon_array[None, :], x[:, None], t_x[:, None], T[:, None])
    spend = expected_average_spend(gamma_gamma, x, zbar)
    return CustomerValue(
        horizons=horizon_array,
        probability_alive=alive,
        expected_transactions=orders,
        expected_average_spend=spend,
        predicted_value=orders * spend[:, None],
    )
