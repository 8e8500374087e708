"""Customer KPIs for a period, each with the same figure for the previous period of equal length.

Two kinds of figure:

* *base* figures describe the customer base at the end of a period (total and repeat customers,
  average days between purchases, average historical value, average predicted value). Every full
  refresh stores them for its date; for other dates they are computed from the orders.
* *period* figures describe what happened within the period (orders, revenue, active and new
  customers, the champions' share of revenue), from the orders placed in it.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from oscar_champions.customers import counted_orders, from_cents
from oscar_champions.models import CountedOrder, CustomerMetrics, RefreshRun, SegmentMovement, SegmentSnapshot
from oscar_champions.rfm import RFM_GROUP_ACTIONS, SCORES, RFMGroup, fm_score, segment_grid
from oscar_champions.segments import STAGE_ACTIONS, STAGE_DEFINITIONS, LifecycleStage

#: How close a refresh's date must be to a period's end for its stored figures to be used.
SUMMARY_TOLERANCE = timedelta(hours=24)


def summarise(table):
    """The base figures of a ``metrics.CustomerTable``."""
    cols = table.columns
    n = len(table)
    orders = cols.get("orders", np.zeros(0))
    repeat = orders > 1
    gaps = (orders[repeat] - 1).sum()
    predicted = cols.get("predicted_value_365d")
    return {
        "customers": n,
        "repeat_customers": int(repeat.sum()),
        "repeat_rate": float(repeat.mean()) if n else None,
        # Pooled over every repeat customer: total time between first and last orders / gaps.
        "average_days_between_orders": (
            float((cols["last"][repeat] - cols["first"][repeat]).sum() / 86400 / gaps) if gaps else None
        ),
        "average_value": float(cols["revenue"].mean()) if n else None,
        "average_predicted_value": (
            float(np.nanmean(predicted)) if predicted is not None and np.isfinite(predicted).any() else None
        ),
    }


def base_figures(moment):
    """The base figures as of ``moment``: stored by a refresh of that date or before it, or computed.

    A moment still to come (the end of today, for a period ending today) is taken as now: no order is
    placed after it yet, and a refresh of late yesterday evening is then close enough.
    """
    moment = min(moment, timezone.now())
    window = (moment - SUMMARY_TOLERANCE, moment + SUMMARY_TOLERANCE)
    runs = RefreshRun.objects.filter(status=RefreshRun.Status.SUCCEEDED).order_by("-started_at")
    run = runs.filter(as_of__range=window).first()
    if run and "summary" in run.context:
        return run.context["summary"]
    for run in runs[:PAST_FIGURES_RUNS]:
        for stored_moment, figures in run.context.get("past_figures", {}).items():
            if window[0] <= parse_datetime(stored_moment) <= window[1]:
                return figures
    return past_base_figures([moment])[0]


#: How many recent refreshes are searched for base figures they stored for past dates.
PAST_FIGURES_RUNS = 5

#: The overview's preset periods, in days, ending today: a refresh stores what they need of the past.
PRESET_PERIODS = (30, 90, 365)


def day_bounds(first, last):
    """The aware date-times a period from the day ``first`` to the day ``last`` (both included) runs between."""
    return timezone.make_aware(datetime.combine(first, time.min)), timezone.make_aware(datetime.combine(last, time.max))


def previous_period(start, end):
    """The period of the same length that ends where ``start``-``end`` starts."""
    return start - (end - start), start


def past_base_figures(moments):
    """The base figures as of each of ``moments``, from one grouped pass over the orders.

    The model's predictions of a past date are not known, so ``average_predicted_value`` is ``None``.
    """
    # Imported here: the metrics engine summarises its tables with this module.
    from oscar_champions.metrics import ensure_customer_tables, open_customer_tables

    tables = open_customer_tables()
    if tables is not None and (tables[0] is None or tables[0] >= max(moments)):
        # In a full refresh on PostgreSQL, the orders already grouped by integer customer id are read.
        found = _totals_of_order_customers(ensure_customer_tables(), moments)
    else:
        found = _totals_of_counted_orders(moments)
    figures = []
    for i in range(len(moments)):
        customers, repeat, gaps = found[f"customers_{i}"], found[f"repeat_{i}"], found[f"gaps_{i}"]
        span = found[f"total_span_{i}"]
        figures.append({
            "customers": customers,
            "repeat_customers": repeat,
            "repeat_rate": repeat / customers if customers else None,
            "average_days_between_orders": span.total_seconds() / 86400 / gaps if gaps else None,
            "average_value": float(found[f"total_revenue_{i}"] / customers) if customers else None,
            "average_predicted_value": None,
        })
    return figures


def _totals_of_counted_orders(moments):
    """The totals ``past_base_figures`` reads, per moment ``i``: customers, repeat customers, the gaps
    between their orders and their span, and revenue."""
    per_customer = {}
    for i, moment in enumerate(moments):
        before = Q(date_placed__lte=moment)
        per_customer |= {
            f"orders_{i}": Count("id", filter=before),
            f"revenue_{i}": Sum("revenue", filter=before),
            f"span_{i}": Max("date_placed", filter=before) - Min("date_placed", filter=before),
        }
    totals = {}
    for i in range(len(moments)):
        repeat = Q(**{f"orders_{i}__gte": 2})
        totals |= {
            f"customers_{i}": Count("customer_key", filter=Q(**{f"orders_{i}__gt": 0})),
            f"repeat_{i}": Count("customer_key", filter=repeat),
            f"gaps_{i}": Sum(F(f"orders_{i}") - 1, filter=repeat),
            f"total_span_{i}": Sum(f"span_{i}", filter=repeat),
            f"total_revenue_{i}": Sum(f"revenue_{i}"),
        }
    grouped = counted_orders(until=max(moments)).order_by().values("customer_key").annotate(**per_customer)
    return grouped.aggregate(**totals)


def _totals_of_order_customers(connection, moments):
    """The totals of ``_totals_of_counted_orders``, with the same rules, over the refresh's table of the
    counted orders by integer customer id on ``connection`` (see ``metrics.customer_tables``)."""
    per_customer, totals, params = [], [], []
    for i, moment in enumerate(moments):
        before = "FILTER (WHERE date_placed <= %s)"
        per_customer += [
            f"COUNT(*) {before} AS orders_{i}",
            f"SUM(revenue) {before} AS revenue_{i}",
            f"MAX(date_placed) {before} - MIN(date_placed) {before} AS span_{i}",
        ]
        params += [moment] * 4
        repeat = f"FILTER (WHERE orders_{i} >= 2)"
        totals += [
            f"COUNT(*) FILTER (WHERE orders_{i} > 0) AS customers_{i}",
            f"COUNT(*) {repeat} AS repeat_{i}",
            f"CAST(SUM(orders_{i} - 1) {repeat} AS bigint) AS gaps_{i}",
            f"SUM(span_{i}) {repeat} AS total_span_{i}",
            f"SUM(revenue_{i}) AS total_revenue_{i}",
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(totals)} FROM (SELECT {', '.join(per_customer)} FROM champions_order_customer "
            f"WHERE date_placed <= %s GROUP BY customer) AS customers",
            [*params, max(moments)],
        )
        return dict(zip((column.name for column in cursor.description), cursor.fetchone()))


def store_past_figures(run):
    """Store in a refresh what the overview's preset periods, as of the refresh's day, need of the past: the
    base figures as of the start of each, and the period figures of the period before each (see
    ``stored_period_figures``)."""
    today = timezone.localdate(run.as_of)
    periods = [day_bounds(today - timedelta(days=days - 1), today) for days in PRESET_PERIODS]
    moments = [start for start, _end in periods]
    figures = past_base_figures(moments)
    run.context["past_figures"] = {moment.isoformat(): values for moment, values in zip(moments, figures)}
    run.context["period_figures"] = {
        _period_key(*previous): {
            name: str(value) if isinstance(value, Decimal) else value
            for name, value in period_figures(*previous).items()
        }
        for previous in (previous_period(*period) for period in periods)
    }
    run.save(update_fields=["context"])


def _period_key(start, end):
    return f"{start.isoformat()}/{end.isoformat()}"


#: The period figures that are amounts of money.
MONEY_FIGURES = ("revenue", "champions_revenue")


def stored_period_figures(start, end):
    """The period figures of ``start``-``end``, as a recent refresh stored them (the periods before the
    overview's presets: the first page after a refresh then sums one period's orders, not two), or computed.
    Like the base figures, they are the refresh's: an order of theirs cancelled since counts until the next."""
    key = _period_key(start, end)
    runs = RefreshRun.objects.filter(status=RefreshRun.Status.SUCCEEDED).order_by("-started_at")
    for run in runs[:PAST_FIGURES_RUNS]:
        stored = run.context.get("period_figures", {}).get(key)
        if stored is not None:
            return {name: Decimal(value) if name in MONEY_FIGURES else value for name, value in stored.items()}
    return period_figures(start, end)


