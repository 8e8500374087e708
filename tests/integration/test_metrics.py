from datetime import date, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from oscar_champions import rfm
from oscar_champions.customers import counted_lines, counted_orders
from oscar_champions.metrics import (
    METRICS_FIELDS,
    aggregate_customers,
    number_columns,
    refresh_metrics,
    update_customer,
)
from oscar_champions.models import CountedOrder, CustomerMetrics, RefreshRun, SegmentMovement, SegmentSnapshot
from oscar_champions.segments import ChampionRule
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, as_datetime, place_order

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 22)
AS_OF = timezone.make_aware(datetime(2026, 11, 22, 23, 59))


def days_ago(days):
    return TODAY - timedelta(days=days)


def metrics(key):
    return CustomerMetrics.objects.get(key=key)


def test_guest_orders_merge_with_the_registered_account_of_the_same_email():
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="100.00", placed=days_ago(30))
    place_order(guest_email="  Ana@Example.COM ", total="50.00", placed=days_ago(10))
    place_order(guest_email="bia@example.com", total="70.00", placed=days_ago(5))

    run = refresh_metrics(as_of=AS_OF)

    assert run.customers == 2
    row = metrics("ana@example.com")
    assert row.user == ana
    assert row.orders == 2
    assert row.revenue == D("150.00")
    assert row.average_order_value == D("75.00")
    assert row.average_days_between_orders == pytest.approx(20)
    guest = metrics("bia@example.com")
    assert guest.user is None and not guest.is_registered


def test_excluded_orders_do_not_count_and_are_reported(settings):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="100.00", placed=days_ago(30))
    place_order(user=ana, total="999.00", placed=days_ago(20), status="Cancelled")
    place_order(user=ana, total="999.00", placed=days_ago(20), currency="USD")
    place_order(total="40.00", placed=days_ago(3))  # nobody to attribute it to
    place_order(user=ana, total="999.00", placed=TODAY + timedelta(days=1))  # after as_of

    run = refresh_metrics(as_of=AS_OF)

    row = metrics("ana@example.com")
    assert (row.orders, row.revenue) == (1, D("100.00"))
    assert run.orders_counted == 1
    assert run.orders_without_customer == 1
    assert run.orders_in_other_currencies == 1


def test_revenue_basis_and_sites_follow_the_settings(settings):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="110.00", shipping="10.00", placed=days_ago(30))
    other_site = place_order(user=ana, total="55.00", placed=days_ago(20))
    other_site.site = other_site.site.__class__.objects.create(domain="app.example", name="App")
    other_site.save()

    settings.OSCAR_CHAMPIONS_REVENUE_BASIS = "incl_tax_without_shipping"
    settings.OSCAR_CHAMPIONS_SITES = [settings.SITE_ID]
    refresh_metrics(as_of=AS_OF)

    row = metrics("ana@example.com")
    assert (row.orders, row.revenue) == (1, D("100.00"))
    # An incremental update follows them too, whatever it compiled before they changed.
    settings.OSCAR_CHAMPIONS_REVENUE_BASIS = "incl_tax"
    assert update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF).revenue == D("110.00")
    settings.OSCAR_CHAMPIONS_REVENUE_BASIS = "incl_tax_without_shipping"
    assert update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF).revenue == D("100.00")


def test_one_order_customer_and_an_order_placed_today():
    today = CustomerFactory(email="today@example.com")
    place_order(user=today, total="80.00", placed=as_datetime(TODAY))
    old = CustomerFactory(email="old@example.com")
    place_order(user=old, total="80.00", placed=days_ago(400))

    refresh_metrics(as_of=AS_OF)

    fresh = metrics("today@example.com")
    assert fresh.days_since_last_order == 0
    assert fresh.tenure_days == 0
    assert fresh.average_days_between_orders is None
    assert fresh.recency_score > metrics("old@example.com").recency_score
    assert fresh.lifecycle_stage == "new"
    assert metrics("old@example.com").lifecycle_stage == "lost"


