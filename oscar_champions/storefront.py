"""What the storefront shows a customer: their lifecycle stage, their picks, what goes with a product.

The template tags and the Wagtail blocks are thin wrappers around these functions. Each answer costs at
most two queries: one to rank (skipped when the ranking is cached) and one to load the products; the stage
costs one query, cached.
"""

from oscar_champions.customers import user_key
from oscar_champions.filters import segments_containing_customer
from oscar_champions.models import CustomerMetrics, SavedSegment
from oscar_champions.recommendations import bought_together, cached, load_products, recommendation_strategy


def _customer(user):
    """The signed-in customer's key and user, or ``(None, None)`` for an anonymous visitor."""
    if user is None or not user.is_authenticated:
        return None, None
    return user_key(user), user


def customer_stage(user):
    """The lifecycle stage code of ``user`` as of the last refresh, or ``""`` (anonymous users, users
    without a counted order). Remembered on the user object, so a page asks at most once."""
    key, user = _customer(user)
    if key is None:
        return ""
    if not hasattr(user, "_champions_stage"):
        user._champions_stage = cached(
            "stage",
            key,
            lambda: CustomerMetrics.objects.filter(key=key).values_list("lifecycle_stage", flat=True).first() or "",
        )
    return user._champions_stage


def in_audience(user, stages=(), segment_ids=()):
    """Whether ``user`` is, as of the last refresh, in one of the lifecycle ``stages`` (codes) or one of the
    saved segments ``segment_ids``; never for anonymous visitors.

    The stage costs the query of ``customer_stage``; the saved segments, when the stage did not match, one
    query to load them and one to test them all (``segments_containing_customer``), cached like the
    recommendations and keyed by the segments' filters, so editing a segment takes effect at once.
    """
    key, user = _customer(user)
    if key is None:
        return False
    if stages and customer_stage(user) in stages:
        return True
    ids = sorted({int(pk) for pk in segment_ids if str(pk).isdigit()})
    if not ids:
        return False
    segments = list(SavedSegment.objects.filter(pk__in=ids).order_by("pk"))
    fingerprint = ("segments", *((segment.pk, segment.filters) for segment in segments))
    return bool(cached(fingerprint, key, lambda: [s.pk for s in segments_containing_customer(key, segments)]))


def recommended_products(user, strategy, limit=8):
    """Up to ``limit`` products picked for ``user`` by the RECOMMENDATION_STRATEGY; the shop's bestsellers
    for anonymous visitors. ``strategy`` is the Oscar pricing strategy (``request.strategy``) that says
    what is available to buy."""
    key, user = _customer(user)
    ids = cached("picks", key, lambda: recommendation_strategy().recommend(user))
    return load_products(ids, strategy, limit)


def bought_together_products(products, user, strategy, limit=4):
    """Up to ``limit`` products often bought by the customers who bought ``products`` (one product, or
    a basket's products), never ``products`` themselves nor what ``user`` bought."""
    key, user = _customer(user)
    products = list(products)
    if not products:
        return []
    seeds = sorted({product.parent_id or product.pk for product in products})
    ids = cached(("together", *seeds), key, lambda: bought_together(products, user))
    return load_products(ids, strategy, limit)
