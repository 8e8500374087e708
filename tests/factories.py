"""Factories for customers, products and orders: the one place tests make data."""

import itertools
from datetime import datetime, time
from decimal import Decimal as D

import factory
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone
from oscar.core.loading import get_class, get_model
from oscar.test.factories import CategoryFactory, ProductFactory, UserFactory  # noqa: F401 - re-exported

from oscar_champions.models import CountedOrder, CustomerMetrics

Order = get_model("order", "Order")
Line = get_model("order", "Line")
OrderDiscount = get_model("order", "OrderDiscount")
Basket = get_model("basket", "Basket")
Selector = get_class("partner.strategy", "Selector")

_order_numbers = itertools.count(1)


class CustomerFactory(UserFactory):
    """A registered customer with a unique e-mail address."""

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    username = factory.Sequence(lambda n: f"customer{n}")
    first_name = "Ana"
    last_name = factory.Sequence(lambda n: f"Silva {n}")


def as_datetime(value):
    """Accept a date or an aware/naive datetime and return an aware datetime (noon for dates)."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timezone.make_aware(datetime.combine(value, time(12, 0)))


def place_order(
    *,
    user=None,
    guest_email="",
    total="100.00",
    placed=None,
    status="Complete",
    lines=(),
    shipping="0.00",
    currency=None,
    site_id=None,
    discount=None,
    number=None,
):
    """Create an order directly through Oscar's models, without a basket or checkout.

    ``lines`` is a sequence of ``(product, quantity, line_price)``; ``discount`` an amount of
    an order-level discount to record.
    """
    total = D(str(total))
    order = Order.objects.create(
        number=number or f"T{next(_order_numbers):08d}",
        site_id=site_id if site_id is not None else settings.SITE_ID,
        user=user,
        guest_email=guest_email,
        currency=currency or settings.OSCAR_DEFAULT_CURRENCY,
        total_incl_tax=total,
        total_excl_tax=(total / D("1.1")).quantize(D("0.01")),
        shipping_incl_tax=D(str(shipping)),
        shipping_excl_tax=D(str(shipping)),
        status=status,
        date_placed=as_datetime(placed or timezone.now()),
    )
    for product, quantity, price in lines:
        price = D(str(price))
        Line.objects.create(
            order=order,
            product=product,
            title=product.get_title(),
            partner_sku=product.upc or str(product.pk),
            quantity=quantity,
            line_price_incl_tax=price,
            line_price_excl_tax=price,
            line_price_before_discounts_incl_tax=price,
            line_price_before_discounts_excl_tax=price,
            num_allocated=quantity,
        )
    if discount:
        OrderDiscount.objects.create(order=order, amount=D(str(discount)), offer_name="Test offer")
    return order


def set_champion_flag(customers, flag=True, **fields):
    """Make the ``customers`` (a ``CustomerMetrics`` queryset) champions, or not, in their metrics (with any
    other ``fields``) and in their counted orders, which the engine keeps in step."""
    ids = list(customers.values_list("pk", flat=True))
    CustomerMetrics.objects.filter(pk__in=ids).update(is_champion=flag, **fields)
    CountedOrder.objects.filter(customer_id__in=ids).update(is_champion=flag)


def storefront_request(user, path="/"):
    """A storefront GET request for ``user`` with what Oscar's middleware gives it: a session, an unsaved basket
    (no query) and the pricing strategy."""
    request = RequestFactory().get(path)
    request.user = user
    request.session = {}
    request.basket = Basket()
    request.strategy = Selector().strategy(request=request, user=user)
    return request