def test_lines_give_items_products_categories_and_favourite_category():
    coffee, tea = CategoryFactory(name="Coffee"), CategoryFactory(name="Tea")
    espresso = ProductFactory(categories__category=coffee)
    beans = ProductFactory(categories__category=coffee)
    green = ProductFactory(categories__category=tea)
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="90.00", placed=days_ago(30), lines=[(espresso, 2, "40.00"), (green, 1, "50.00")])
    place_order(user=ana, total="30.00", placed=days_ago(10), lines=[(beans, 3, "30.00")], discount="5.00")

    refresh_metrics(as_of=AS_OF)

    row = metrics("ana@example.com")
    assert row.items == 6
    assert row.distinct_products == 3
    assert row.distinct_categories == 2
    assert row.favourite_category == coffee  # 70.00 on coffee against 50.00 on tea
    assert row.discount_share == pytest.approx(0.5)


def test_lines_of_an_account_and_its_guest_checkouts_are_counted_once():
    coffee, tea = CategoryFactory(name="Coffee"), CategoryFactory(name="Tea")
    espresso = ProductFactory(categories__category=coffee)
    green = ProductFactory(categories__category=tea)
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="40.00", placed=days_ago(30), lines=[(espresso, 1, "40.00")])
    place_order(guest_email="ANA@example.com ", total="90.00", placed=days_ago(20),
                lines=[(espresso, 1, "40.00"), (green, 2, "50.00")])
    place_order(guest_email="ana@example.com", total="40.00", placed=days_ago(10), lines=[(espresso, 1, "40.00")])

    refresh_metrics(as_of=AS_OF)

    row = metrics("ana@example.com")
    assert (row.orders, row.items, row.distinct_products, row.distinct_categories) == (3, 5, 2, 2)
    assert row.favourite_category == coffee  # 120.00 on coffee over three orders against 50.00 on tea
    incremental = update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF)
    assert (incremental.items, incremental.distinct_products, incremental.favourite_category) == (5, 2, coffee)


# Failing while the metrics are written, or once the counted orders are too.
@pytest.mark.parametrize("failing", ["segment snapshots", "run record"])
def test_a_failed_refresh_keeps_the_previous_metrics(monkeypatch, failing):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="100.00", placed=days_ago(30))
    refresh_metrics(as_of=AS_OF)
    counted = counted_orders_of(metrics("ana@example.com"))
    place_order(user=ana, total="50.00", placed=days_ago(3))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    if failing == "segment snapshots":
        monkeypatch.setattr(SegmentSnapshot.objects, "bulk_create", broken)
    else:
        monkeypatch.setattr("oscar_champions.metrics._record_run", broken)
    with pytest.raises(RuntimeError):
        refresh_metrics(as_of=AS_OF)

    assert metrics("ana@example.com").orders == 1
    assert counted_orders_of(metrics("ana@example.com")) == counted and len(counted) == 1
    failed = RefreshRun.objects.latest()
    assert failed.status == RefreshRun.Status.FAILED
    assert "disk full" in failed.error


def test_refresh_is_idempotent_and_records_segments_and_movements():
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="100.00", placed=days_ago(200))
    place_order(user=ana, total="100.00", placed=days_ago(150))
    first = refresh_metrics(as_of=AS_OF)
    second = refresh_metrics(as_of=AS_OF)
    assert CustomerMetrics.objects.count() == 1
    assert not second.movements.exists()
    assert metrics("ana@example.com").lifecycle_stage == "at_risk"

    place_order(user=ana, total="100.00", placed=days_ago(1))
    third = refresh_metrics(as_of=AS_OF)

    row = metrics("ana@example.com")
    assert (row.previous_lifecycle_stage, row.lifecycle_stage) != ("at_risk", "at_risk")
    assert row.previous_lifecycle_stage == "at_risk"
    movement = SegmentMovement.objects.get(run=third, dimension="lifecycle")
    assert (movement.from_segment, movement.to_segment, movement.customers) == (
        "at_risk", row.lifecycle_stage, 1)
    snapshot = first.snapshots.get(dimension="lifecycle", segment="at_risk")
    assert (snapshot.customers, snapshot.revenue) == (1, D("200.00"))


