"""A champion shops in Chromium: the badge, picks for them, and their segment's offer in the basket."""

import pytest

from oscar_champions.dashboard.offer_views import SegmentOfferForm
from oscar_champions.models import CustomerMetrics
from oscar_champions.segments import LifecycleStage
from sandbox.demo.store import CUSTOMER_PASSWORD
from tests.browser.pages import expect, log_in_to_the_shop, url

pytestmark = pytest.mark.browser

OFFER_NAME = "Champions get 10% off"


def test_a_champion_sees_the_badge_the_picks_and_the_offer(page, demo_store, screenshots):
    champion = (
        CustomerMetrics.objects.filter(lifecycle_stage=LifecycleStage.CHAMPIONS, user__isnull=False)
        .select_related("user")
        .order_by("-revenue")
        .first()
        .user
    )
    form = SegmentOfferForm(data={"name": OFFER_NAME, "discount": SegmentOfferForm.PERCENTAGE, "value": "10"})
    assert form.is_valid(), form.errors
    form.save(lifecycle_stage=LifecycleStage.CHAMPIONS)

    log_in_to_the_shop(page, champion.email, CUSTOMER_PASSWORD)
    page.goto(url("catalogue:index"))
    expect(page.locator(".champions-header-badge .champions-badge")).to_have_text("Champions")
    picks = page.locator(".champions-products").filter(has_text="Picked for you")
    expect(picks.locator(".product_pod")).to_have_count(4)
    screenshots.page(page, "storefront")

    # A pick's page shows what its buyers also bought; into the basket it goes.
    picks.locator(".product_pod h3 a").first.click()
    expect(page.locator(".champions-products")).to_contain_text("Customers who bought this also bought")
    page.locator("#add_to_basket_form button[type=submit]").click()
    page.goto(url("basket:summary"))
    expect(page.locator(".basket-discount")).to_contain_text(OFFER_NAME)
    expect(page.locator(".champions-products").first).to_be_visible()
    screenshots.page(page, "basket", height=1400)
