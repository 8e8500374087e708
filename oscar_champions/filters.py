"""The segment builder's filters over the customer metrics, and saved segments read back through them.

A segment is a set of conditions on ``CustomerMetrics`` combined with AND. The same FilterSet
validates what staff type in the builder, counts and lists the members, feeds the CSV export, and
re-validates a saved segment every time it is loaded.
"""

from datetime import timedelta

import django_filters as filters
from django import forms
from django.db import connections
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Value
from django.http import QueryDict
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from oscar.core.loading import get_model
from oscar.forms.widgets import RemoteSelect

from oscar_champions.customers import counted_lines, counted_orders
from oscar_champions.metrics import EqualsAny, counted_orders_cover, settings_for
from oscar_champions.models import CountedOrder, CustomerMetrics
from oscar_champions.rfm import RFMGroup
from oscar_champions.segments import LifecycleStage

Category = get_model("catalogue", "Category")
Product = get_model("catalogue", "Product")
Line = get_model("order", "Line")

#: Bounds that keep every number a filter accepts inside what the database columns can hold.
MAX_MONEY = 10**12
MAX_COUNT = 10**9
MAX_DAYS = 100 * 366


def _money_range(**kwargs):
    bounds = {"min_value": 0, "max_value": MAX_MONEY, "max_digits": 14, "decimal_places": 2}
    return filters.RangeFilter(fields=(forms.DecimalField(**bounds), forms.DecimalField(**bounds)), **kwargs)


def _integer_range(maximum, **kwargs):
    bounds = {"min_value": 0, "max_value": maximum}
    return filters.RangeFilter(fields=(forms.IntegerField(**bounds), forms.IntegerField(**bounds)), **kwargs)


def _percent_range(**kwargs):
    bounds = {"min_value": 0, "max_value": 100, "max_digits": 5, "decimal_places": 2}
    return filters.RangeFilter(fields=(forms.DecimalField(**bounds), forms.DecimalField(**bounds)), **kwargs)


class CategoryChoiceField(filters.fields.ModelChoiceField):
    """Categories in tree order, indented by depth; labelled without a query per category."""

    def label_from_instance(self, category):
        return f"{'— ' * (category.depth - 1)}{category.name}"


class CategoryFilter(filters.ModelChoiceFilter):
    field_class = CategoryChoiceField


class CustomerFilterForm(forms.Form):
    """Refuses what would silently match nobody: a range whose minimum is above its maximum."""

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if isinstance(value, slice) and None not in (value.start, value.stop) and value.start > value.stop:
                self.add_error(name, _("The lower bound is above the upper bound."))
        bought = ("bought_product", "bought_category")
        if all(cleaned.get(name) for name in bought):
            self.add_error("bought_category", _("Choose a product or a category, not both."))
        return cleaned