def period_figures(start, end):
    """What happened between ``start`` and ``end``: orders, revenue, active and new customers.

    From the counted orders by integer customer id when they hold every order to ``end``, else from
    Oscar's orders by customer key.
    """
    from oscar_champions.metrics import counted_orders_cover  # the metrics module imports this one

    if counted_orders_cover(end):
        totals = _counted_order_figures(start, end)
    else:
        totals = _order_figures(start, end)
    # A first order is a fact of the past: the current metrics know it for any period.
    totals["new_customers"] = CustomerMetrics.objects.filter(first_order_at__range=(start, end)).count()
    totals["champions_revenue_share"] = (
        float(totals["champions_revenue"] / totals["revenue"]) if totals["revenue"] else None
    )
    return totals


def _counted_order_figures(start, end):
    totals = CountedOrder.objects.filter(placed_at__gte=start, placed_at__lte=end).aggregate(
        orders=Count("pk"),
        cents=Coalesce(Sum("revenue_cents"), 0),
        champion_cents=Coalesce(Sum("revenue_cents", filter=Q(is_champion=True)), 0),
        active_customers=Count("customer_id", distinct=True),
    )
    totals["revenue"] = from_cents(totals.pop("cents"))
    totals["champions_revenue"] = from_cents(totals.pop("champion_cents"))
    return totals


