import pytest

from oscar_champions import predictions
from oscar_champions.metrics import _fit


def degenerate_without_penalty(*data, min_repeat_customers, penalizer=0.0):
    if not penalizer:
        raise predictions.ModelNotFitted("degenerate")
    return penalizer


def test_a_degenerate_fit_is_retried_with_the_penalty(settings):
    settings.OSCAR_CHAMPIONS_MODEL_PENALIZER = 0.01
    assert _fit(degenerate_without_penalty, [1], [1]) == 0.01


def test_without_a_penalty_a_degenerate_fit_stays_unfitted(settings):
    settings.OSCAR_CHAMPIONS_MODEL_PENALIZER = 0
    with pytest.raises(predictions.ModelNotFitted):
        _fit(degenerate_without_penalty, [1], [1])


def test_too_little_data_is_never_retried():
    def thin(*data, **options):
        raise predictions.InsufficientData("thin")

    with pytest.raises(predictions.InsufficientData):
        _fit(thin, [1])
