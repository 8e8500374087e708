"""Offers for the members of a lifecycle stage or a saved segment, through Oscar's own offer system.

A segment offer is an Oscar ``ConditionalOffer`` of type "User" with a ``SegmentOffer`` saying whom it is
for. Oscar's ``Applicator.get_user_offers()`` returns no offer by default; a shop hands these offers to
their members' baskets with a one-line change in its forked ``offer`` app (``offer/applicator.py``)::

    from oscar.apps.offer import applicator
    from oscar_champions.offers import SegmentOffersMixin

    class Applicator(SegmentOffersMixin, applicator.Applicator):
        pass

Checking membership costs one query per basket request, whatever the number of segment offers; what
each offer targets is cached until a segment offer, an offer or a saved segment changes.
"""

import logging
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db.models import Exists, Q
from django.db.models.signals import post_delete, post_save
from oscar.core.loading import get_model

from oscar_champions.customers import user_key
from oscar_champions.filters import InvalidSegment, segment_members
from oscar_champions.models import CustomerMetrics, SavedSegment, SegmentOffer

logger = logging.getLogger(__name__)

ConditionalOffer = get_model("offer", "ConditionalOffer")

TARGETS_CACHE_KEY = "oscar_champions:offers:targets"


def offer_targets():
    """``[(offer id, stage, saved segment id, saved segment filters)]`` of every segment offer, cached."""
    targets = cache.get(TARGETS_CACHE_KEY)
    if targets is None:
        targets = list(
            SegmentOffer.objects.filter(offer__offer_type=ConditionalOffer.USER)
            .order_by("pk")
            .values_list("offer_id", "lifecycle_stage", "segment_id", "segment__filters")
        )
        cache.set(TARGETS_CACHE_KEY, targets, None)
    return targets


def forget_offer_targets(**kwargs):
    cache.delete(TARGETS_CACHE_KEY)


def _membership(key, stage, segment_id, filters):
    """SQL that is true when customer ``key`` belongs to the stage or the saved segment."""
    if segment_id is None:
        return Exists(CustomerMetrics.objects.filter(key=key, lifecycle_stage=stage))
    segment = SavedSegment(pk=segment_id, filters=filters)
    return Exists(segment_members(segment, CustomerMetrics.objects.filter(key=key), few_customers=True))


def segment_offers_for(user):
    """The active segment offers ``user`` is a member of, in one query (none for anonymous users)."""
    if user is None or not user.is_authenticated:
        return []
    targets = offer_targets()
    key = user_key(user)
    conditions = []
    for offer_id, stage, segment_id, filters in targets:
        try:
            conditions.append(Q(pk=offer_id) & _membership(key, stage, segment_id, filters))
        except InvalidSegment as error:
            # A segment whose filters no longer validate targets nobody until staff fix it.
            logger.warning("Segment offer %s is not applied: %s", offer_id, error)
    if not conditions:
        return []
    offers = ConditionalOffer.active.filter(offer_type=ConditionalOffer.USER).filter(reduce(or_, conditions))
    return list(offers.select_related("condition", "benefit"))


class SegmentOffersMixin:
    """Adds the segment offers of the basket's owner to the offers Oscar's ``Applicator`` applies."""

    def get_user_offers(self, user):
        return [*super().get_user_offers(user), *segment_offers_for(user)]


def connect():
    for model in (SegmentOffer, SavedSegment, ConditionalOffer):
        post_save.connect(forget_offer_targets, sender=model, dispatch_uid=f"champions_offers_{model.__name__}_save")
        post_delete.connect(
            forget_offer_targets, sender=model, dispatch_uid=f"champions_offers_{model.__name__}_delete"
        )
