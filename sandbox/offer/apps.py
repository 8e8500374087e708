import oscar.apps.offer.apps as apps


class OfferConfig(apps.OfferConfig):
    """Oscar's offer app, forked so its Applicator applies oscar-champions' segment offers."""

    name = "sandbox.offer"
