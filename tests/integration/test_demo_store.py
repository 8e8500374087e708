"""``manage.py champions_demo`` builds a believable, deterministic demo store."""

import hashlib
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from oscar.core.loading import get_model
from oscar.test.factories import create_order

from sandbox.demo.store import ADMIN_EMAIL, ADMIN_PASSWORD, APP_SITE_DOMAIN

Line = get_model("order", "Line")
Order = get_model("order", "Order")
OrderDiscount = get_model("order", "OrderDiscount")
Product = get_model("catalogue", "Product")
Category = get_model("catalogue", "Category")
Voucher = get_model("voucher", "Voucher")

TODAY = date(2026, 11, 22)
SMALL_STORE = ("--customers", "150", "--orders", "900", "--today", TODAY.isoformat(), "--seed", "7")


def build(*extra):
    call_command("champions_demo", *SMALL_STORE, *extra, verbosity=0)


@pytest.fixture
def demo_store(db):
    build()


def local_date(moment):
    return timezone.localtime(moment).date()


def days_ago(moment):
    return (TODAY - local_date(moment)).days


def orders_by_customer():
    """Each registered customer's order dates, oldest first."""
    dates = defaultdict(list)
    for user_id, placed in Order.objects.filter(user__isnull=False).order_by("date_placed").values_list(
        "user_id", "date_placed"
    ):
        dates[user_id].append(placed)
    return dates


def store_digest():
    """A fingerprint of every order, line and discount that ignores database ids."""
    digest = hashlib.sha256()
    orders = Order.objects.order_by("number").values_list(
        "number", "date_placed", "total_incl_tax", "total_excl_tax", "shipping_incl_tax", "status",
        "site__domain", "user__email", "guest_email",
    )
    for row in orders:
        digest.update(repr(row).encode())
    lines = Line.objects.order_by("order__number", "upc").values_list(
        "order__number", "upc", "quantity", "line_price_incl_tax", "line_price_excl_tax"
    )
    for row in lines:
        digest.update(repr(row).encode())
    discounts = OrderDiscount.objects.order_by("order__number").values_list(
        "order__number", "offer_name", "voucher_code", "amount"
    )
    for row in discounts:
        digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.mark.django_db
def test_the_same_seed_builds_the_same_store(demo_store):
    first = store_digest()
    build("--flush")
    assert store_digest() == first
    call_command("champions_demo", *SMALL_STORE[:-1], "8", "--flush", verbosity=0)
    assert store_digest() != first  # another seed, another store


@pytest.mark.django_db
def test_refuses_to_build_over_existing_orders(demo_store):
    with pytest.raises(CommandError, match="already has orders.*--flush"):
        build()


@pytest.mark.django_db
def test_flush_keeps_staff_and_the_shops_own_customers(demo_store):
    User = get_user_model()
    staff = User.objects.create_user("demo-staff", "staff@example.com", "x", is_staff=True)
    own_customer = User.objects.create_user("ana", "ana@example.com", "x")
    build("--flush")
    assert User.objects.filter(pk__in=[staff.pk, own_customer.pk]).count() == 2
    assert Order.objects.count() > 800


@pytest.mark.django_db
def test_orders_span_more_than_two_years_and_end_today(demo_store):
    dates = [local_date(placed) for placed in Order.objects.values_list("date_placed", flat=True)]
    assert 800 <= len(dates) <= 1000  # the --orders target, roughly
    assert max(dates) == TODAY
    assert min(dates) < TODAY - timedelta(days=2 * 365)
    assert set(Order.objects.values_list("currency", flat=True)) == {settings.OSCAR_DEFAULT_CURRENCY}


@pytest.mark.django_db
def test_orders_come_from_both_sites(demo_store):
    per_site = Counter(Order.objects.values_list("site__domain", flat=True))
    assert len(per_site) == 2
    assert 0.1 < per_site[APP_SITE_DOMAIN] / sum(per_site.values()) < 0.5


@pytest.mark.django_db
def test_statuses(demo_store):
    statuses = Counter(Order.objects.values_list("status", flat=True))
    total = sum(statuses.values())
    assert statuses["Complete"] / total > 0.9
    assert 0 < statuses["Cancelled"] / total < 0.08
    recent = Order.objects.filter(date_placed__date__gte=TODAY - timedelta(days=1))
    recent = recent.exclude(status="Cancelled")
    assert recent.exists()
    assert set(recent.values_list("status", flat=True)) <= {"Pending", "Being processed"}


@pytest.mark.django_db
def test_some_orders_are_discounted_some_with_real_vouchers(demo_store):
    discounts = OrderDiscount.objects.all()
    assert 0.05 < discounts.count() / Order.objects.count() < 0.4
    assert not discounts.filter(offer_name="").exists()
    with_voucher = discounts.exclude(voucher_id=None)
    assert with_voucher.exists()
    vouchers = {v.pk: v.code for v in Voucher.objects.all()}
    assert all(vouchers[d.voucher_id] == d.voucher_code for d in with_voucher)


