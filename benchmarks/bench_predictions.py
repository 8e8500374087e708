"""Time oscar_champions.predictions against the `lifetimes` package.

Run with ``python benchmarks/bench_predictions.py``. Fits BG/NBD and Gamma-Gamma on the CDNOW sample of
Fader, Hardie & Lee (2005), and BG/NBD on 100,000 synthetic customers drawn from the BG/NBD process with
the CDNOW parameters; each timing is the best of several runs. Prints both packages' parameters to four
significant digits and checks the targets: a 100k fit within 1 s, and at least 4x faster than lifetimes
on CDNOW.
"""

import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT.parent / "shared" / "data" / "cdnow"
REPEATS = 5
SLOW_REPEATS = 3
SYNTHETIC_CUSTOMERS = 100_000
HORIZON = 52.0


def best_time(function, repeats: int) -> tuple[float, object]:
    """Best wall-clock time of ``repeats`` calls, and the last call's result."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> None:
    # Runnable from a plain checkout, without installing the package.
    sys.path.insert(0, str(ROOT))
    from oscar_champions.predictions import fit_bgnbd, fit_gamma_gamma, predict_customer_value, sample_bgnbd

    try:
        from lifetimes import BetaGeoFitter, GammaGammaFitter
    except ImportError as error:
        sys.exit(f"Cannot compare with lifetimes, it does not import: {error}")

    summary = np.genfromtxt(CDNOW / "cdnow_customers_summary.csv", delimiter=",", names=True)
    rfm = summary["frequency"], summary["recency"], summary["T"]
    spend = np.genfromtxt(CDNOW / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True)
    repeat = spend["x"] > 0
    x, zbar = spend["x"][repeat], spend["zbar"][repeat]

    timings = []  # (data, model, ours, lifetimes)
    parameters = []  # (model, name, ours, lifetimes)

    ours_bg_s, ours_bg = best_time(partial(fit_bgnbd, *rfm), REPEATS)
    theirs_bg_s, theirs_bg = best_time(partial(BetaGeoFitter().fit, *rfm), REPEATS)
    timings.append(("CDNOW, 2,357 customers", "BG/NBD", ours_bg_s, theirs_bg_s))
    for name in ("r", "alpha", "a", "b"):
        parameters.append(("BG/NBD", name, getattr(ours_bg, name), theirs_bg.params_[name]))

    ours_gg_s, ours_gg = best_time(partial(fit_gamma_gamma, x, zbar), REPEATS)
    theirs_gg_s, theirs_gg = best_time(partial(GammaGammaFitter().fit, x, zbar), REPEATS)
    timings.append(("CDNOW, 946 repeat buyers", "Gamma-Gamma", ours_gg_s, theirs_gg_s))
    for name, their_name in (("p", "p"), ("q", "q"), ("gamma", "v")):
        parameters.append(("Gamma-Gamma", name, getattr(ours_gg, name), theirs_gg.params_[their_name]))
    timings.append(("CDNOW", "both", ours_bg_s + ours_gg_s, theirs_bg_s + theirs_gg_s))

    # A cohort acquired over 12 weeks and observed until week 39, like CDNOW. Shops record dates, so one
    # variant rounds times to whole days, which repeats rows the fit can compress.
    rng = np.random.default_rng(20050101)
    age = 39.0 - rng.uniform(0.0, 12.0, SYNTHETIC_CUSTOMERS)
    frequency, recency = sample_bgnbd(ours_bg, age, rng)
    synthetic = {
        "continuous": (frequency, recency, age),
        "whole days": (frequency, np.round(recency * 7) / 7, np.round(age * 7) / 7),
    }
    synthetic_fits = {}
    for label, data in synthetic.items():
        distinct = len(np.unique(np.column_stack(data), axis=0))
        ours_s, synthetic_fits[label] = best_time(partial(fit_bgnbd, *data), SLOW_REPEATS)
        theirs_s, _ = best_time(partial(BetaGeoFitter().fit, *data), SLOW_REPEATS)
        timings.append((f"synthetic 100k, {label} ({distinct:,} rows)", "BG/NBD", ours_s, theirs_s))

    mean_spend = np.where(frequency > 0, 35.0, np.nan)
    predict_s, _ = best_time(
        partial(predict_customer_value, ours_bg, ours_gg, frequency, recency, age, mean_spend, HORIZON),
        SLOW_REPEATS,
    )
    theirs_predict_s, _ = best_time(
        lambda: (
            theirs_bg.conditional_probability_alive(frequency, recency, age),
            theirs_bg.conditional_expected_number_of_purchases_up_to_time(HORIZON, frequency, recency, age),
            theirs_gg.conditional_expected_average_profit(frequency, np.nan_to_num(mean_spend)),
        ),
        SLOW_REPEATS,
    )
    timings.append(("synthetic 100k, continuous", "predictions", predict_s, theirs_predict_s))

    print(f"Best of {REPEATS} runs (CDNOW) or {SLOW_REPEATS} runs (100k); time.perf_counter; seconds")
    print()
    print(f"{'data':<42} {'model':<12} {'ours':>8} {'lifetimes':>10} {'speed-up':>9}")
    for data_label, model, ours, theirs in timings:
        print(f"{data_label:<42} {model:<12} {ours:>8.4f} {theirs:>10.4f} {theirs / ours:>8.1f}x")
    print()
    print(f"{'model':<12} {'param':<6} {'ours':>10} {'lifetimes':>10} {'agree to 4 s.f.':>16}")
    all_agree = True
    for model, name, ours, theirs in parameters:
        agree = f"{ours:.4g}" == f"{theirs:.4g}"
        all_agree &= agree
        print(f"{model:<12} {name:<6} {ours:>10.4g} {theirs:>10.4g} {'yes' if agree else 'NO':>16}")
    print()
    drawn = f"r={ours_bg.r:.4g} alpha={ours_bg.alpha:.4g} a={ours_bg.a:.4g} b={ours_bg.b:.4g}"
    print(f"synthetic 100k drawn with {drawn}")
    for label, fit in synthetic_fits.items():
        print(
            f"  refitted, {label + ':':<12} r={fit.r:.4g} alpha={fit.alpha:.4g} a={fit.a:.4g} b={fit.b:.4g}"
        )
    print()
    slowest_100k = max(
        ours for label, model, ours, _ in timings if label.startswith("synthetic") and model == "BG/NBD"
    )
    cdnow_speedup = (theirs_bg_s + theirs_gg_s) / (ours_bg_s + ours_gg_s)
    print(f"target: 100k BG/NBD fit <= 1 s      {verdict(slowest_100k <= 1.0)} ({slowest_100k:.3f} s)")
    print(f"target: >= 4x lifetimes on CDNOW    {verdict(cdnow_speedup >= 4.0)} ({cdnow_speedup:.1f}x)")
    print(f"target: parameters agree, 4 s.f.    {verdict(all_agree)}")


if __name__ == "__main__":
    main()
