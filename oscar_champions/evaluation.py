"""Offline evaluation of the recommendations: hide each customer's last order, recompute everything from
the rest, and see how often the picks contain something the customer then bought.

Everything runs in a transaction that is rolled back, so the shop's data and its recommendations are left
exactly as they were.
"""

import random
import statistics
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import Coalesce
from oscar.core.loading import get_model

from oscar_champions.conf import champions_settings
from oscar_champions.customers import counted_orders
from oscar_champions.recommendations import PopularProducts, recommendation_strategy, refresh_affinities

Line = get_model("order", "Line")
Order = get_model("order", "Order")
Product = get_model("catalogue", "Product")

K = 10


@dataclass
class StrategyScore:
    name: str
    customers: int
    hits: int
    recommended: set
    catalogue: int
    seconds: float

    @property
    def hit_rate(self):
        return self.hits / self.customers if self.customers else 0.0

    @property
    def coverage(self):
        return len(self.recommended) / self.catalogue if self.catalogue else 0.0


class _Rollback(Exception):
    pass


def held_out_orders():
    """Each registered repeat customer's last counted order: ``{order id: user id}``."""
    last = (
        counted_orders()
        .filter(user__isnull=False)
        .values("user_id")
        .annotate(orders=Count("id"), last=Max("id"))
        .filter(orders__gte=2)
        .order_by()
    )
    return {row["last"]: row["user_id"] for row in last}


def evaluate(sample=2000, seed=0, progress=None, refresh_metrics=True):
    """Score the RECOMMENDATION_STRATEGY against the popularity baseline; return both ``StrategyScore``s.

    ``sample`` repeat customers (chosen with ``seed``) are scored; the held-out orders of every repeat
    customer are hidden from the recomputation, so no score is helped by the future.
    """
    say = progress or (lambda message: None)
    held_out = held_out_orders()
    chosen = sorted(held_out)
    random.Random(seed).shuffle(chosen)
    chosen = chosen[:sample]
    bought = {}
    for order_id, product_id in Line.objects.filter(order_id__in=chosen, product__isnull=False).values_list(
        "order_id", Coalesce("product__parent_id", "product_id")
    ):
        bought.setdefault(order_id, set()).add(product_id)
    users = get_user_model().objects.in_bulk([held_out[order_id] for order_id in chosen])
    catalogue = Product.objects.filter(parent__isnull=True, is_public=True).count()
    scores = []
    try:
        with transaction.atomic():
            # Hidden = in an excluded status, so every count, score and list ignores them.
            hidden_status = champions_settings.EXCLUDED_STATUSES[0]
            Order.objects.filter(pk__in=list(held_out)).update(status=hidden_status)
            say(f"Hid the last order of {len(held_out)} repeat customers; recomputing from the rest.")
            if refresh_metrics:
                from oscar_champions.metrics import refresh_metrics as refresh

                refresh()
            refresh_affinities(progress=say)
            for name, strategy in (("ours", recommendation_strategy()), ("popularity", PopularProducts())):
                started = time.monotonic()
                hits, recommended = 0, set()
                for order_id in chosen:
                    picks = strategy.recommend(users[held_out[order_id]])[:K]
                    recommended.update(picks)
                    hits += bool(bought.get(order_id, set()) & set(picks))
                scores.append(
                    StrategyScore(name, len(chosen), hits, recommended, catalogue, time.monotonic() - started)
                )
            raise _Rollback
    except _Rollback:
        pass
    return scores


def median_ms(samples):
    return statistics.median(samples) * 1000 if samples else float("nan")