class CustomerFilter(filters.FilterSet):
    """Every condition staff can put on a segment; the conditions combine with AND."""

    q = filters.CharFilter(label=_("E-mail or name contains"), method="filter_search", max_length=100)

    revenue = _money_range(label=_("Revenue"))
    orders = _integer_range(MAX_COUNT, label=_("Orders"))
    average_order_value = _money_range(label=_("Average order value"))
    days_since_last_order = _integer_range(MAX_DAYS, label=_("Days since last order"))
    first_order_at = filters.DateFromToRangeFilter(label=_("First order between"))
    last_order_at = filters.DateFromToRangeFilter(label=_("Last order between"))
    first_order_within = filters.NumberFilter(
        label=_("First order in the last … days"), method="filter_first_order_within",
        min_value=1, max_value=MAX_DAYS, decimal_places=0,
    )
    last_order_within = filters.NumberFilter(
        label=_("Last order in the last … days"), method="filter_last_order_within",
        min_value=1, max_value=MAX_DAYS, decimal_places=0,
    )

    # "Bought from category X at least 5 times in the last 60 days": these four read as one condition.
    bought_product = filters.ModelChoiceFilter(
        label=_("Bought the product"),
        queryset=Product.objects.all(),
        widget=RemoteSelect(lookup_url=reverse_lazy("dashboard:catalogue-product-lookup")),
        method="filter_nothing",
    )
    bought_category = CategoryFilter(
        label=_("Bought from the category"), queryset=Category.objects.order_by("path"), method="filter_nothing"
    )
    bought_at_least = filters.NumberFilter(
        label=_("At least … orders"), min_value=1, max_value=MAX_COUNT, decimal_places=0, method="filter_nothing"
    )
    bought_within = filters.NumberFilter(
        label=_("In the last … days"), min_value=1, max_value=MAX_DAYS, decimal_places=0, method="filter_nothing"
    )

    # One row per customer, so no DISTINCT (which would cost a sort of the whole result).
    lifecycle_stage = filters.MultipleChoiceFilter(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, distinct=False
    )
    rfm_group = filters.MultipleChoiceFilter(label=_("RFM group"), choices=RFMGroup.choices, distinct=False)
    is_champion = filters.BooleanFilter(
        label=pgettext_lazy("filter", "Champion"),
        widget=forms.Select(choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))]),
    )
    probability_alive = _percent_range(label=_("Probability still a customer (%)"), method="filter_percent")
    predicted_value_365d = _money_range(label=_("Predicted value, next 12 months"))
    registered = filters.ChoiceFilter(
        label=pgettext_lazy("customer account", "Account"),
        choices=[("registered", _("Registered customers")), ("guest", _("Guest checkouts only"))],
        method="filter_registered",
    )
    date_joined = filters.DateFromToRangeFilter(label=_("Registered between"), field_name="user__date_joined")
    discount_share = _percent_range(label=_("Orders with a discount (%)"), method="filter_percent")

    class Meta:
        model = CustomerMetrics
        fields = []
        form = CustomerFilterForm

    def __init__(self, *args, few_customers=False, **kwargs):
        """``few_customers``: the queryset holds a handful of customers (one customer's row, to test whether
        they are in a segment), so a purchase condition counts their orders alone, not every buyer's."""
        super().__init__(*args, **kwargs)
        self.few_customers = few_customers

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(email__icontains=value) | Q(user__first_name__icontains=value) | Q(user__last_name__icontains=value)
        )

    def filter_first_order_within(self, queryset, name, value):
        return queryset.filter(first_order_at__gte=timezone.now() - timedelta(days=int(value)))

    def filter_last_order_within(self, queryset, name, value):
        return queryset.filter(last_order_at__gte=timezone.now() - timedelta(days=int(value)))

    def filter_percent(self, queryset, name, value):
        conditions = {}
        if value.start is not None:
            conditions[f"{name}__gte"] = value.start / 100
        if value.stop is not None:
            conditions[f"{name}__lte"] = value.stop / 100
        return queryset.filter(**conditions)

    def filter_registered(self, queryset, name, value):
        return queryset.filter(user__isnull=value == "guest")

    def filter_nothing(self, queryset, name, value):
        """The purchase fields are applied together, in ``filter_queryset``."""
        return queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        product, category = data.get("bought_product"), data.get("bought_category")
        at_least, within = data.get("bought_at_least"), data.get("bought_within")
        if not (product or category or at_least or within):
            return queryset
        among = queryset if self.few_customers else None
        return queryset.filter(buyers(product, category, int(at_least or 1), within and int(within), among))


#: The most buyers a purchase condition lists by id, on PostgreSQL, for the queries of a page: a list of 100k
#: ids is 0.4 MB; a longer one stays a subquery.
MAX_LISTED_BUYERS = 100_000


def _listed(ids):
    """The integers ``ids`` (a ``values_list(flat=True)`` queryset), read without JIT compilation, on which
    PostgreSQL would spend more than the query takes when its estimate of a test per order is high (measured:
    0.25 s of 0.8 s)."""
    with settings_for(connections[ids.db], jit="off"):
        return list(ids)


def _array(ids):
    """A list of integers as one PostgreSQL array parameter, for ``EqualsAny``."""
    from django.contrib.postgres.fields import ArrayField

    return Value(ids, output_field=ArrayField(IntegerField()))


def buyers(product=None, category=None, at_least=1, within_days=None, among=None):
    """A ``Q`` on customer metrics: the customers with ``at_least`` counted orders in the last
    ``within_days`` days.

    With a product or a category, only orders with that product (or a product of that category or
    of its subcategories, a variant counting as its parent) count. The orders are counted by the
    customers' integer ids in ``CountedOrder`` when it holds every order to date, else by the customer
    keys of Oscar's orders. With ``among``, a queryset of a few customers' metrics, only their orders
    are counted.
    """
    since = timezone.now() - timedelta(days=within_days) if within_days else None
    products = None
    if product is not None:
        products = Product.objects.filter(Q(pk=product.pk) | Q(parent=product))
    elif category is not None:
        products = Product.objects.filter(
            Q(categories__path__startswith=category.path) | Q(parent__categories__path__startswith=category.path)
        )
    postgresql = connections[CountedOrder.objects.db].vendor == "postgresql"
    bought = None
    if products is not None:
        # On PostgreSQL the products' ids are read first: tested on each order, an array of ids costs nothing
        # next to a join to the products and their categories.
        ids = products.order_by().values_list("pk", flat=True).distinct()
        bought = Q(EqualsAny("product_id", _array(list(ids)))) if postgresql else Q(product__in=ids)
    if counted_orders_cover(timezone.now()):
        orders = CountedOrder.objects.all() if among is None else CountedOrder.objects.filter(customer__in=among)
        if since is not None:
            orders = orders.filter(placed_at__gte=since)
        if bought is not None and since is not None:
            # Tested order by order, through the lines' index on their order: joined, the lines of every
            # order ever placed with the products would be read first (measured at 3M lines, the buyers of a
            # category of a sixth of the lines in the last 90 days: 2.1 s, against 0.4 s).
            with_product = Exists(Line.objects.filter(bought, order_id=OuterRef("order_id")))
            counts = orders.order_by().values("customer_id").annotate(counted=Count("pk", filter=with_product))
        else:
            if bought is not None:
                orders = orders.filter(order_id__in=Line.objects.filter(bought).values("order_id"))
            counts = orders.order_by().values("customer_id").annotate(counted=Count("pk"))
        members = counts.filter(counted__gte=at_least).values_list("customer_id", flat=True)
        if among is None and postgresql:
            # Listed once, rather than counted again by each query of a page (its count, its rows).
            listed = _listed(members[:MAX_LISTED_BUYERS + 1])
            if len(listed) <= MAX_LISTED_BUYERS:
                return Q(EqualsAny("pk", _array(listed)))
        return Q(pk__in=members)
    if bought is None:
        counts = counted_orders(since=since).values("customer_key").annotate(counted=Count("id"))
    else:
        lines = counted_lines(since=since).filter(bought)
        counts = lines.values("customer_key").annotate(counted=Count("order_id", distinct=True))
    if among is not None:
        counts = counts.filter(customer_key__in=among.values("key"))
    return Q(key__in=counts.order_by().filter(counted__gte=at_least).values("customer_key"))


