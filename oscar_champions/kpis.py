"""Customer KPIs for a period, each with the same figure for the previous period of equal length.

Two kinds of figure:

* *base* figures describe the customer base at the end of a period (total and repeat customers,
  average days between purchases, average historical value, average predicted value). Every full
  refresh stores them for its date; for other dates they are computed from the orders.
* *period* figures describe what happened within the period (orders, revenue, active and new
  customers, the champions' share of revenue), from the orders placed in it.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from oscar_champions.customers import counted_orders
from oscar_champions.models import CustomerMetrics, RefreshRun
from oscar_champions.segments import LifecycleStage

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
    """The base figures as of ``moment``: stored by a refresh of that date, or computed."""
    run = (
        RefreshRun.objects.filter(
            status=RefreshRun.Status.SUCCEEDED,
            as_of__range=(moment - SUMMARY_TOLERANCE, moment + SUMMARY_TOLERANCE),
        )
        .order_by("-started_at")
        .first()
    )
    if run and "summary" in run.context:
        return run.context["summary"]
    from oscar_champions.metrics import aggregate_customers  # metrics imports this module

    return summarise(aggregate_customers(counted_orders(until=moment)))


def period_figures(start, end):
    """What happened between ``start`` and ``end``: orders, revenue, active and new customers."""
    orders = counted_orders(since=start, until=end)
    champions = CustomerMetrics.objects.filter(is_champion=True).values("key")
    totals = orders.aggregate(
        orders=Count("id"),
        period_revenue=Coalesce(Sum("revenue"), Decimal(0)),
        active_customers=Count("customer_key", distinct=True),
        champions_revenue=Coalesce(Sum("revenue", filter=Q(customer_key__in=champions)), Decimal(0)),
    )
    totals["revenue"] = totals.pop("period_revenue")
    # A first order is a fact of the past: the current metrics know it for any period.
    totals["new_customers"] = CustomerMetrics.objects.filter(first_order_at__range=(start, end)).count()
    totals["champions_revenue_share"] = (
        float(totals["champions_revenue"] / totals["revenue"]) if totals["revenue"] else None
    )
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
    length = end - start
    current = base_figures(end) | period_figures(start, end)
    previous = base_figures(start) | period_figures(start - length, start)
    return {name: KPI(name, current[name], previous.get(name)) for name in current}


def segment_counts():
    """Customers and revenue per lifecycle stage, from the current metrics."""
    rows = CustomerMetrics.objects.values("lifecycle_stage").annotate(customers=Count("id"), revenue=Sum("revenue"))
    found = {row["lifecycle_stage"]: row for row in rows}
    return [
        {"stage": stage, "customers": found.get(stage, {}).get("customers", 0),
         "revenue": found.get(stage, {}).get("revenue") or Decimal(0)}
        for stage in LifecycleStage
    ]