def test_incremental_update_equals_the_full_refresh(django_assert_max_num_queries):
    for n in range(5):
        customer = CustomerFactory()
        for k in range(n + 1):
            place_order(user=customer, total=f"{20 * (n + 1) + k}.00", placed=days_ago(300 - 40 * k - n))
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="60.00", placed=days_ago(90))
    refresh_metrics(as_of=AS_OF)

    place_order(user=ana, total="45.00", placed=days_ago(2))
    place_order(guest_email="ANA@example.com", total="35.00", placed=days_ago(1))
    with django_assert_max_num_queries(11):
        incremental = update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF)
    incremental_orders = counted_orders_of(incremental)

    # The incremental row scores the customer against the thresholds of the last full refresh...
    thresholds = RefreshRun.objects.latest().context["thresholds"]
    assert incremental.frequency_score == rfm.score([3], thresholds["frequency"])[0]
    assert incremental.monetary_score == rfm.score([140], thresholds["monetary"])[0]
    # ... and its own figures are those of a full refresh.
    refresh_metrics(as_of=AS_OF)
    full = metrics("ana@example.com")
    for field in ("orders", "revenue", "average_order_value", "first_order_at", "last_order_at",
                  "days_since_last_order", "tenure_days", "average_days_between_orders", "user_id", "items",
                  "discount_share"):
        assert getattr(incremental, field) == getattr(full, field), field
    # Her counted orders (what the report adds up) too, the guest checkout included.
    assert incremental_orders == counted_orders_of(full)
    assert sorted(cents for _order, cents in incremental_orders) == [3500, 4500, 6000]


def counted_orders_of(row):
    return set(CountedOrder.objects.filter(customer=row).values_list("order_id", "revenue_cents"))


def test_incremental_update_finds_every_account_with_the_customers_email(django_assert_max_num_queries):
    # Three accounts share an e-mail: one customer, whose row is linked to one of them.
    accounts = [CustomerFactory(email=email) for email in ("ana@example.com", " ANA@example.com", "Ana@Example.com")]
    for n, account in enumerate(accounts):
        place_order(user=account, total=f"{30 + 10 * n}.00", placed=days_ago(200 - 50 * n))
    refresh_metrics(as_of=AS_OF)
    assert metrics("ana@example.com").orders == 3

    # An account other than the row's orders: the update must still count the third account's orders.
    ordering = next(account for account in accounts if account.pk != metrics("ana@example.com").user_id)
    place_order(user=ordering, total="25.00", placed=days_ago(3))
    with django_assert_max_num_queries(11):
        incremental = update_customer("ana@example.com", user_id=ordering.pk, as_of=AS_OF)

    refresh_metrics(as_of=AS_OF)
    full = metrics("ana@example.com")
    assert full.orders == 4
    # The figures of the customer's own orders (the scores depend on the whole base's thresholds).
    for field in ("orders", "revenue", "average_order_value", "first_order_at", "last_order_at", "user_id",
                  "days_since_last_order", "tenure_days", "average_days_between_orders", "items"):
        assert getattr(incremental, field) == getattr(full, field), field


def test_the_refresh_writes_every_field_of_the_metrics():
    written = {field.attname for field in CustomerMetrics._meta.concrete_fields if not field.primary_key}
    assert set(METRICS_FIELDS) == written and len(METRICS_FIELDS) == len(written)


def test_incremental_update_removes_a_customer_whose_orders_were_all_cancelled():
    ana = CustomerFactory(email="ana@example.com")
    order = place_order(user=ana, total="60.00", placed=days_ago(90))
    refresh_metrics(as_of=AS_OF)
    order.status = "Cancelled"
    order.save()
    assert update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF) is None
    assert not CustomerMetrics.objects.exists()
    assert not CountedOrder.objects.exists()


def test_incremental_update_drops_a_cancelled_order_from_the_counted_orders():
    ana = CustomerFactory(email="ana@example.com")
    kept = place_order(user=ana, total="60.00", placed=days_ago(90))
    cancelled = place_order(user=ana, total="40.00", placed=days_ago(30))
    refresh_metrics(as_of=AS_OF)
    assert counted_orders_of(metrics("ana@example.com")) == {(kept.pk, 6000), (cancelled.pk, 4000)}
    cancelled.status = "Cancelled"
    cancelled.save()
    row = update_customer("ana@example.com", user_id=ana.pk, as_of=AS_OF)
    assert counted_orders_of(row) == {(kept.pk, 6000)} and CountedOrder.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="elsewhere the metrics have one writer")
