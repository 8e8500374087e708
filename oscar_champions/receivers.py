"""Keep a customer's row up to date when they order, without waiting for the next full refresh."""

import logging

from django.db import transaction
from oscar.apps.order.signals import order_placed, order_status_changed

from oscar_champions.conf import champions_settings
from oscar_champions.customers import customer_key

logger = logging.getLogger(__name__)


def update_metrics_for_order(order):
    """Recompute the metrics of the customer who placed ``order``."""
    from oscar_champions.metrics import update_customer

    key = customer_key(order)
    if key is not None:
        update_customer(key, user_id=order.user_id)


def _on_order_change(sender, order, **kwargs):
    if not champions_settings.INCREMENTAL_UPDATES:
        return

    def update():
        # A failed update must never break checkout; the next full refresh catches up.
        try:
            update_metrics_for_order(order)
        except Exception:
            logger.exception("Could not update the customer metrics for order %s", order.number)

    transaction.on_commit(update)


def _forget_recommendations(sender, order, **kwargs):
    """The customer's recommendations and stage change with their order: drop them from the cache.
    Connected after the metrics update, so it runs once the customer's row is up to date."""
    key = customer_key(order)
    if key is not None:
        from oscar_champions.recommendations import invalidate_customer

        transaction.on_commit(lambda: invalidate_customer(key))


def connect():
    order_placed.connect(_on_order_change, dispatch_uid="oscar_champions.order_placed")
    order_placed.connect(_forget_recommendations, dispatch_uid="oscar_champions.forget_recommendations")
    order_status_changed.connect(_on_order_change, dispatch_uid="oscar_champions.order_status_changed")
