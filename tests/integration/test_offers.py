"""Segment offers through Oscar's own checkout: members get the discount, nobody else does."""

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from oscar.core.loading import get_class, get_model

from oscar_champions.dashboard.offer_views import SegmentOfferForm
from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CustomerMetrics, SavedSegment, SegmentOffer
from oscar_champions.offers import segment_offers_for
from tests.factories import CustomerFactory, ProductFactory, place_order, set_champion_flag

pytestmark = pytest.mark.django_db

Country = get_model("address", "Country")
Order = get_model("order", "Order")
ConditionalOffer = get_model("offer", "ConditionalOffer")
Applicator = get_class("offer.applicator", "Applicator")
Basket = get_model("basket", "Basket")
Selector = get_class("partner.strategy", "Selector")

PASSWORD = "secret-password"


def _customer(email, orders=0, product=None):
    user = CustomerFactory(email=email)
    user.set_password(PASSWORD)
    user.save()
    for _ in range(orders):
        place_order(user=user, total="500.00", lines=[(product, 1, "500.00")])
    return user


@pytest.fixture
def shop():
    Country.objects.create(iso_3166_1_a2="BR", name="Brasil", is_shipping_country=True)
    product = ProductFactory(title="Café especial", stockrecords__price=D("50.00"))
    # Five heavy buyers make the champions, one light buyer does not.
    champions = [_customer(f"campeao{i}@example.com", orders=5, product=product) for i in range(5)]
    others = [_customer(f"cliente{i}@example.com", orders=1, product=product) for i in range(5)]
    refresh_metrics()
    # A shop this small has no RFM champions; the heavy buyers stand for them, as a refresh would mark them.
    set_champion_flag(CustomerMetrics.objects.filter(email__startswith="campeao"), lifecycle_stage="champions")
    return {"product": product, "champion": champions[0], "other": others[0]}


def _create_offer(name, discount="percentage", value="10", **target):
    form = SegmentOfferForm(data={"name": name, "discount": discount, "value": value})
    assert form.is_valid(), form.errors
    return form.save(**target)


def _checkout(client, user, product):
    """Buy one product through Oscar's checkout views, as the customer would; return the order."""
    assert client.login(username=user.email, password=PASSWORD)
    client.post(reverse("basket:add", kwargs={"pk": product.pk}), {"quantity": 1})
    address = {
        "first_name": "Ana", "last_name": "Souza", "line1": "Rua das Flores, 10", "line4": "São Paulo",
        "postcode": "01000-000", "country": "BR", "phone_number": "",
    }
    response = client.post(reverse("checkout:shipping-address"), address)
    assert response.status_code == 302, response.context and response.context["form"].errors
    client.get(reverse("checkout:shipping-method"))
    client.get(reverse("checkout:payment-method"))
    response = client.post(reverse("checkout:preview"), {"action": "place_order"})
    assert response.status_code == 302, response
    client.logout()
    return Order.objects.filter(user=user).latest("date_placed")


def test_a_stage_offer_discounts_its_members_orders_only(client, shop):
    _create_offer("Campeões ganham 10%", lifecycle_stage="champions")
    member = _checkout(client, shop["champion"], shop["product"])
    outsider = _checkout(client, shop["other"], shop["product"])
    assert member.total_discount_incl_tax == D("5.00")
    assert [d.offer_name for d in member.discounts.all()] == ["Campeões ganham 10%"]
    assert outsider.total_discount_incl_tax == D("0.00") and not outsider.discounts.exists()


def test_a_saved_segment_offer_discounts_its_members_only(client, shop):
    segment = SavedSegment.objects.create(name="Big spenders", filters={"revenue_min": ["1000"]})
    _create_offer("R$ 5 de desconto", discount="fixed", value="5", segment=segment)
    member = _checkout(client, shop["champion"], shop["product"])
    outsider = _checkout(client, shop["other"], shop["product"])
    assert [d.offer_name for d in member.discounts.all()] == ["R$ 5 de desconto"]
    assert member.basket_total_incl_tax == D("45.00")
    assert not outsider.discounts.exists()


def test_free_shipping_is_a_shipping_offer(shop):
    offer = _create_offer("Frete grátis", discount="free_shipping", value="", lifecycle_stage="at_risk")
    assert offer.benefit.type == offer.benefit.SHIPPING_PERCENTAGE and offer.benefit.value == 100


def test_inactive_and_anonymous(shop):
    offer = _create_offer("Campeões", lifecycle_stage="champions")
    assert segment_offers_for(shop["champion"]) == [offer]
    assert segment_offers_for(None) == []
    offer.status = ConditionalOffer.SUSPENDED
    offer.save()
    assert segment_offers_for(shop["champion"]) == []


def test_membership_costs_one_query_whatever_the_number_of_offers(shop):
    segment = SavedSegment.objects.create(name="Big spenders", filters={"revenue_min": ["1000"]})
    for i in range(3):
        _create_offer(f"Campeões {i}", lifecycle_stage="champions")
        _create_offer(f"Segmento {i}", segment=segment)
    segment_offers_for(shop["champion"])  # warms the cache of what each offer targets
    with CaptureQueriesContext(connection) as queries:
        assert len(segment_offers_for(shop["champion"])) == 6
    assert len(queries) == 1


def test_the_basket_request_pays_one_query_for_membership(shop):
    """Oscar's applicator with the mixin against the same applicator without it."""
    from oscar.apps.offer.applicator import Applicator as OscarApplicator

    _create_offer("Campeões", lifecycle_stage="champions")
    user = shop["champion"]
    basket = Basket.objects.create(owner=user)
    basket.strategy = Selector().strategy(user=user)
    basket.add_product(shop["product"])
    Applicator().apply(basket, user)  # warm caches
    counts = []
    for applicator in (OscarApplicator(), Applicator()):
        basket.reset_offer_applications()
        with CaptureQueriesContext(connection) as queries:
            applicator.get_offers(basket, user)
        counts.append(len(queries))
    assert counts[1] - counts[0] <= 1


def test_a_saved_segment_that_no_longer_validates_targets_nobody(shop):
    segment = SavedSegment.objects.create(name="Broken", filters={"revenue_min": ["not a number"]})
    _create_offer("Quebrada", segment=segment)
    assert segment_offers_for(shop["champion"]) == []


def test_an_offer_targets_exactly_one_of_stage_and_segment(shop):
    from django.db import IntegrityError

    offer = _create_offer("Campeões", lifecycle_stage="champions")
    with pytest.raises(IntegrityError):
        SegmentOffer.objects.filter(offer=offer).update(lifecycle_stage="")
