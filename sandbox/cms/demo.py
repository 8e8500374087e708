"""The demo content: a Wagtail home page and a campaign page made of the Champions blocks."""

from django.conf import settings
from django.db import transaction
from oscar.core.loading import get_model
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Page, Site

from sandbox.cms.models import CampaignPage, HomePage

Product = get_model("catalogue", "Product")


def _rich(text):
    return f"<p>{text}</p>"


@transaction.atomic
def create_demo_pages():
    """Create the home and campaign pages and make the home the default site's root; return the home page.

    Idempotent: does nothing when a home page exists, so it can run against an existing sandbox.
    """
    home = HomePage.objects.first()
    if home is not None:
        return home
    root = Page.get_first_root_node()
    if root is None:
        # Wagtail's migrations make the tree's root and the default locale; a flushed database has neither.
        Locale.objects.get_or_create(language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE))
        root = Page.add_root(instance=Page(title="Root", slug="root"))
    # Wagtail's first migration leaves a "Welcome to your new Wagtail site!" page as the site's root.
    welcome = root.get_children().filter(content_type__model="page", slug="home").first()
    if welcome is not None:
        welcome.delete()
    home = root.add_child(instance=HomePage(title="Loja Campeã", slug="home", body=[
        ("heading", "Coffee, tea and everything around them"),
        ("paragraph", _rich("Our content pages pick products for each visitor, like the shop's own pages.")),
        ("segment_content", {
            "stages": ["champions", "loyal"],
            "segments": [],
            "content": [("paragraph", _rich(
                "<b>Thank you for coming back!</b> Early access to the new harvest is open for our best customers."
            ))],
            "fallback": [("paragraph", _rich("New here? Your second order ships free."))],
        }),
        ("recommended_products", {"title": "", "count": 4}),
    ]))
    home.save_revision().publish()
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(hostname="localhost", root_page=home, is_default_site=True, site_name="Loja Campeã")
    else:
        site.root_page = home
        site.save()

    bestseller = Product.objects.filter(parent__isnull=True, stockrecords__isnull=False).order_by("pk").first()
    campaign = home.add_child(instance=CampaignPage(
        title="Winter campaign", slug="winter-campaign",
        intro=_rich("Warm drinks for cold days: this winter's picks."),
        body=[
            ("segment_content", {
                "stages": ["champions"],
                "segments": [],
                "content": [
                    ("paragraph", _rich("<b>Champions:</b> 20% off the winter collection, only for you.")),
                    ("recommended_products", {"title": "Your winter picks", "count": 4}),
                ],
                "fallback": [("paragraph", _rich("Sign in and keep buying to join our champions."))],
            }),
            ("segment_content", {
                "stages": ["at_risk", "lost"],
                "segments": [],
                "content": [("paragraph", _rich("We miss you! Here is what is new since your last order."))],
                "fallback": [],
            }),
            *([("bought_together", {"title": "", "count": 4, "product": bestseller})] if bestseller else []),
        ],
    ))
    campaign.save_revision().publish()
    return home
