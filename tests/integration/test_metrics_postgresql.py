"""PostgreSQL's fast path gives exactly the figures of the ORM path every database has."""

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone
from oscar.core.loading import get_model

from oscar_champions.customers import counted_lines, counted_orders
from oscar_champions.metrics import _lines_read_apart as lines_read_apart
from oscar_champions.metrics import (
    aggregate_all_customers,
    aggregate_customers,
    customer_tables,
    refresh_metrics,
    update_customer,
)
from oscar_champions.models import COUNTED_CUSTOMER_INDEX, CountedOrder, CustomerMetrics
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, place_order

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's"),
]

Order = get_model("order", "Order")
ProductClass = get_model("catalogue", "ProductClass")
ProductCategory = get_model("catalogue", "ProductCategory")

TODAY = date(2026, 11, 22)
AS_OF = timezone.make_aware(datetime(2026, 11, 22, 23, 59))
CUTOFF = AS_OF - timedelta(days=90)


def days_ago(days):
    return TODAY - timedelta(days=days)


@pytest.fixture
def store():
    """Every kind of customer and line the rules tell apart."""
    coffee, tea, cups = CategoryFactory(name="Coffee"), CategoryFactory(name="Tea"), CategoryFactory(name="Cups")
    espresso = ProductFactory(categories__category=coffee)
    green = ProductFactory(categories__category=tea)
    # In two categories: its spend counts in both.
    mug = ProductFactory(categories__category=cups)
    ProductCategory.objects.create(product=mug, category=tea)
    uncategorised = ProductFactory(categories=[])
    parent = ProductFactory(structure="parent", categories__category=tea)
    child = ProductFactory(structure="child", parent=parent, categories=[])  # its parent's categories

    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="90.00", placed=days_ago(200), lines=[(espresso, 2, "40.00"), (green, 1, "50.00")])
    place_order(guest_email=" ANA@example.com", total="60.00", placed=days_ago(30), lines=[(child, 3, "60.00")],
                discount="5.00")
    place_order(user=ana, total="10.00", placed=days_ago(10), status="Cancelled", lines=[(mug, 1, "10.00")])
    # Two accounts with one e-mail are one customer.
    twin = CustomerFactory(email="Twin@example.com ")
    twin_again = CustomerFactory(email="twin@example.com")
    place_order(user=twin, total="20.00", placed=days_ago(100), lines=[(mug, 2, "20.00")])
    place_order(user=twin_again, total="20.00", placed=days_ago(5), lines=[(espresso, 1, "20.00")])
    # A registered customer without an e-mail, and a guest without an account.
    nameless = CustomerFactory(email="")
    place_order(user=nameless, total="15.00", placed=days_ago(60), lines=[(uncategorised, 1, "15.00")])
    place_order(guest_email="bia@example.com", total="70.00", placed=days_ago(400), lines=[(green, 1, "35.00"),
                (espresso, 1, "35.00")])
    # A line of a product deleted since: its items count, but not as a product.
    gone = ProductFactory(categories__category=coffee)
    place_order(guest_email="Bia@Example.com", total="30.00", placed=days_ago(2), lines=[(gone, 2, "30.00")])
    gone.delete()
    # A guest whose e-mail matches an account that never ordered as itself.
    CustomerFactory(email="caio@example.com")
    place_order(guest_email="caio@example.com", total="45.00", placed=days_ago(20), lines=[(mug, 1, "45.00")])
    # Left out: nobody to attribute it to, another currency, after the date.
    place_order(total="40.00", placed=days_ago(3))
    place_order(user=ana, total="999.00", placed=days_ago(3), currency="USD")
    place_order(user=ana, total="999.00", placed=TODAY + timedelta(days=2))


