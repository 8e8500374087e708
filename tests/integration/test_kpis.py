from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from oscar_champions.kpis import KPI, customer_kpis, segment_counts
from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import RefreshRun
from tests.factories import CustomerFactory, place_order

pytestmark = pytest.mark.django_db

END = timezone.make_aware(datetime(2026, 11, 22, 23, 59))
START = END - timedelta(days=30)


@pytest.fixture
def shop():
    ana, bia = CustomerFactory(email="ana@example.com"), CustomerFactory(email="bia@example.com")
    place_order(user=ana, total="100.00", placed=date(2026, 9, 1))
    place_order(user=ana, total="50.00", placed=date(2026, 11, 1))  # 61 days later
    place_order(user=bia, total="30.00", placed=date(2026, 10, 10))  # previous period
    place_order(guest_email="cris@example.com", total="20.00", placed=date(2026, 11, 20))  # new this period
    place_order(guest_email="dani@example.com", total="90.00", placed=date(2026, 11, 5), status="Cancelled")


def test_kpis_for_a_period_and_the_previous_one(shop):
    refresh_metrics(as_of=END)
    kpis = customer_kpis(START, END)

    assert (kpis["customers"].current, kpis["customers"].previous) == (3, 2)
    assert (kpis["repeat_customers"].current, kpis["repeat_customers"].previous) == (1, 0)
    assert kpis["repeat_rate"].current == pytest.approx(1 / 3)
    assert kpis["average_days_between_orders"].current == pytest.approx(61)
    assert kpis["average_days_between_orders"].previous is None
    assert kpis["average_value"].current == pytest.approx(200 / 3)
    assert (kpis["revenue"].current, kpis["revenue"].previous) == (D("70.00"), D("30.00"))
    assert (kpis["orders"].current, kpis["orders"].previous) == (2, 1)
    assert (kpis["active_customers"].current, kpis["new_customers"].current) == (2, 1)
    assert kpis["new_customers"].previous == 1
    assert kpis["revenue"].change == pytest.approx(70 / 30 - 1)


def test_stored_figures_of_a_refresh_are_used_for_its_date(shop):
    refresh_metrics(as_of=END)
    run = RefreshRun.objects.latest()
    run.context["summary"]["customers"] = 999
    run.save()
    assert customer_kpis(START, END)["customers"].current == 999


def test_change_is_none_without_a_previous_figure():
    assert KPI("x", 5, 0).change is None
    assert KPI("x", None, 3).change is None
    assert KPI("x", 6, 3).change == pytest.approx(1)


def test_segment_counts_list_every_stage(shop):
    refresh_metrics(as_of=END)
    counts = {row["stage"]: row for row in segment_counts()}
    assert set(counts) == {"champions", "loyal", "new", "at_risk", "lost"}
    assert sum(row["customers"] for row in counts.values()) == 3