@pytest.mark.django_db
def test_lines_add_up_to_the_order_totals(demo_store):
    sums = defaultdict(lambda: [Decimal(0)] * 3)
    for order_id, before, incl, excl in Line.objects.values_list(
        "order_id", "line_price_before_discounts_incl_tax", "line_price_incl_tax", "line_price_excl_tax"
    ):
        sums[order_id] = [a + b for a, b in zip(sums[order_id], (before, incl, excl))]
    discounts = Counter()
    for order_id, amount in OrderDiscount.objects.values_list("order_id", "amount"):
        discounts[order_id] += amount
    for order in Order.objects.all():
        before, incl, excl = sums[order.pk]
        assert order.total_incl_tax == before - discounts[order.pk] + order.shipping_incl_tax
        assert order.total_incl_tax == incl + order.shipping_incl_tax
        assert order.total_excl_tax == excl + order.shipping_excl_tax
        assert order.total_excl_tax < order.total_incl_tax
    assert 1 <= Line.objects.count() / Order.objects.count() <= 4


@pytest.mark.django_db
def test_guests_check_out_some_with_a_registered_customers_email(demo_store):
    guest_orders = Order.objects.filter(user=None)
    assert guest_orders.exists()
    assert not guest_orders.filter(guest_email="").exists()
    registered = {email.lower() for email in get_user_model().objects.values_list("email", flat=True)}
    typed = set(guest_orders.values_list("guest_email", flat=True))
    retyped = {email for email in typed if email.strip().lower() in registered}
    assert len(retyped) >= 3
    assert not retyped & registered  # written differently from the account's address


@pytest.mark.django_db
def test_customers_joined_before_their_first_order(demo_store):
    joined = dict(get_user_model().objects.values_list("pk", "date_joined"))
    for user_id, dates in orders_by_customer().items():
        assert joined[user_id] < dates[0]


@pytest.mark.django_db
def test_every_persona_shows_in_the_orders(demo_store):
    customers = orders_by_customer().values()
    champions = [d for d in customers if len(d) >= 10 and days_ago(d[-1]) <= 30]
    newcomers = [d for d in customers if days_ago(d[0]) < 60]
    lapsed = [d for d in customers if len(d) >= 3 and 120 <= days_ago(d[-1]) <= 365]
    gone = [d for d in customers if len(d) == 1 and days_ago(d[0]) > 365]
    assert champions and newcomers and lapsed and gone


@pytest.mark.django_db
def test_bargain_hunters_mostly_buy_with_a_discount(demo_store):
    discounted = set(OrderDiscount.objects.values_list("order_id", flat=True))
    per_customer = defaultdict(list)
    for order_id, user_id in Order.objects.exclude(user=None).values_list("pk", "user_id"):
        per_customer[user_id].append(order_id in discounted)
    assert any(len(d) >= 3 and sum(d) / len(d) >= 0.6 for d in per_customer.values())


@pytest.mark.django_db
def test_focused_customers_buy_from_one_or_two_departments(demo_store):
    department_of = {
        product_id: path[:4]  # the top-level category's path
        for product_id, path in Product.objects.values_list("pk", "categories__path")
    }
    items = defaultdict(Counter)
    lines = Line.objects.exclude(order__user=None).values_list("order__user_id", "product_id")
    for user_id, product_id in lines:
        items[user_id][department_of[product_id]] += 1
    top_two = [sum(n for _, n in c.most_common(2)) / c.total() for c in items.values() if c.total() >= 8]
    assert max(top_two) >= 0.85


@pytest.mark.django_db
def test_products_are_browsable(demo_store, client):
    assert Category.objects.filter(depth=1).count() == 8
    products = Product.objects.prefetch_related("stockrecords", "categories")
    assert products.count() == 150
    for product in products:
        (stockrecord,) = product.stockrecords.all()
        assert product.is_public and product.upc and stockrecord.price > 0 and stockrecord.num_in_stock > 0
        assert len(product.categories.all()) == 1
    assert client.get(products[0].get_absolute_url()).status_code == 200


@pytest.mark.django_db
def test_staff_can_log_into_the_dashboard(demo_store, client):
    assert client.login(username=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    assert client.get(reverse("dashboard:index")).status_code == 200


@pytest.mark.django_db
def test_if_empty_leaves_a_store_with_orders_alone(demo_store):
    before = store_digest()
    build("--if-empty")
    assert store_digest() == before


@pytest.mark.django_db
def test_the_shop_takes_new_orders_after_the_demo(demo_store):
    customer = get_user_model().objects.create_user("new-customer", "new@example.com", "x")
    order = create_order(user=customer)  # Oscar's own order numbers and fresh ids
    assert order.lines.count() == 1