def stored_figures(table, *names):
    """Columns of the figures a table of the fast path keeps in the database, in the table's order."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(names)} FROM {table.stored} ORDER BY position")
        return [list(column) for column in zip(*cursor.fetchall())]


def test_the_fast_path_equals_the_orm_path(store):
    reference = aggregate_customers(counted_orders(until=AS_OF), counted_lines(until=AS_OF), backtest_cutoff=CUTOFF)
    with customer_tables(AS_OF):
        fast = aggregate_all_customers(AS_OF, CUTOFF)
        keys, revenue, first, last = stored_figures(fast, "key", "total", "first", "last")

    # The keys, decimals and dates stay in the database; the numbers come to NumPy.
    assert keys == reference.keys and fast.keys is None
    kept = ("revenue_decimal", "first_at", "last_at")
    assert [revenue, first, last] == [reference.columns[name] for name in kept]
    assert set(fast.columns) == set(reference.columns) - set(kept)
    for name, column in fast.columns.items():
        if isinstance(column, np.ndarray):
            np.testing.assert_array_equal(column, reference.columns[name], err_msg=name)
        else:
            assert column == reference.columns[name], name
    assert keys == ["#user-%d" % CustomerMetrics._meta.get_field("user").related_model.objects.get(
        email="").pk, "ana@example.com", "bia@example.com", "caio@example.com", "twin@example.com"]
    ana = keys.index("ana@example.com")
    assert (fast.columns["orders"][ana], fast.columns["items"][ana], fast.columns["discounted_orders"][ana]) == (
        2, 6, 1)
    assert fast.columns["user_id"][keys.index("caio@example.com")] is None
    bia = keys.index("bia@example.com")
    assert (fast.columns["items"][bia], fast.columns["distinct_products"][bia]) == (4, 2)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_lines_are_read_on_another_connection_meanwhile(store, monkeypatch):
    reference = aggregate_customers(counted_orders(until=AS_OF), counted_lines(until=AS_OF), backtest_cutoff=CUTOFF)
    readers = []

    def read(alias):
        readers.append(threading.current_thread())
        return lines_read_apart(alias)

    monkeypatch.setattr("oscar_champions.metrics._lines_read_apart", read)
    with customer_tables(AS_OF):
        fast = aggregate_all_customers(AS_OF, CUTOFF)

    assert readers and readers[0] is not threading.current_thread()
    for name in ("items", "distinct_products", "distinct_categories"):
        np.testing.assert_array_equal(fast.columns[name], reference.columns[name], err_msg=name)
    assert fast.columns["favourite_category_id"] == reference.columns["favourite_category_id"]
    assert fast.columns["items"].sum() == 15  # the lines of every counted order


@pytest.mark.django_db(transaction=True)
def test_without_a_second_connection_the_lines_are_read_on_the_first(store, monkeypatch):
    wrapper_class = type(connections["default"])
    connect = wrapper_class.ensure_connection

    def full(wrapper):  # the server has no connection to spare for another thread
        if threading.current_thread() is not threading.main_thread():
            raise OperationalError("sorry, too many clients already")
        return connect(wrapper)

    monkeypatch.setattr(wrapper_class, "ensure_connection", full)
    with customer_tables(AS_OF):
        fast = aggregate_all_customers(AS_OF, CUTOFF)
    assert fast.columns["items"].sum() == 15


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_without_an_atomic_block_the_lines_are_read_on_the_same_connection(store, monkeypatch):
    monkeypatch.setattr("oscar_champions.metrics._lines_read_apart", None)  # would fail if called
    transaction.set_autocommit(False)
    try:
        # An order of this transaction's own, which no other connection sees.
        place_order(guest_email="dora@example.com", total="30.00", placed=days_ago(1),
                    lines=[(ProductFactory(), 3, "30.00")])
        with customer_tables(AS_OF):
            fast = aggregate_all_customers(AS_OF, CUTOFF)
        assert fast.columns["items"].sum() == 18
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)


def test_an_empty_shop_gives_an_empty_table():
    assert len(aggregate_all_customers(AS_OF, CUTOFF)) == 0


@pytest.mark.parametrize("key", ["ana@example.com", "bia@example.com", "caio@example.com", "twin@example.com", None])
def test_one_customer_in_one_query_equals_the_full_refresh(store, key, django_assert_max_num_queries):
    if key is None:  # the customer whose account has no e-mail
        key = "#user-%d" % CustomerMetrics._meta.get_field("user").related_model.objects.get(email="").pk
    refresh_metrics(as_of=AS_OF)
    full = CustomerMetrics.objects.get(key=key)
    CustomerMetrics.objects.filter(key=key).update(orders=0, items=0, favourite_category=None)

    # The last run, the row, the customer's figures (their counted orders written by the same statement), the save.
    with django_assert_max_num_queries(4):
        incremental = update_customer(key, user_id=full.user_id, as_of=AS_OF)

    for field in CustomerMetrics._meta.concrete_fields:
        if field.name not in ("id", "computed_at"):
            assert getattr(incremental, field.attname) == getattr(full, field.attname), field.name


def test_the_counted_orders_index_by_customer_holds_what_the_report_adds_up(store):
    def definition():
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [COUNTED_CUSTOMER_INDEX])
            return cursor.fetchone()[0]

    migrated = definition()
    refresh_metrics(as_of=AS_OF)  # which drops the index and builds it again

    assert definition() == migrated
    assert migrated.endswith("(customer_id, placed_at) INCLUDE (revenue_cents, site_id)")


def test_an_incremental_update_leaves_the_counted_orders_that_are_right_as_they_are(store):
    refresh_metrics(as_of=AS_OF)
    ana = CustomerMetrics.objects.get(key="ana@example.com")
    order = place_order(user=ana.user, total="25.00", placed=days_ago(1))
    update_customer(ana.key, user_id=ana.user_id, as_of=AS_OF)

    def row_versions():  # where each row version lies: an UPDATE, even to the same values, moves it
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT order_id, ctid::text, revenue_cents FROM {CountedOrder._meta.db_table} WHERE customer_id = %s",
                [ana.pk],
            )
            return {order_id: (ctid, cents) for order_id, ctid, cents in cursor.fetchall()}

    written = row_versions()
    update_customer(ana.key, user_id=ana.user_id, as_of=AS_OF)
    assert row_versions() == written and written[order.pk][1] == 2500 and len(written) == 3

    Order.objects.filter(pk=order.pk).update(total_incl_tax="27.50")
    update_customer(ana.key, user_id=ana.user_id, as_of=AS_OF)
    changed = row_versions()
    # Only the order whose total changed is written again.
    assert changed[order.pk][1] == 2750 and changed[order.pk][0] != written[order.pk][0]
    assert {pk: row for pk, row in changed.items() if pk != order.pk} == {
        pk: row for pk, row in written.items() if pk != order.pk
    }


def counted_rows():
    """Each counted order's row and the transaction that wrote it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT order_id, xmin::text, customer_id, site_id, placed_at, revenue_cents, is_champion "
                       f"FROM {CountedOrder._meta.db_table}")
        return {order_id: (writer, tuple(row)) for order_id, writer, *row in cursor.fetchall()}


