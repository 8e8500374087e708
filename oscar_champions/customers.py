"""Who a customer is, and which orders count: the one definition the whole package uses.

A customer is identified by a *customer key*: the normalised (trimmed, lower-cased) e-mail address
of the order's registered user or, for a guest checkout, of the guest. A guest whose e-mail matches a
registered account is therefore the same customer as that account. A registered user without an
e-mail address is keyed ``#user-<id>``. Orders with neither a user nor a guest e-mail have no key and
are left out (the refresh reports how many).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import BigIntegerField, Case, CharField, F, Q, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, Lower, NullIf, Round, Trim
from django.utils.translation import gettext_lazy as _
from oscar.core.loading import get_model

from oscar_champions.conf import champions_settings

Order = get_model("order", "Order")
Line = get_model("order", "Line")

USER_KEY_PREFIX = "#user-"

#: The amounts an order's revenue can be measured by (the REVENUE_BASIS setting).
REVENUE_BASES = {
    "incl_tax": _("Order total incl. tax"),
    "excl_tax": _("Order total excl. tax"),
    "incl_tax_without_shipping": _("Order total incl. tax, without shipping"),
    "excl_tax_without_shipping": _("Order total excl. tax, without shipping"),
}


def normalise_email(email):
    """Return the form of an e-mail address that identifies a customer."""
    return (email or "").strip().lower()


def user_key(user):
    """The customer key of a registered user."""
    email = normalise_email(user.email)
    return email or f"{USER_KEY_PREFIX}{user.pk}"


def customer_key(order):
    """The customer key of one order, or ``None`` when nobody can be identified."""
    if order.user_id:
        return user_key(order.user)
    return normalise_email(order.guest_email) or None


def guest_email_expression(prefix=""):
    """SQL for an order's normalised guest e-mail; the migration indexes exactly this expression."""
    return Lower(Trim(f"{prefix}guest_email"))


def user_email_expression(prefix=""):
    """SQL for a registered user's normalised e-mail (``prefix`` reaches the user, e.g. ``"user__"`` from an
    order); migration 0006 indexes exactly this expression on the user table."""
    return Lower(Trim(f"{prefix}email"))


def user_key_expression(email="email", user_id="id"):
    """SQL for a registered user's customer key, from the user's ``email`` and ``user_id`` fields
    (by default those of a ``User`` queryset)."""
    return Coalesce(
        NullIf(Lower(Trim(email)), Value("")), Concat(Value(USER_KEY_PREFIX), Cast(user_id, CharField()))
    )


def customer_key_expression(prefix=""):
    """SQL for an order's customer key (see the module's docstring); ``prefix`` reaches the order
    from another model, e.g. ``"order__"`` from a line."""
    registered = Case(
        When(
            **{f"{prefix}user__isnull": False},
            then=user_key_expression(f"{prefix}user__email", f"{prefix}user_id"),
        ),
    )
    return Coalesce(registered, NullIf(guest_email_expression(prefix), Value("")))


def revenue_expression(prefix=""):
    """SQL for the revenue an order brings, on the basis chosen by the REVENUE_BASIS setting."""
    basis = champions_settings.REVENUE_BASIS
    if basis not in REVENUE_BASES:
        raise ImproperlyConfigured(
            f"OSCAR_CHAMPIONS_REVENUE_BASIS is {basis!r}; choose one of {', '.join(REVENUE_BASES)}."
        )
    tax = "incl_tax" if basis.startswith("incl_tax") else "excl_tax"
    revenue = F(f"{prefix}total_{tax}")
    if basis.endswith("without_shipping"):
        revenue = revenue - F(f"{prefix}shipping_{tax}")
    return revenue


def cents_expression(amount):
    """SQL for an amount of money (an expression, such as ``revenue_expression()``) in whole cents, as a big
    integer: integer sums are cheaper than decimal ones, and exact on SQLite too, where amounts are floats."""
    return Cast(Round(amount * 100), BigIntegerField())


#: The same in raw SQL, around a column's name.
CENTS_SQL = "CAST(ROUND({} * 100) AS BIGINT)"


def from_cents(cents):
    """An amount in cents (an integer) as an exact Decimal."""
    return Decimal(int(cents)).scaleb(-2)


def analysed_currency():
    """The one currency whose orders are analysed."""
    return champions_settings.CURRENCY or settings.OSCAR_DEFAULT_CURRENCY


def counted_orders(until=None, since=None):
    """The orders that count, with their ``customer_key`` and ``revenue`` annotated.

    Excluded: orders in an excluded status, in another currency, on a site that is not analysed,
    and orders nobody can be identified by. ``since``/``until`` bound ``date_placed``
    (``since`` inclusive, ``until`` inclusive).
    """
    orders = eligible_orders(until=until, since=since).annotate(customer_key=customer_key_expression())
    return orders.filter(customer_key__isnull=False).annotate(revenue=revenue_expression())


def counted_lines(until=None, since=None):
    """The lines of the orders that count, with their order's ``customer_key`` annotated."""
    lines = Line.objects.filter(eligible_order_filter("order__", until=until, since=since)).annotate(
        customer_key=customer_key_expression("order__")
    )
    return lines.filter(customer_key__isnull=False)


def eligible_orders(until=None, since=None):
    """Orders that pass the status, currency, site and date rules, whoever placed them."""
    return Order.objects.filter(eligible_order_filter(until=until, since=since))


def eligible_order_filter(prefix="", until=None, since=None):
    """The rules of ``eligible_orders`` as a ``Q``; ``prefix`` reaches the order, e.g. ``"order__"``."""
    rules = ~Q(**{f"{prefix}status__in": champions_settings.EXCLUDED_STATUSES}) & Q(
        **{f"{prefix}currency": analysed_currency()}
    )
    if champions_settings.SITES is not None:
        rules &= Q(**{f"{prefix}site_id__in": champions_settings.SITES})
    if until is not None:
        rules &= Q(**{f"{prefix}date_placed__lte": until})
    if since is not None:
        rules &= Q(**{f"{prefix}date_placed__gte": since})
    return rules