def filter_parameters(filterset):
    """The query-string names a FilterSet's form reads (``revenue_min``, ``lifecycle_stage``, …)."""
    names = set()
    for name, field in filterset.form.fields.items():
        suffixes = getattr(field.widget, "suffixes", None)  # django-filter's ranges: revenue_min, revenue_max
        names.update(field.widget.suffixed(name, suffix) for suffix in suffixes) if suffixes else names.add(name)
    return names


def stored_filters(data):
    """The non-empty filter values of a query string, as a JSON-ready ``{name: [values]}`` for saving."""
    allowed = filter_parameters(CustomerFilter(queryset=CustomerMetrics.objects.none()))
    return {
        name: [value for value in values if value.strip()]
        for name, values in data.lists()
        if name in allowed and any(value.strip() for value in values)
    }


def as_query_dict(stored):
    """A saved segment's stored filters back as the ``QueryDict`` the FilterSet reads."""
    data = QueryDict(mutable=True)
    for name, values in stored.items():
        data.setlist(name, [str(value) for value in (values if isinstance(values, list) else [values])])
    return data


class InvalidSegment(Exception):
    """A saved segment whose filters no longer validate (e.g. its category was deleted)."""

    def __init__(self, segment, errors):
        self.segment = segment
        self.errors = errors
        super().__init__(f"Saved segment {segment.pk} no longer validates: {errors.as_text()}")


def customer_filter(data=None, queryset=None, **options):
    """The FilterSet over the current metrics, bound to ``data`` (a ``QueryDict``) when given; ``options`` go
    to ``CustomerFilter``.

    The members' accounts are read in a query of their own: joined, every customer would be joined to their
    account before a page of them is sorted out (measured: a deep page 0.29 s instead of 0.1 s).
    """
    queryset = CustomerMetrics.objects.prefetch_related("user") if queryset is None else queryset
    return CustomerFilter(data=data, queryset=queryset, **options)


def segment_filter(segment, queryset=None, **options):
    """The FilterSet of a saved segment, bound to its stored filters and validated again."""
    return customer_filter(as_query_dict(segment.filters), queryset, **options)


def segment_members(segment, queryset=None, **options):
    """The ``CustomerMetrics`` rows in a saved segment; ``InvalidSegment`` if its filters no longer hold."""
    filterset = segment_filter(segment, queryset, **options)
    if not filterset.is_valid():
        raise InvalidSegment(segment, filterset.errors)
    return filterset.qs


def segments_containing(metrics, segments):
    """The saved segments among ``segments`` whose members include the customer ``metrics``, in one query.

    Segments whose filters no longer validate contain nobody.
    """
    return _segments_containing(CustomerMetrics.objects.filter(pk=metrics.pk), segments)


def segments_containing_customer(key, segments):
    """The saved segments among ``segments`` whose members include the customer with this customer key (see
    ``oscar_champions.customers``), in one query; none for a customer the last refresh did not score."""
    return _segments_containing(CustomerMetrics.objects.filter(key=key), segments)


def _segments_containing(customer, segments):
    """The saved segments whose members include the one row of ``customer`` (a ``CustomerMetrics`` queryset)."""
    tests = {}
    for segment in segments:
        filterset = segment_filter(segment, customer, few_customers=True)
        if filterset.is_valid():
            tests[f"in_{segment.pk}"] = (segment, Exists(filterset.qs))
    if not tests:
        return []
    found = (
        customer.annotate(**{name: test for name, (_segment, test) in tests.items()})
        .values(*tests)
        .first()
    ) or {}
    return [segment for name, (segment, _test) in tests.items() if found.get(name)]