def test_a_refresh_updates_the_metrics_in_place_and_writes_only_the_counted_orders_that_changed(store, monkeypatch):
    monkeypatch.setattr("oscar_champions.metrics.REWRITE_SHARE", 1)  # a small shop: most of its orders change
    refresh_metrics(as_of=AS_OF - timedelta(days=1))
    before = {row.key: row for row in CustomerMetrics.objects.all()}
    counted = counted_rows()
    # Since yesterday: Caio cancelled his only order, Dora ordered for the first time, Ana ordered again, and
    # the total of one of Bia's orders was corrected.
    Order.objects.filter(guest_email="caio@example.com").update(status="Cancelled")
    dora = place_order(guest_email="dora@example.com", total="80.00", placed=TODAY)
    again = place_order(user=before["ana@example.com"].user, total="25.00", placed=TODAY)
    corrected = Order.objects.get(guest_email="bia@example.com")
    Order.objects.filter(pk=corrected.pk).update(total_incl_tax="71.00")

    refresh_metrics(as_of=AS_OF)

    after = {row.key: row for row in CustomerMetrics.objects.all()}
    assert set(after) == set(before) - {"caio@example.com"} | {"dora@example.com"}
    for key, row in after.items():
        if key != "dora@example.com":  # the same row, with the segments it had as the previous ones
            assert row.pk == before[key].pk, key
            assert (row.previous_lifecycle_stage, row.previous_rfm_group) == (
                before[key].lifecycle_stage, before[key].rfm_group), key
    assert (after["dora@example.com"].previous_lifecycle_stage, after["dora@example.com"].previous_rfm_group) == (
        "", "")
    assert (after["ana@example.com"].orders, after["bia@example.com"].revenue) == (3, D("101.00"))

    rows = counted_rows()
    caio = Order.objects.get(guest_email="caio@example.com").pk
    key_of = {row.pk: key for key, row in before.items()}
    flag_changed = {
        pk for pk, (_writer, row) in counted.items() if pk != caio and row[4] != after[key_of[row[0]]].is_champion
    }
    changed = {corrected.pk, dora.pk, again.pk} | flag_changed
    assert set(rows) == set(counted) - {caio} | {dora.pk, again.pk}
    # The rows that did not change were not written again; the others hold what a rewrite would write.
    assert {pk: row for pk, row in rows.items() if pk not in changed} == {
        pk: row for pk, row in counted.items() if pk not in changed | {caio}
    }
    rewritten = rewrite_counted_orders()
    assert {pk: row for pk, (_writer, row) in rows.items()} == rewritten


def rewrite_counted_orders():
    """The counted orders as a refresh writes them into an empty table, without the transaction that wrote each."""
    CountedOrder.objects.all().delete()
    refresh_metrics(as_of=AS_OF)
    return {pk: row for pk, (_writer, row) in counted_rows().items()}


def test_a_refresh_rewrites_the_counted_orders_when_many_changed(store, monkeypatch):
    refresh_metrics(as_of=AS_OF)
    expected = {pk: row for pk, (_writer, row) in counted_rows().items()}
    CountedOrder.objects.update(revenue_cents=0)
    monkeypatch.setattr("oscar_champions.metrics.REWRITE_SHARE", 0.5)
    removed = []

    def remove_index(editor, model, index):
        removed.append(index.name)

    monkeypatch.setattr(connection.SchemaEditorClass, "remove_index", remove_index)
    monkeypatch.setattr(connection.SchemaEditorClass, "add_index", lambda editor, model, index: None)
    refresh_metrics(as_of=AS_OF)

    assert {pk: row for pk, (_writer, row) in counted_rows().items()} == expected
    assert COUNTED_CUSTOMER_INDEX in removed  # rewritten whole, its indexes built again after


def test_the_metrics_leave_room_in_their_pages_for_the_next_refresh():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [CustomerMetrics._meta.db_table])
        assert "fillfactor=50" in cursor.fetchone()[0]
