from contextlib import nullcontext
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oscar_champions.kpis import KPI, customer_kpis, rfm_heat_map, segment_distribution, segment_movements
from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics, RefreshRun, SegmentMovement, SegmentSnapshot
from tests.factories import CustomerFactory, place_order, set_champion_flag

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


@pytest.mark.parametrize("counted", [True, False], ids=["counted orders", "Oscar's orders"])
def test_kpis_for_a_period_and_the_previous_one(shop, counted, monkeypatch):
    refresh_metrics(as_of=END)
    set_champion_flag(CustomerMetrics.objects.all(), False)
    set_champion_flag(CustomerMetrics.objects.filter(key="ana@example.com"))
    monkeypatch.setattr("oscar_champions.metrics.counted_orders_cover", lambda until: counted)
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
    assert kpis["champions_revenue_share"].current == pytest.approx(50 / 70)
    assert kpis["champions_revenue_share"].previous == 0


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


def test_segment_distribution_lists_every_stage_with_its_shares(shop):
    refresh_metrics(as_of=END)
    rows = {row["segment"]: row for row in segment_distribution(SegmentSnapshot.Dimension.LIFECYCLE)}
    assert set(rows) == {"champions", "loyal", "new", "at_risk", "lost"}
    assert sum(row["customers"] for row in rows.values()) == 3
    assert sum(row["customer_share"] for row in rows.values()) == pytest.approx(1)
    assert sum(row["revenue_share"] for row in rows.values()) == pytest.approx(1)
    assert all(row["action"] for row in rows.values())


def test_rfm_distribution_lists_all_eleven_groups(shop):
    refresh_metrics(as_of=END)
    rows = segment_distribution(SegmentSnapshot.Dimension.RFM)
    assert len(rows) == 11
    assert sum(row["customers"] for row in rows) == 3


def test_heat_map_puts_each_customer_in_the_cell_of_their_scores(shop, django_assert_num_queries):
    run = refresh_metrics(as_of=END)
    with django_assert_num_queries(0):
        grid = rfm_heat_map(run)  # as the refresh counted it
    assert grid == rfm_heat_map()  # as the metrics are counted
    assert [row["recency"] for row in grid] == [5, 4, 3, 2, 1]
    assert sum(cell["customers"] for row in grid for cell in row["cells"]) == 3
    for metrics in CustomerMetrics.objects.all():
        fm = (metrics.frequency_score + metrics.monetary_score + 1) // 2
        cell = grid[5 - metrics.recency_score]["cells"][fm - 1]
        assert cell["customers"] >= 1
        assert cell["group"] == metrics.rfm_group


def test_movements_leave_out_customers_who_stayed_and_newcomers(db):
    run = RefreshRun.objects.create(as_of=END, status=RefreshRun.Status.SUCCEEDED)
    lifecycle = SegmentSnapshot.Dimension.LIFECYCLE
    for source, target, customers in (("loyal", "at_risk", 120), ("loyal", "loyal", 500), ("", "new", 40),
                                      ("new", "loyal", 30)):
        SegmentMovement.objects.create(run=run, dimension=lifecycle, from_segment=source, to_segment=target,
                                       customers=customers)
    moves = segment_movements(run)
    assert [(m["from_segment"], m["to_segment"], m["customers"]) for m in moves] == [
        ("loyal", "at_risk", 120), ("new", "loyal", 30)
    ]
    assert str(moves[0]["to_label"]) == "At risk"
    assert segment_movements(None) == []


@pytest.mark.parametrize("in_a_refresh", [False, True])
def test_past_figures_from_one_pass_equal_the_engines_summary(shop, in_a_refresh):
    from oscar_champions.customers import counted_orders
    from oscar_champions.kpis import past_base_figures, summarise
    from oscar_champions.metrics import aggregate_customers, customer_tables

    moments = [START, END - timedelta(days=60), END]
    # In a refresh, PostgreSQL reads the refresh's table of orders by customer instead of the orders.
    with customer_tables(END + timedelta(days=1)) if in_a_refresh else nullcontext(), \
            CaptureQueriesContext(connection) as queries:
        past = past_base_figures(moments)
    read_the_table = any("FROM champions_order_customer WHERE" in query["sql"] for query in queries)
    assert read_the_table == (in_a_refresh and connection.vendor == "postgresql")
    for moment, figures in zip(moments, past):
        expected = summarise(aggregate_customers(counted_orders(until=moment)))
        for name in ("customers", "repeat_customers", "repeat_rate", "average_days_between_orders", "average_value"):
            assert figures[name] == pytest.approx(expected[name]), (moment, name)
        assert figures["average_predicted_value"] is None


