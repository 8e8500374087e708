"""The best-customers report: who brought the most in a period, how that compares with the period before,
how concentrated revenue is, and what the champions look like next to everyone else.

Pure computation, shared by the dashboard page, its CSV and PDF exports and Oscar's Reports dashboard.
Customers and the orders that count are those of ``oscar_champions.customers``; a customer's lifecycle
stage and champion badge are those of the last refresh (``CustomerMetrics``).

Ranks are competition ranks: customers with equal values share a rank, and the next rank skips as many
places (1, 2, 2, 4). Tied customers are listed by revenue, then by customer key, so the order is stable.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from functools import cached_property

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.sites.models import Site
from django.db import connections, models
from django.db.models import Case, CharField, Count, F, Max, Q, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from oscar.core.loading import get_model

from oscar_champions.conf import champions_settings
from oscar_champions.customers import (
    USER_KEY_PREFIX,
    cents_expression,
    eligible_order_filter,
    eligible_orders,
    from_cents,
    guest_email_expression,
    revenue_expression,
    user_key_expression,
)
from oscar_champions.metrics import counted_orders_cover, latest_run, number_columns, tuned_for_aggregates
from oscar_champions.models import CountedOrder, CustomerMetrics
from oscar_champions.segments import LifecycleStage

Product = get_model("catalogue", "Product")
Line = get_model("order", "Line")

CENT = Decimal("0.01")
#: How many customers the report lists unless asked otherwise, and at most.
DEFAULT_TOP = 50
MAX_TOP = 1000
#: The longest period the report accepts, and the earliest day it may start: beyond them a date is
#: almost certainly a typing mistake (and day arithmetic near year 1 would overflow).
MAX_PERIOD_YEARS = 10
MAX_PERIOD_DAYS = MAX_PERIOD_YEARS * 366
EARLIEST_START = date(1970, 1, 1)
#: The shares of customers whose share of revenue the concentration figures give (the top 1%, 10%, 20%).
CONCENTRATION_SHARES = (0.01, 0.10, 0.20)
#: Points of the concentration (Pareto) curve, evenly spread over the share of customers.
CURVE_POINTS = 100
#: Categories and products listed in the champion profile.
PROFILE_TOP = 5
#: The share of the shop's counted orders below which the champion profile looks a period's order lines up
#: order by order, through the lines' index on their order, rather than finding them in a scan of every line.
#: Measured at 1M orders and 3M lines (``benchmarks/bench_report.py``), looked up against scanned: 30 days
#: 0.17 s against 0.64 s, 90 days 0.26 s against 0.71 s, 270 days 0.59 s against 0.72 s, a year (half the
#: orders) 0.86 s against 0.82 s.
LINE_LOOKUP_SHARE = 0.4


class PeriodPreset(models.TextChoices):
    THIS_MONTH = "this_month", _("This month")
    LAST_MONTH = "last_month", _("Last month")
    LAST_90_DAYS = "last_90_days", _("Last 90 days")
    THIS_YEAR = "this_year", _("This year")
    LAST_YEAR = "last_year", _("Last year")
    CUSTOM = "custom", _("Custom range")


class RankBy(models.TextChoices):
    REVENUE = "revenue", _("Revenue")
    ORDERS = "orders", _("Number of orders")
    AVERAGE_ORDER_VALUE = "average_order_value", _("Average order value")
    ITEMS = "items", _("Items bought")


class Movement(models.TextChoices):
    # In context: Oscar's catalogue has "Up" and "Down" for directions on a page, which read wrong here.
    UP = "up", pgettext_lazy("rank movement", "Up")
    DOWN = "down", pgettext_lazy("rank movement", "Down")
    SAME = "same", _("Same rank")
    NEW = "new", _("New")


@dataclass(frozen=True)
class Period:
    """A range of whole days, both ends included, in the shop's time zone."""

    start: date
    end: date

    @classmethod
    def from_preset(cls, preset, today=None):
        """The period a preset names, as seen on ``today`` (the shop's current date by default).

        Periods that include today end today: "this month" on 22 November is 1–22 November.
        """
        today = today or timezone.localdate()
        if preset == PeriodPreset.THIS_MONTH:
            return cls(today.replace(day=1), today)
        if preset == PeriodPreset.LAST_MONTH:
            end = today.replace(day=1) - timedelta(days=1)
            return cls(end.replace(day=1), end)
        if preset == PeriodPreset.LAST_90_DAYS:
            return cls(today - timedelta(days=89), today)
        if preset == PeriodPreset.THIS_YEAR:
            return cls(date(today.year, 1, 1), today)
        if preset == PeriodPreset.LAST_YEAR:
            return cls(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
        raise ValueError(f"Unknown period preset: {preset!r}")

    @property
    def days(self):
        return (self.end - self.start).days + 1

    def previous(self):
        """The period of the same length that ends the day before this one starts."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def since(self):
        """The first moment of the period (an aware datetime)."""
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self):
        """The last moment of the period (an aware datetime)."""
        return timezone.make_aware(datetime.combine(self.end, time.max))


def analysed_sites():
    """The sites (channels) whose orders the report can show, in name order."""
    sites = Site.objects.order_by("name", "pk")
    if champions_settings.SITES is not None:
        sites = sites.filter(pk__in=champions_settings.SITES)
    return list(sites)


@dataclass
class RankedCustomer:
    """One line of the ranking."""

    rank: int
    previous_rank: int | None
    key: str
    metrics_id: int | None  # the customer's CustomerMetrics row, if the last refresh knew them
    name: str
    email: str
    user_id: int | None
    orders: int
    revenue: Decimal
    items: int | None
    share: float
    cumulative_share: float
    last_order_at: datetime
    lifecycle_stage: str | None
    is_champion: bool

    @property
    def average_order_value(self):
        return (self.revenue / self.orders).quantize(CENT) if self.orders else None

    @property
    def movement(self):
        """Up, down or the same against the previous period, or new when not ranked then."""
        if self.previous_rank is None:
            return Movement.NEW
        if self.previous_rank > self.rank:
            return Movement.UP
        if self.previous_rank < self.rank:
            return Movement.DOWN
        return Movement.SAME

    @property
    def rank_change(self):
        """Places gained (positive) or lost (negative), or ``None`` for a customer new to the ranking."""
        return None if self.previous_rank is None else self.previous_rank - self.rank

    @property
    def places(self):
        """How many places the customer moved, either way (``None`` for a customer new to the ranking)."""
        return None if self.previous_rank is None else abs(self.previous_rank - self.rank)

    @property
    def lifecycle_stage_label(self):
        return LifecycleStage(self.lifecycle_stage).label if self.lifecycle_stage else ""


@dataclass
class CustomerDetails:
    """What the ranking lists of a customer beyond their figures."""

    key: str
    user_id: int | None
    metrics_id: int | None
    last_order_at: object  # as the driver returned it (see ``_aware``)


@dataclass
class Totals:
    """The headline figures of one period."""

    customers: int
    orders: int
    revenue: Decimal

    @property
    def average_order_value(self):
        return (self.revenue / self.orders).quantize(CENT) if self.orders else None

    @property
    def revenue_per_customer(self):
        return (self.revenue / self.customers).quantize(CENT) if self.customers else None


@dataclass
class Concentration:
    """How much of the revenue the best customers brought: shares for the top 1/10/20% and a Pareto curve."""

    customers: int
    #: ``(share of customers, number of customers, share of revenue)`` for each of CONCENTRATION_SHARES.
    tops: list
    #: ``(share of customers, share of revenue)`` points from (0, 0) to (1, 1), best customers first.
    curve: list


@dataclass
class ProfileFigure:
    """One line of the champion profile: a figure for the champions and for everyone else."""

    label: str
    kind: str  # "count", "money", "number", "share" or "days": how to show it
    champions: object
    others: object
    help_text: str = ""

    @property
    def values(self):
        return [self.champions, self.others]


@dataclass
class ProfileGroup:
    """The categories and products one group of customers spent most on in the period."""

    categories: list = field(default_factory=list)  # (name, spend, share of the group's spend)
    products: list = field(default_factory=list)  # (title, spend, share of the group's spend)


@dataclass
class ChampionProfile:
    """The champions of a period next to its other customers: figures, and where each group spends."""

    figures: list
    champions: ProfileGroup
    others: ProfileGroup

    @property
    def groups(self):
        return [(_("Champions"), self.champions), (_("Everyone else"), self.others)]


class BestCustomersReport:
    """The best customers of a period, ranked, with the previous period, concentration and champion profile.

    ``site`` restricts the orders to one channel (a site id among the analysed ones); ``stage`` restricts
    the customers to one lifecycle stage. Everything is computed on first access, in a fixed number of
    queries whatever ``top`` is.
    """

    def __init__(self, period, rank_by=RankBy.REVENUE, top=DEFAULT_TOP, site=None, stage=None):
        if not 1 <= top <= MAX_TOP:
            raise ValueError(f"top must be between 1 and {MAX_TOP}")
        self.period = period
        self.previous_period = period.previous()
        self.rank_by = RankBy(rank_by)
        self.top = top
        self.site = site
        self.stage = LifecycleStage(stage) if stage else None
        self._accounts = {}  # metrics id -> (key, user id) of the customers ``_keys`` read

    # The figures -----------------------------------------------------------------------------------

    @cached_property
    def totals(self):
        c = self._customers
        current = c["orders"] > 0
        return Totals(int(current.sum()), int(c["orders"].sum()), from_cents(c["revenue_cents"][current].sum()))

    @cached_property
    def previous_totals(self):
        c = self._customers
        previous = c["previous_orders"] > 0
        return Totals(
            int(previous.sum()), int(c["previous_orders"].sum()),
            from_cents(c["previous_revenue_cents"][previous].sum()),
        )

    @cached_property
    def returning_customers(self):
        """Customers who bought in both periods."""
        c = self._customers
        return int(((c["orders"] > 0) & (c["previous_orders"] > 0)).sum())

    @cached_property
    def lapsed_customers(self):
        """Customers who bought in the previous period but not in this one."""
        c = self._customers
        return int(((c["orders"] == 0) & (c["previous_orders"] > 0)).sum())

    @cached_property
    def champions_revenue_share(self):
        c = self._customers
        total = c["revenue"].sum()
        return float(c["revenue"][c["is_champion"]].sum() / total) if total else None

    @cached_property
    def rows(self):
        """The ranked customers, best first, at most ``top`` of them."""
        c = self._customers
        current, previous = c["orders"] > 0, c["previous_orders"] > 0
        values, previous_values = self._ranking_values()
        ranks = _competition_ranks(values, current)
        previous_ranks = _competition_ranks(previous_values, previous)
        chosen = self._top_indices(values, current)
        total = c["revenue"][current].sum()
        details = self._details(chosen)
        users = self._users([detail.user_id for detail in details])

        rows, cumulative = [], 0.0
        for i, detail in zip(chosen, details):
            share = float(c["revenue"][i] / total) if total else 0.0
            cumulative += share
            user = users.get(detail.user_id)
            key = detail.key
            rows.append(RankedCustomer(
                rank=int(ranks[i]),
                previous_rank=int(previous_ranks[i]) if previous[i] else None,
                key=key,
                metrics_id=detail.metrics_id,
                name=(user.get_full_name() if user else "") or "",
                email=(user.email if user else "") or ("" if key.startswith(USER_KEY_PREFIX) else key),
                user_id=detail.user_id,
                orders=int(c["orders"][i]),
                revenue=from_cents(c["revenue_cents"][i]),
                items=int(c["items"][i]) if "items" in c else None,
                share=share,
                cumulative_share=min(cumulative, 1.0),
                last_order_at=_aware(detail.last_order_at),
                lifecycle_stage=c["stage"][i],
                is_champion=bool(c["is_champion"][i]),
            ))
        return rows

    @cached_property
    def concentration(self):
        """Shares of revenue brought by the best customers, by revenue whatever the ranking."""
        c = self._customers
        revenue = np.sort(c["revenue"][c["orders"] > 0])[::-1]
        n, total = len(revenue), revenue.sum()
        if not n or total <= 0:
            return Concentration(customers=n, tops=[], curve=[])
        cumulative = np.concatenate(([0.0], np.cumsum(revenue) / total))
        tops = []
        for share in CONCENTRATION_SHARES:
            count = max(1, math.ceil(n * share - 1e-9))
            tops.append((share, count, float(cumulative[count])))
        steps = np.linspace(0, 1, CURVE_POINTS + 1)
        curve = [(float(x), float(cumulative[int(round(x * n))])) for x in steps]
        return Concentration(customers=n, tops=tops, curve=curve)

    @cached_property
    def revenue_by_stage(self):
        """Each lifecycle stage's share of the period's customers and revenue, in the stages' order.

        Rows are dicts with ``segment``, ``customers``, ``customer_share`` and ``revenue_share``; customers
        the last refresh has not scored yet belong to no stage.
        """
        c = self._customers
        current = c["orders"] > 0
        n, total = current.sum(), c["revenue"][current].sum()
        rows = []
        for stage in LifecycleStage:
            in_stage = current & (c["stage"] == stage.value)
            if in_stage.any():
                rows.append({
                    "segment": stage,
                    "customers": int(in_stage.sum()),
                    "customer_share": float(in_stage.sum() / n),
                    "revenue_share": float(c["revenue"][in_stage].sum() / total) if total else 0.0,
                })
        return rows

    @cached_property
    def profile(self):
        """The champions of the period next to its other customers (see ``ChampionProfile``)."""
        c = self._customers
        current = c["orders"] > 0
        groups = (current & c["is_champion"], current & ~c["is_champion"])
        total = c["revenue"][current].sum()
        lines = self._line_spend()
        years = self.period.days / 365.25

        def per_group(function):
            return [function(mask, group) for group, mask in enumerate(groups)]

        def customers(mask, group):
            return int(mask.sum())

        def revenue_share(mask, group):
            return float(c["revenue"][mask].sum() / total) if total else None

        def orders_per_customer(mask, group):
            return float(c["orders"][mask].mean()) if mask.any() else None

        def orders_per_year(mask, group):
            return float(c["orders"][mask].mean() / years) if mask.any() else None

        def average_order_value(mask, group):
            orders = c["orders"][mask].sum()
            return _money(c["revenue"][mask].sum() / orders) if orders else None

        def average_item_price(mask, group):
            spend, items = lines["spend"][group], lines["items"][group]
            return _money(spend / items) if items else None

        def days_between(mask, group):
            days = c["days_between"][mask]
            days = days[np.isfinite(days)]
            return float(np.median(days)) if len(days) else None

        def discount_share(mask, group):
            shares = c["discount_share"][mask]
            shares = shares[np.isfinite(shares)]
            return float(shares.mean()) if len(shares) else None

        figures = [
            ProfileFigure(_("Customers"), "count", *per_group(customers)),
            ProfileFigure(_("Share of the period's revenue"), "share", *per_group(revenue_share)),
            ProfileFigure(_("Orders per customer in the period"), "number", *per_group(orders_per_customer)),
            ProfileFigure(
                _("Orders per customer per year"), "number", *per_group(orders_per_year),
                _("At this period's pace."),
            ),
            ProfileFigure(_("Average order value"), "money", *per_group(average_order_value)),
            ProfileFigure(_("Average item price"), "money", *per_group(average_item_price)),
            ProfileFigure(
                _("Typical days between orders"), "days", *per_group(days_between),
                _("Median over customers with more than one order, over their whole history."),
            ),
            ProfileFigure(
                _("Orders with a discount"), "share", *per_group(discount_share),
                _("Average share of each customer's orders that had a discount or voucher, over their whole "
                  "history."),
            ),
        ]
        return ChampionProfile(figures, lines["groups"][0], lines["groups"][1])

    # Export ------------------------------------------------------------------------------------------

    def export_header(self):
        """The column titles of the CSV export, the same columns as the page."""
        header = [
            _("Rank"), pgettext_lazy("rank movement", "Change"), _("Previous rank"), _("Customer"), _("E-mail"),
            _("Orders"), _("Revenue"),
            _("Average order value"),
        ]
        if self.rank_by == RankBy.ITEMS:
            header.append(_("Items"))
        header += [
            _("Share of revenue (%)"), _("Cumulative share (%)"), _("Last order"), _("Lifecycle stage"),
            _("Champion"),
        ]
        return [str(title) for title in header]

    def export_rows(self):
        """The ranked customers as CSV rows: plain numbers and ISO dates, for spreadsheets."""
        for row in self.rows:
            cells = [
                row.rank, str(row.movement.label), row.previous_rank, row.name, row.email, row.orders, row.revenue,
                row.average_order_value,
            ]
            if self.rank_by == RankBy.ITEMS:
                cells.append(row.items)
            cells += [
                round(row.share * 100, 2), round(row.cumulative_share * 100, 2),
                timezone.localtime(row.last_order_at).date().isoformat(), str(row.lifecycle_stage_label),
                str(_("Yes") if row.is_champion else _("No")),
            ]
            yield cells

    # The queries -------------------------------------------------------------------------------------

    @cached_property
    def _indexed(self):
        """Whether the figures come from ``CountedOrder``, which holds every order of both periods."""
        return counted_orders_cover(self.period.until)

    @cached_property
    def _customers(self):
        """Per-customer figures of both periods, with their stage, as parallel NumPy columns.

        From the counted orders of the last refresh when they cover both periods (``_indexed``), else from
        Oscar's orders (the same figures, slower on a big shop).
        """
        return self._customers_from_counted_orders() if self._indexed else self._customers_from_orders()

    def _customers_from_counted_orders(self):
        """``_customers`` by summing ``CountedOrder`` by its integer customer: one query, whose columns
        come back as arrays (``number_columns``); the listed customers' keys and dates are read afterwards
        (``_details``)."""
        orders = CountedOrder.objects.filter(
            placed_at__gte=self.previous_period.since, placed_at__lte=self.period.until
        )
        if self.site is not None:
            orders = orders.filter(site_id=self.site)
        current = Q(placed_at__gte=self.period.since)
        # Cents summed as floats, exact below 2^53 and cheaper to add up than the numeric sum of a bigint;
        # orders counted by their date, which the customers' index holds (their id it does not).
        float_cents = Cast("revenue_cents", models.FloatField())
        grouped = orders.order_by().values("customer_id").annotate(
            current_orders=Count("placed_at", filter=current), current_revenue=Sum(float_cents, filter=current),
            earlier_orders=Count("placed_at", filter=~current), earlier_revenue=Sum(float_cents, filter=~current),
        )
        grouped_sql, grouped_params = grouped.query.sql_with_params()
        connection = connections[CountedOrder.objects.db]
        qn = connection.ops.quote_name
        meta = CustomerMetrics._meta
        column = {name: f"m.{qn(meta.get_field(name).column)}" for name in (
            "id", "lifecycle_stage", "is_champion", "average_days_between_orders", "discount_share"
        )}
        stages = list(LifecycleStage)
        cents = "COALESCE(g.{}, 0)"
        sql = (
            f"SELECT g.{qn('customer_id')}, g.{qn('current_orders')}, {cents.format(qn('current_revenue'))}, "
            f"g.{qn('earlier_orders')}, {cents.format(qn('earlier_revenue'))}, "
            f"CASE {column['lifecycle_stage']} {' '.join('WHEN %s THEN %s' for _ in stages)} ELSE -1 END, "
            f"CASE WHEN {column['is_champion']} THEN 1 ELSE 0 END, "
            f"{column['average_days_between_orders']}, {column['discount_share']} "
            f"FROM ({grouped_sql}) g JOIN {qn(meta.db_table)} m ON {column['id']} = g.{qn('customer_id')}"
        )
        params = [value for i, stage in enumerate(stages) for value in (stage.value, i)] + list(grouped_params)
        if self.stage is not None:
            sql += f" WHERE {column['lifecycle_stage']} = %s"
            params.append(self.stage.value)
        # Grouped in customer order from the index that holds every summed column (CountedOrder's
        # ``champions_counted_customer``), not hashed: PostgreSQL underestimates how many customers there are.
        # The setting holds for the whole statement: number_columns' grouping into chunks becomes a sort too.
        with tuned_for_aggregates(connection, enable_hashagg="off") as cursor:
            (metrics_id, orders_, revenue, previous_orders, previous_revenue, stage, champion, days_between,
             discount_share) = number_columns(cursor, sql, params, "iiiiiiiff")
        c = {
            "metrics_id": metrics_id,
            "orders": orders_,
            "revenue_cents": revenue,
            "previous_orders": previous_orders,
            "previous_revenue_cents": previous_revenue,
            "stage": np.array([stage.value for stage in stages] + [None], dtype=object)[stage],
            "is_champion": champion.astype(bool),
            "days_between": days_between,
            "discount_share": discount_share,
        }
        return self._with_derived_columns(c)

    def _customers_from_orders(self):
        """``_customers`` from Oscar's orders: one query over the orders of the previous and the current
        period (see ``_per_customer``), joined to the customers' metrics on the grouped rows, where the
        join costs little."""
        orders = eligible_orders(since=self.previous_period.since, until=self.period.until)
        if self.site is not None:
            orders = orders.filter(site_id=self.site)
        current = Q(date_placed__gte=self.period.since)
        # Revenue in cents: integer sums are cheaper than numeric ones, come back as Python ints rather than
        # ~200k Decimals, and are exact on SQLite too, where amounts are floats (hence the rounding).
        orders = orders.annotate(cents=cents_expression(revenue_expression()))
        sql, params = self._per_customer(
            orders,
            {"current_orders": Count("id", filter=current), "current_revenue": Sum("cents", filter=current),
             "earlier_orders": Count("id", filter=~current), "earlier_revenue": Sum("cents", filter=~current)},
            # As text: the driver's parsing of ~100k timestamps would take longer than the query, and only
            # the listed customers' dates are shown (parsed by ``_aware``). ISO text sorts like the dates.
            {"last_order": Cast(Max("date_placed", filter=current), CharField())},
        )
        columns = ["customer_key", "registered_user", "current_orders", "current_revenue", "last_order",
                   "earlier_orders", "earlier_revenue"]
        rows = self._with_metrics(
            sql, params, columns,
            ["lifecycle_stage", "is_champion", "average_days_between_orders", "discount_share", "id"],
        )
        n = len(rows)
        columns = list(zip(*rows)) if rows else [()] * 12
        c = {
            "keys": list(columns[0]),
            "user_id": list(columns[1]),
            "orders": np.fromiter((int(v or 0) for v in columns[2]), dtype=np.int64, count=n),
            "revenue_cents": np.fromiter((v or 0 for v in columns[3]), dtype=np.int64, count=n),
            "last_order_at": list(columns[4]),
            "previous_orders": np.fromiter((int(v or 0) for v in columns[5]), dtype=np.int64, count=n),
            "previous_revenue_cents": np.fromiter((v or 0 for v in columns[6]), dtype=np.int64, count=n),
            "stage": np.array(columns[7], dtype=object),
            "is_champion": np.fromiter((bool(value) for value in columns[8]), dtype=bool, count=n),
            "days_between": np.array([np.nan if v is None else v for v in columns[9]], dtype=float),
            "discount_share": np.array([np.nan if v is None else v for v in columns[10]], dtype=float),
            "metrics_id": list(columns[11]),
        }
        return self._with_derived_columns(c)

    def _with_derived_columns(self, c):
        c["revenue"] = c["revenue_cents"] / 100
        c["previous_revenue"] = c["previous_revenue_cents"] / 100
        if self.rank_by == RankBy.ITEMS:
            self._add_items(c)
        return c

    def _details(self, indices):
        """The key, user id, metrics row and last order of the period of each of the customers ``indices``."""
        c = self._customers
        if not self._indexed:
            return [
                CustomerDetails(c["keys"][i], c["user_id"][i], c["metrics_id"][i], c["last_order_at"][i])
                for i in indices
            ]
        ids = [int(c["metrics_id"][i]) for i in indices]
        orders = CountedOrder.objects.filter(
            customer_id__in=ids, placed_at__gte=self.period.since, placed_at__lte=self.period.until
        )
        if self.site is not None:
            orders = orders.filter(site_id=self.site)
        last = dict(orders.order_by().values("customer_id").annotate(last=Max("placed_at")).values_list(
            "customer_id", "last"
        ))
        return [CustomerDetails(*self._accounts[pk], pk, last[pk]) for pk in ids]

    def _keys(self, indices):
        """The customer key of each of the customers ``indices``, by index. From the counted orders, their
        metrics rows are read for it (in one query), and their keys and accounts kept for ``_details``."""
        c = self._customers
        if not self._indexed:
            return {i: c["keys"][i] for i in indices}
        ids = c["metrics_id"][indices].tolist()
        # Ties at the last place can make many candidates: read in batches a database's parameters allow.
        batch = connections[CustomerMetrics.objects.db].features.max_query_params or len(ids) or 1
        self._accounts = {
            pk: (key, user_id)
            for start in range(0, len(ids), batch)
            for pk, key, user_id in CustomerMetrics.objects.filter(pk__in=ids[start:start + batch]).values_list(
                "pk", "key", "user_id"
            )
        }
        return {i: self._accounts[pk][0] for i, pk in zip(indices, ids)}

    def _per_customer(self, queryset, sums, maxima, prefix=""):
        """SQL (and its parameters) aggregating ``queryset`` per customer key: ``customer_key``,
        ``registered_user`` and one column per aggregate of ``sums`` (integers: counts, quantities, cents; added up
        as a BIGINT) and ``maxima``.

        Grouping a few hundred thousand rows by the text of the customer key is slow (the key is an
        expression over the user's and the guest's e-mails), so the rows are first grouped by the raw
        user id and, for guest checkouts only, the normalised guest e-mail (a registered user's key
        ignores it), and only those groups are keyed, with the expressions of
        ``oscar_champions.customers``, and merged: a guest's group joins the account with that e-mail.
        ``prefix`` reaches the order from the queryset's model, e.g. ``"order__"`` from a line.
        """
        connection = connections[queryset.db]
        qn = connection.ops.quote_name
        guest_key = Case(
            When(**{f"{prefix}user_id__isnull": True}, then=guest_email_expression(prefix)), output_field=CharField()
        )
        grouped = queryset.order_by().values(identity_user=F(f"{prefix}user_id"), guest_key=guest_key).annotate(
            **sums, **maxima
        )
        inner_sql, inner_params = grouped.query.sql_with_params()
        users_sql, users_params = _user_keys().query.sql_with_params()
        key = f"COALESCE(u.{qn('user_key')}, NULLIF(g.{qn('guest_key')}, ''))"
        selected = [f"{key} AS {qn('customer_key')}", f"MAX(g.{qn('identity_user')}) AS {qn('registered_user')}"]
        selected += [f"CAST(SUM(g.{qn(name)}) AS BIGINT) AS {qn(name)}" for name in sums]
        selected += [f"MAX(g.{qn(name)}) AS {qn(name)}" for name in maxima]
        sql = (
            f"SELECT {', '.join(selected)} FROM ({inner_sql}) g "
            f"LEFT JOIN ({users_sql}) u ON u.{qn('account')} = g.{qn('identity_user')} "
            f"WHERE {key} IS NOT NULL GROUP BY {key}"
        )
        return sql, (*inner_params, *users_params)

    def _with_metrics(self, sql, params, columns, metric_fields):
        """Run the per-customer ``sql`` (see ``_per_customer``) left-joined to the customers' metrics,
        restricted to the report's lifecycle stage; return rows of ``columns`` then ``metric_fields``.

        Values come back raw from the driver: callers convert dates (``_aware``).
        """
        connection = connections[CustomerMetrics.objects.db]
        qn = connection.ops.quote_name
        meta = CustomerMetrics._meta
        selected = [f"k.{qn(name)}" for name in columns]
        selected += [f"m.{qn(meta.get_field(name).column)}" for name in metric_fields]
        query = (
            f"SELECT {', '.join(selected)} FROM ({sql}) k LEFT JOIN {qn(meta.db_table)} m "
            f"ON m.{qn(meta.get_field('key').column)} = k.{qn('customer_key')}"
        )
        params = list(params)
        if self.stage is not None:
            query += f" WHERE m.{qn(meta.get_field('lifecycle_stage').column)} = %s"
            params.append(self.stage.value)
        with tuned_for_aggregates(connection) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def _add_items(self, c):
        """Items bought per customer in both periods (only needed to rank by items)."""
        c["items"] = np.zeros(len(c["orders"]), dtype=np.int64)
        c["previous_items"] = np.zeros(len(c["orders"]), dtype=np.int64)
        if self._indexed:
            position = {pk: i for i, pk in enumerate(c["metrics_id"].tolist())}
            rows = self._counted_lines(self.previous_period).values("order__champions_counted__customer_id").annotate(
                current_items=Sum("quantity", filter=Q(order__champions_counted__placed_at__gte=self.period.since)),
                earlier_items=Sum("quantity", filter=Q(order__champions_counted__placed_at__lt=self.period.since)),
            ).values_list("order__champions_counted__customer_id", "current_items", "earlier_items")
        else:
            position = {key: i for i, key in enumerate(c["keys"])}
            rows = self._items_by_key()
        for identity, items, earlier in rows:
            if identity in position:
                c["items"][position[identity]] = int(items or 0)
                c["previous_items"][position[identity]] = int(earlier or 0)

    def _counted_lines(self, since_period):
        """The lines of the counted orders from the start of ``since_period`` to the end of the period (on
        the report's site and of its stage's customers), ungrouped and unordered."""
        counted = "order__champions_counted__"
        lines = Line.objects.filter(**{
            f"{counted}placed_at__gte": since_period.since, f"{counted}placed_at__lte": self.period.until
        })
        if self.site is not None:
            lines = lines.filter(**{f"{counted}site_id": self.site})
        if self.stage is not None:
            lines = lines.filter(**{f"{counted}customer__lifecycle_stage": self.stage.value})
        return lines.order_by()

    def _items_by_key(self):
        """``(customer key, items in the period, items in the previous period)`` from Oscar's lines."""
        lines = Line.objects.filter(
            eligible_order_filter("order__", since=self.previous_period.since, until=self.period.until)
        )
        if self.site is not None:
            lines = lines.filter(order__site_id=self.site)
        current = Q(order__date_placed__gte=self.period.since)
        sql, params = self._per_customer(
            lines,
            {"current_items": Sum("quantity", filter=current), "earlier_items": Sum("quantity", filter=~current)},
            {}, prefix="order__",
        )
        with tuned_for_aggregates(connections[lines.db]) as cursor:
            cursor.execute(sql, params)
            return [(key, items, earlier) for key, _user, items, earlier in cursor.fetchall()]

    def _ranking_values(self):
        """The value each customer is ranked by, in the current and in the previous period."""
        c = self._customers
        if self.rank_by == RankBy.ORDERS:
            return c["orders"].astype(float), c["previous_orders"].astype(float)
        if self.rank_by == RankBy.ITEMS:
            return c["items"].astype(float), c["previous_items"].astype(float)
        if self.rank_by == RankBy.AVERAGE_ORDER_VALUE:
            # Rounded to the cent, so orders of equal average value tie despite floating point.
            with np.errstate(divide="ignore", invalid="ignore"):
                return (
                    np.round(c["revenue"] / c["orders"], 2),
                    np.round(c["previous_revenue"] / c["previous_orders"], 2),
                )
        return np.round(c["revenue"], 2), np.round(c["previous_revenue"], 2)

    def _top_indices(self, values, included):
        """The indices of the ``top`` best customers: by value, then revenue, then key."""
        c = self._customers
        candidates = np.flatnonzero(included)
        if len(candidates) > self.top:
            # Everyone tied with the last place is a candidate, so ties are broken the same way every time.
            threshold = np.partition(values[candidates], len(candidates) - self.top)[len(candidates) - self.top]
            candidates = candidates[values[candidates] >= threshold]
        keys = self._keys(candidates.tolist())
        ordered = sorted(candidates.tolist(), key=lambda i: (-values[i], -c["revenue"][i], keys[i]))
        return ordered[: self.top]

    def _users(self, user_ids):
        """The registered users among the listed customers, by id, in one query."""
        ids = [user_id for user_id in user_ids if user_id is not None]
        return get_user_model().objects.in_bulk(ids) if ids else {}

    def _line_spend(self):
        """Items and spend of the champions and of the others, in total and per category and product.

        One query over the period's lines grouped by product and by whether the buyer is a champion
        (``_spend_by_product``); one for the products' titles and categories.
        """
        items, spend, by_product = [0, 0], [Decimal(0), Decimal(0)], [{}, {}]
        for is_champion, product_id, bought, spent in self._spend_by_product():
            group = 0 if is_champion else 1
            spent = _decimal(spent)
            items[group] += bought or 0
            spend[group] += spent
            if product_id is not None:
                by_product[group][product_id] = by_product[group].get(product_id, Decimal(0)) + spent

        titles, categories = self._product_details(set(by_product[0]) | set(by_product[1]))
        groups = []
        for group in (0, 1):
            per_category = {}
            for product_id, amount in by_product[group].items():
                for name in categories.get(product_id, ()):
                    per_category[name] = per_category.get(name, Decimal(0)) + amount
            groups.append(ProfileGroup(
                categories=_top_spend(per_category, spend[group]),
                products=_top_spend(
                    {titles.get(pid, str(pid)): amount for pid, amount in by_product[group].items()}, spend[group]
                ),
            ))
        return {"items": items, "spend": spend, "groups": groups}

    def _spend_by_product(self):
        """``(whether the buyers are champions, product id, items, spend)`` of the period's lines.

        From the counted orders when they cover the period (the buyer's metrics by their integer id);
        else from Oscar's orders, where computing each line's customer key would mean a text expression
        per line, so the buyer's metrics are found through integers where they can be: a registered
        buyer's by the user id, through the accounts keyed once and joined to their metrics; only a
        guest's by the normalised e-mail of the order.
        """
        tax = "excl_tax" if champions_settings.REVENUE_BASIS.startswith("excl_tax") else "incl_tax"
        if self._indexed:
            return self._spend_by_product_of_counted_orders(tax)
        lines = Line.objects.filter(
            eligible_order_filter("order__", since=self.period.since, until=self.period.until)
        )
        if self.site is not None:
            lines = lines.filter(order__site_id=self.site)
        lines = lines.order_by().values(
            "product_id", "quantity", f"line_price_{tax}", buyer=F("order__user_id"),
            guest_key=Case(
                When(order__user_id__isnull=True, then=NullIf(guest_email_expression("order__"), Value(""))),
                output_field=CharField(),
            ),
        )
        lines_sql, lines_params = lines.query.sql_with_params()
        users_sql, users_params = _user_keys().query.sql_with_params()
        connection = connections[lines.db]
        qn = connection.ops.quote_name
        meta = CustomerMetrics._meta
        table = qn(meta.db_table)
        column = {name: qn(meta.get_field(name).column) for name in ("key", "is_champion", "lifecycle_stage")}
        product, quantity, price, buyer, guest_key, account, user_key = (qn(name) for name in (
            "product_id", "quantity", f"line_price_{tax}", "buyer", "guest_key", "account", "user_key"
        ))
        # Customers the last refresh has not scored are no champions; lines nobody can be identified by
        # (see oscar_champions.customers) are left out.
        sql = (
            f"SELECT CASE WHEN COALESCE(um.{column['is_champion']}, gm.{column['is_champion']}) THEN 1 ELSE 0 END, "
            f"l.{product}, SUM(l.{quantity}), SUM(l.{price}) FROM ({lines_sql}) l "
            f"LEFT JOIN (SELECT u.{account}, m.{column['is_champion']}, m.{column['lifecycle_stage']} "
            f"FROM ({users_sql}) u JOIN {table} m ON m.{column['key']} = u.{user_key}) um ON um.{account} = l.{buyer} "
            f"LEFT JOIN {table} gm ON gm.{column['key']} = l.{guest_key} "
            f"WHERE (l.{buyer} IS NOT NULL OR l.{guest_key} IS NOT NULL)"
        )
        params = [*lines_params, *users_params]
        if self.stage is not None:
            sql += f" AND COALESCE(um.{column['lifecycle_stage']}, gm.{column['lifecycle_stage']}) = %s"
            params.append(self.stage.value)
        sql += " GROUP BY 1, 2"
        with tuned_for_aggregates(connection) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _spend_by_product_of_counted_orders(self, tax):
        """``_spend_by_product`` from the counted orders, joined to the lines by the order's id (the ORM
        would join Oscar's order table between them, for nothing).

        A period with few of the shop's orders (under LINE_LOOKUP_SHARE) has its lines looked up order by
        order through the lines' index; a longer one has them found in a scan of every line, which PostgreSQL
        would otherwise choose for all but the shortest periods (its estimates do not see that the index's
        pages are cached).
        """
        orders = CountedOrder.objects.filter(placed_at__gte=self.period.since, placed_at__lte=self.period.until)
        if self.site is not None:
            orders = orders.filter(site_id=self.site)
        if self.stage is not None:
            orders = orders.filter(customer__lifecycle_stage=self.stage.value)
        orders = orders.order_by().values("order_id", champion=F("is_champion"))
        orders_sql, params = orders.query.sql_with_params()
        connection = connections[CountedOrder.objects.db]
        qn = connection.ops.quote_name
        line = {name: f"l.{qn(Line._meta.get_field(name).column)}" for name in (
            "order", "product", "quantity", f"line_price_{tax}"
        )}
        sql = (
            f"SELECT o.{qn('champion')}, {line['product']}, SUM({line['quantity']}), SUM({line[f'line_price_{tax}']}) "
            f"FROM {qn(Line._meta.db_table)} l JOIN ({orders_sql}) o ON o.{qn('order_id')} = {line['order']} "
            "GROUP BY 1, 2"
        )
        lookups = self._customers["orders"].sum() < LINE_LOOKUP_SHARE * (latest_run().orders_counted or 0)
        # With lookups, the rows of the join are looked up through the lines' index rather than hashed or merged.
        planner = {"enable_hashjoin": "off", "enable_mergejoin": "off"} if lookups else {}
        with tuned_for_aggregates(connection, **planner) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _product_details(self, product_ids):
        """Titles and category names of the products (a child product takes its parent's)."""
        if not product_ids:
            return {}, {}
        titles, categories = {}, {}
        rows = Product.objects.filter(pk__in=product_ids).values_list(
            "pk", "title", "parent__title",
            Coalesce("categories__name", "parent__categories__name"),
        )
        for pk, title, parent_title, category in rows:
            titles[pk] = title or parent_title or str(pk)
            if category:
                categories.setdefault(pk, set()).add(category)
        return titles, categories


def _user_keys():
    """Every registered account's id (``account``) and customer key (``user_key``)."""
    return get_user_model()._default_manager.order_by().values(account=F("pk"), user_key=user_key_expression())


def _competition_ranks(values, included):
    """Each included customer's rank: 1 + how many included customers have a strictly greater value."""
    ranks = np.zeros(len(values), dtype=np.int64)
    if not included.any():
        return ranks
    ascending = np.sort(values[included])
    ranks[included] = len(ascending) - np.searchsorted(ascending, values[included], side="right") + 1
    return ranks


def _top_spend(amounts, total, limit=PROFILE_TOP):
    """The ``limit`` largest amounts as ``(name, amount, share of total)``, largest first."""
    ordered = sorted(amounts.items(), key=lambda item: (-item[1], str(item[0])))[:limit]
    return [(name, amount, float(amount / total) if total else 0.0) for name, amount in ordered]


def _money(value):
    return Decimal(str(value)).quantize(CENT)


def _decimal(value):
    """An amount as the database driver returned it (Decimal, or float on SQLite) as a Decimal in cents."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(CENT)


def _aware(value):
    """A datetime as the driver returned it (aware, naive UTC, or text on SQLite) as an aware datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt_timezone.utc)
    return value
