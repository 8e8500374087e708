"""The whole engine on a real retailer's history: CDNOW, imported, refreshed, fitted and backtested."""

from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from oscar_champions.models import CustomerMetrics, RefreshRun
from tests.cdnow import write_cdnow_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def cdnow_shop(tmp_path):
    path = tmp_path / "cdnow.csv"
    write_cdnow_csv(path, currency=None)
    call_command("champions_import", str(path), verbosity=0)


def test_the_model_fitted_on_cdnow_matches_the_paper_and_forecasts_the_holdout(cdnow_shop, settings):
    # The paper calibrates on the 39 weeks to 1997-09-30 and forecasts the next 39 weeks.
    settings.OSCAR_CHAMPIONS_BACKTEST_DAYS = 273
    call_command("champions_refresh", "--as-of", "1998-06-30", verbosity=0)

    run = RefreshRun.objects.latest()
    assert run.model_fitted, run.model_explanation
    assert run.customers == 2357
    backtest = run.backtest
    assert backtest["cutoff"].startswith("1997-09-30")
    # Published: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (orders at noon shift T by half a day).
    expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in expected.items():
        assert backtest["parameters"][name] == pytest.approx(value, rel=0.03), name
    assert backtest["customers"] == 2357
    assert backtest["predicted_orders"] == pytest.approx(backtest["actual_orders"], rel=0.15)

    rows = CustomerMetrics.objects.all()
    assert all(0 <= row.probability_alive <= 1 for row in rows)
    assert rows.filter(lifecycle_stage="lost").count() > rows.filter(lifecycle_stage="loyal").count()
    heavy = rows.order_by("-orders").first()
    assert heavy.expected_orders_365d > rows.order_by("orders", "-last_order_at").first().expected_orders_365d


def test_as_of_a_past_date_only_earlier_orders_count(cdnow_shop):
    call_command("champions_refresh", "--as-of", "1997-01-31", verbosity=0)
    run = RefreshRun.objects.latest()
    assert run.as_of == timezone.make_aware(datetime(1997, 1, 31, 23, 59, 59, 999999))
    assert CustomerMetrics.objects.filter(last_order_at__gt=run.as_of).count() == 0
    assert not run.model_fitted  # a month of history is too little to predict
    assert "Not enough history" in run.model_explanation