def test_postgresqls_writer_writes_what_the_row_by_row_writer_does(settings, monkeypatch):
    settings.OSCAR_CHAMPIONS_MIN_REPEAT_CUSTOMERS = 20  # a small shop whose model is fitted
    call_command("champions_demo", "--customers", "150", "--orders", "900", "--today", TODAY.isoformat(),
                 "--seed", "7", verbosity=0)
    fields = [name for name in METRICS_FIELDS if name != "computed_at"]
    refresh_metrics(as_of=AS_OF)
    refresh_metrics(as_of=AS_OF)  # the second, like the third, has the first's segments as previous ones
    stored = {row[0]: row for row in CustomerMetrics.objects.values_list(*fields)}
    assert RefreshRun.objects.latest().model_fitted

    def row_by_row(as_of, backtest_cutoff=None):
        return aggregate_customers(counted_orders(until=as_of), counted_lines(until=as_of), backtest_cutoff)

    monkeypatch.setattr("oscar_champions.metrics.aggregate_all_customers", row_by_row)
    refresh_metrics(as_of=AS_OF)
    written = {row[0]: row for row in CustomerMetrics.objects.values_list(*fields)}
    assert len(stored) > 100 and set(stored) == set(written)
    for key, row in stored.items():
        assert row == written[key], key


class SpentAHundredRule(ChampionRule):
    """Champions for this module's tests: customers who spent 100 or more."""

    def select(self, columns, state):
        return np.asarray(columns["revenue"]) >= 100


def champion_flags():
    return dict(CountedOrder.objects.values_list("order_id", "is_champion"))


def test_counted_orders_carry_their_customers_champion_flag(settings):
    settings.OSCAR_CHAMPIONS_CHAMPION_RULE = f"{__name__}.SpentAHundredRule"
    ana, bia = CustomerFactory(email="ana@example.com"), CustomerFactory(email="bia@example.com")
    big = place_order(user=ana, total="120.00", placed=days_ago(60))
    small = place_order(user=bia, total="40.00", placed=days_ago(50))
    guest = place_order(guest_email="caio@example.com", total="30.00", placed=days_ago(40))
    refresh_metrics(as_of=AS_OF)
    assert champion_flags() == {big.pk: True, small.pk: False, guest.pk: False}

    # Bia becomes a champion with her second order: both her counted orders say so.
    second = place_order(user=bia, total="70.00", placed=days_ago(2))
    assert update_customer("bia@example.com", user_id=bia.pk, as_of=AS_OF).is_champion
    # Caio, a new customer since the refresh, is written with his flag too.
    caio = place_order(guest_email="caio@example.com", total="90.00", placed=days_ago(1))
    assert update_customer("caio@example.com", as_of=AS_OF).is_champion
    flags = {big.pk: True, small.pk: True, second.pk: True, guest.pk: True, caio.pk: True}
    assert champion_flags() == flags

    # Bia is no champion any more once her big order is cancelled.
    second.status = "Cancelled"
    second.save()
    assert not update_customer("bia@example.com", user_id=bia.pk, as_of=AS_OF).is_champion
    del flags[second.pk]
    assert champion_flags() == flags | {small.pk: False}
    refresh_metrics(as_of=AS_OF)
    assert champion_flags() == flags | {small.pk: False}


@pytest.mark.parametrize("rows", [0, 3, 150_000])
def test_number_columns_reads_every_row(rows, monkeypatch):
    # On PostgreSQL through a binary COPY, in arrays of up to ARRAY_ROWS values: several of them here.
    monkeypatch.setattr("oscar_champions.metrics.ARRAY_ROWS", 40_000)
    sql = (
        "WITH RECURSIVE numbers (n) AS (SELECT 1 WHERE %s > 0 UNION ALL SELECT n + 1 FROM numbers WHERE n < %s) "
        "SELECT n, -n * CAST(1000000000 AS BIGINT), CASE WHEN n %% 3 = 0 THEN NULL ELSE n / 4.0 END FROM numbers"
    )
    with connection.cursor() as cursor:
        first, second, third = number_columns(cursor, sql, [rows, rows], "iif")
    assert first.tolist() == list(range(1, rows + 1))
    assert second.tolist() == [-n * 1_000_000_000 for n in range(1, rows + 1)]
    assert third.dtype == np.float64
    assert np.array_equal(third, [np.nan if n % 3 == 0 else n / 4 for n in range(1, rows + 1)], equal_nan=True)


def test_number_columns_refuses_null_integers_and_reads_percent_signs_alike():
    with connection.cursor() as cursor:
        assert number_columns(cursor, "SELECT CASE WHEN 'a%%' LIKE 'a%%' THEN 1 ELSE 0 END", [], "i")[0].tolist() == [1]
        if connection.vendor == "postgresql":
            with pytest.raises(ValueError):
                number_columns(cursor, "SELECT NULL::bigint", [], "i")