def _order_figures(start, end):
    orders = counted_orders(since=start, until=end)
    champions = CustomerMetrics.objects.filter(is_champion=True).values("key")
    totals = orders.aggregate(
        orders=Count("id"),
        period_revenue=Coalesce(Sum("revenue"), Decimal(0)),
        active_customers=Count("customer_key", distinct=True),
    )
    totals["revenue"] = totals.pop("period_revenue")
    # A separate query: PostgreSQL cannot hash a subquery inside an aggregate's FILTER and would look
    # the champions up once per order; as a WHERE it becomes a hashed semi-join.
    totals["champions_revenue"] = orders.filter(customer_key__in=champions).aggregate(
        champions_revenue=Coalesce(Sum("revenue"), Decimal(0))
    )["champions_revenue"]
    return totals


@dataclass
class KPI:
    """One figure for a period and the previous period."""

    name: str
    current: object
    previous: object

    @property
    def change(self):
        """The relative change against the previous period, or ``None`` when it has no meaning."""
        if self.current is None or not self.previous:
            return None
        return float(self.current) / float(self.previous) - 1


def customer_kpis(start, end):
    """The KPIs for ``start``–``end`` and the previous period of the same length, by name."""
    current = base_figures(end) | period_figures(start, end)
    previous = base_figures(start) | stored_period_figures(*previous_period(start, end))
    return {name: KPI(name, current[name], previous.get(name)) for name in current}


#: For each dimension: the metrics column, the segments in display order, their definitions and actions.
DIMENSIONS = {
    SegmentSnapshot.Dimension.LIFECYCLE: ("lifecycle_stage", LifecycleStage, STAGE_DEFINITIONS, STAGE_ACTIONS),
    SegmentSnapshot.Dimension.RFM: ("rfm_group", RFMGroup, {}, RFM_GROUP_ACTIONS),
}


