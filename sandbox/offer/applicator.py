from oscar.apps.offer import applicator

from oscar_champions.offers import SegmentOffersMixin


class Applicator(SegmentOffersMixin, applicator.Applicator):
    """Oscar's Applicator, plus the offers for the customer's lifecycle stage and saved segments."""