def test_a_refresh_stores_the_figures_of_the_preset_periods(shop, django_assert_max_num_queries):
    from oscar_champions.kpis import base_figures, store_past_figures

    run = refresh_metrics(as_of=END)
    store_past_figures(run)
    start = timezone.make_aware(datetime(2026, 10, 24))  # the first day of the last 30 days
    with django_assert_max_num_queries(2):
        figures = base_figures(start)
    assert figures == run.context["past_figures"][start.isoformat()]
    assert figures["customers"] == 2  # Ana and Bia had ordered by then


def test_a_period_ending_today_takes_the_figures_of_a_refresh_of_late_yesterday(shop, django_assert_max_num_queries):
    from oscar_champions.kpis import base_figures

    # As just after midnight, a refresh of late yesterday evening: more than a day before the end of today (here
    # 30 hours), but less than a day ago (here 20 hours).
    run = refresh_metrics(as_of=timezone.now() - timedelta(hours=20))
    with django_assert_max_num_queries(2):
        figures = base_figures(timezone.now() + timedelta(hours=10))
    assert figures == run.context["summary"]


def test_a_refresh_stores_the_figures_of_the_periods_before_the_presets(shop):
    from oscar_champions.kpis import day_bounds, period_figures, previous_period, store_past_figures

    run = refresh_metrics(as_of=END)
    store_past_figures(run)
    last_30_days = day_bounds(date(2026, 10, 24), date(2026, 11, 22))
    before = previous_period(*last_30_days)
    assert before == (last_30_days[0] - (last_30_days[1] - last_30_days[0]), last_30_days[0])
    # Stored as computed: Bia's order of 10 October, 30.00.
    computed = period_figures(*before)
    assert (computed["orders"], computed["revenue"], computed["active_customers"]) == (1, D("30.00"), 1)
    with CaptureQueriesContext(connection) as queries:
        kpis = customer_kpis(*last_30_days)
    assert {name: kpi.previous for name, kpi in kpis.items() if name in computed} == computed
    # One period's orders summed, not two: the previous period's figures are read from the refresh.
    with CaptureQueriesContext(connection) as current_only:
        period_figures(*last_30_days)
    assert orders_read(queries) == orders_read(current_only) > 0

    # Only for the refresh's presets: another period's previous figures are computed.
    other = day_bounds(date(2026, 10, 1), date(2026, 11, 22))
    assert customer_kpis(*other)["orders"].previous == period_figures(*previous_period(*other))["orders"]


def orders_read(queries):
    return sum("countedorder" in query["sql"] or "order_order" in query["sql"] for query in queries)


def test_the_refresh_command_stores_the_overviews_past_figures(shop):
    from django.core.management import call_command

    call_command("champions_refresh", "--as-of", "2026-11-22", verbosity=0)
    run = RefreshRun.objects.latest()
    assert len(run.context["past_figures"]) == 3
    start_of_last_30_days = timezone.make_aware(datetime(2026, 10, 24)).isoformat()
    assert run.context["past_figures"][start_of_last_30_days]["customers"] == 2


def test_with_a_refresh_the_distribution_is_read_from_its_snapshot(shop, django_assert_max_num_queries):
    run = refresh_metrics(as_of=END)
    live = segment_distribution(SegmentSnapshot.Dimension.RFM)
    with django_assert_max_num_queries(1):
        stored = segment_distribution(SegmentSnapshot.Dimension.RFM, run)
    assert [(row["segment"], row["customers"], row["revenue"]) for row in stored] == [
        (row["segment"], row["customers"], row["revenue"]) for row in live
    ]