def segment_distribution(dimension, run=None):
    """Every segment of a dimension with its customers and revenue, their shares, and what to do.

    With a refresh, read from the snapshot it stored (one small query, whatever the number of
    customers); otherwise one grouped query over the current metrics. Segments without customers are
    listed too.
    """
    column, segments, definitions, actions = DIMENSIONS[dimension]
    snapshots = run.snapshots.filter(dimension=dimension) if run is not None else SegmentSnapshot.objects.none()
    found = {row.segment: {"customers": row.customers, "revenue": row.revenue} for row in snapshots}
    if not found:
        rows = CustomerMetrics.objects.order_by().values(column).annotate(customers=Count("id"), revenue=Sum("revenue"))
        found = {row[column]: row for row in rows}
    total_customers = sum(row["customers"] for row in found.values())
    total_revenue = sum((row["revenue"] or Decimal(0) for row in found.values()), Decimal(0))
    distribution = []
    for segment in segments:
        customers = found.get(segment, {}).get("customers", 0)
        revenue = found.get(segment, {}).get("revenue") or Decimal(0)
        distribution.append({
            "segment": segment,
            "customers": customers,
            "revenue": revenue,
            "customer_share": customers / total_customers if total_customers else 0.0,
            "revenue_share": float(revenue / total_revenue) if total_revenue else 0.0,
            "definition": definitions.get(segment, ""),
            "action": actions[segment],
        })
    return distribution


def rfm_cells(table):
    """How many customers of a scored ``metrics.CustomerTable`` are in each cell of the R x FM grid: five
    lists (R = 1 to 5) of five counts (FM = 1 to 5)."""
    counts = np.zeros((SCORES, SCORES), dtype=np.int64)
    cols = table.columns
    if len(table):
        fm = fm_score(cols["frequency_score"], cols["monetary_score"])
        np.add.at(counts, (np.asarray(cols["recency_score"]) - 1, fm - 1), 1)
    return counts.tolist()


def rfm_heat_map(run=None):
    """The R x FM grid, most recent customers first: each cell's RFM group, customers and share.

    The counts are those the refresh ``run`` stored (``rfm_cells``), like the segments' counts; without them
    (a run of an earlier version), the current metrics are counted. Returns five rows (R = 5 down to 1) of
    five cells (FM = 1 to 5).
    """
    stored = run.context.get("rfm_cells") if run is not None else None
    if stored is not None:
        counts = np.array(stored, dtype=np.int64)
    else:
        counts = np.zeros((SCORES, SCORES), dtype=np.int64)
        scored = (
            CustomerMetrics.objects.order_by()
            .filter(recency_score__isnull=False)
            .values_list("recency_score", "frequency_score", "monetary_score")
            .annotate(customers=Count("id"))
        )
        for recency, frequency, monetary, customers in scored:  # at most 125 score combinations
            counts[recency - 1, fm_score(frequency, monetary) - 1] += customers
    total = counts.sum()
    grid = segment_grid()
    labels = dict(RFMGroup.choices)
    return [
        {
            "recency": r + 1,
            "cells": [
                {
                    "fm": fm + 1,
                    "group": grid[r, fm],
                    "label": labels[grid[r, fm]],
                    "customers": int(counts[r, fm]),
                    "share": float(counts[r, fm] / total) if total else 0.0,
                    "intensity": float(counts[r, fm] / counts.max()) if total else 0.0,
                }
                for fm in range(SCORES)
            ],
        }
        for r in reversed(range(SCORES))
    ]


def segment_movements(run, dimension=SegmentSnapshot.Dimension.LIFECYCLE, limit=8):
    """The largest moves between segments in a full refresh, e.g. 120 customers from Loyal to At risk.

    Customers who stayed in their segment, and customers seen for the first time, are left out.
    """
    if run is None:
        return []
    _column, segments, _definitions, _actions = DIMENSIONS[dimension]
    labels = dict(segments.choices)
    moves = (
        SegmentMovement.objects.filter(run=run, dimension=dimension)
        .exclude(from_segment="")
        .exclude(from_segment=F("to_segment"))
        .order_by("-customers", "from_segment", "to_segment")[:limit]
    )
    return [
        {
            "customers": move.customers,
            "from_segment": move.from_segment,
            "to_segment": move.to_segment,
            "from_label": labels.get(move.from_segment, move.from_segment),
            "to_label": labels.get(move.to_segment, move.to_segment),
        }
        for move in moves
    ]
