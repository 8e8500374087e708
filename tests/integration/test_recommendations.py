"""Affinities and bestseller lists computed by the refresh, and the picks built from them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oscar.core.loading import get_class

from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import ProductAffinity, ProductRanking
from oscar_champions.recommendations import PersonalPicks, PopularProducts, bought_together, refresh_affinities
from oscar_champions.storefront import recommended_products
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, place_order

pytestmark = pytest.mark.django_db

Selector = get_class("partner.strategy", "Selector")


def _ago(days):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def catalogue():
    coffee, books = CategoryFactory(name="Café"), CategoryFactory(name="Livros")
    products = {
        name: ProductFactory(title=name, categories__category=category)
        for name, category in [
            ("beans", coffee), ("grinder", coffee), ("filter", coffee), ("mug", coffee),
            ("novel", books), ("poems", books), ("bestseller", books),
        ]
    }
    return products


def _buy(user, *products, days=10):
    place_order(user=user, placed=_ago(days), lines=[(p, 1, "10.00") for p in products])


@pytest.fixture
def history(catalogue):
    """Coffee buyers also buy a grinder; everyone buys the bestseller."""
    p = catalogue
    for _ in range(4):
        _buy(CustomerFactory(), p["beans"], p["grinder"], p["bestseller"])
    for _ in range(3):
        _buy(CustomerFactory(), p["novel"], p["poems"], p["bestseller"])
    _buy(CustomerFactory(), p["bestseller"], p["mug"])
    refresh_metrics()
    refresh_affinities()
    return p


def test_affinity_is_cosine_of_buyers_and_symmetric(history):
    p = history
    pair = ProductAffinity.objects.get(product=p["beans"], related=p["grinder"])
    assert pair.customers == 4 and pair.score == pytest.approx(4 / (4 * 4) ** 0.5)
    assert ProductAffinity.objects.get(product=p["grinder"], related=p["beans"]).score == pair.score
    # Shared with everyone, the bestseller relates less to the beans than the grinder does.
    assert ProductAffinity.objects.get(product=p["beans"], related=p["bestseller"]).score < pair.score
    # A pair bought by a single customer is noise.
    assert not ProductAffinity.objects.filter(product=p["mug"]).exists()


def test_top_k_per_product(history, settings):
    settings.OSCAR_CHAMPIONS_AFFINITIES_PER_PRODUCT = 1
    refresh_affinities()
    p = history
    assert list(ProductAffinity.objects.filter(product=p["beans"]).values_list("related", "rank")) == [
        (p["grinder"].pk, 1)
    ]


def test_bestseller_lists(history):
    p = history
    shop = ProductRanking.objects.filter(kind="bestsellers").order_by("rank")
    assert shop[0].product == p["bestseller"] and shop[0].customers == 8
    coffee = ProductRanking.objects.filter(kind="category", category=p["beans"].categories.get()).order_by("rank")
    assert [r.product for r in coffee][:2] == [p["beans"], p["grinder"]]


def test_personal_picks_start_with_related_products_and_skip_what_was_bought(history):
    p = history
    ana = CustomerFactory()
    _buy(ana, p["beans"])
    picks = PersonalPicks().recommend(ana)
    assert picks[0] == p["grinder"].pk
    assert p["beans"].pk not in picks
    assert picks == PersonalPicks().recommend(ana)  # deterministic


def test_recent_purchases_weigh_more(history):
    p = history
    ana = CustomerFactory()
    _buy(ana, p["novel"], days=300)
    _buy(ana, p["beans"], days=1)
    picks = PersonalPicks().recommend(ana)
    assert picks.index(p["grinder"].pk) < picks.index(p["poems"].pk)


def test_consumables_can_be_recommended_again(history, settings):
    settings.OSCAR_CHAMPIONS_RECOMMEND_PURCHASED = True
    ana = CustomerFactory()
    _buy(ana, history["beans"])
    assert history["beans"].pk in PersonalPicks().recommend(ana)


def test_anonymous_visitors_get_bestsellers(history):
    assert PersonalPicks().recommend(None)[0] == history["bestseller"].pk
    assert PopularProducts().recommend(None) == PersonalPicks().recommend(None)


def test_bought_together_leaves_out_the_product_and_what_the_customer_bought(history):
    p = history
    ana = CustomerFactory()
    _buy(ana, p["grinder"])
    assert bought_together([p["beans"]])[0] == p["grinder"].pk
    together = bought_together([p["beans"]], ana)
    assert p["beans"].pk not in together and p["grinder"].pk not in together


def test_variants_count_as_their_parent(history):
    from oscar.test.factories import create_product

    parent = ProductFactory(structure="parent", stockrecords=[])
    child = create_product(parent=parent, structure="child", price=10)
    for _ in range(2):
        _buy(CustomerFactory(), child, history["beans"])
    refresh_affinities()
    assert ProductAffinity.objects.filter(product=history["beans"], related=parent).exists()


def test_products_are_public_and_available_to_buy(history):
    p = history
    p["grinder"].is_public = False
    p["grinder"].save()
    stock = p["poems"].stockrecords.get()
    stock.num_in_stock, stock.num_allocated = 1, 1
    stock.save()
    products = recommended_products(None, Selector().strategy(), limit=10)
    assert p["grinder"] not in products and p["poems"] not in products
    assert products[0] == p["bestseller"]


def test_a_refresh_as_of_a_past_day_ignores_later_orders(history):
    refresh_affinities(as_of=_ago(365))
    assert not ProductAffinity.objects.exists() and not ProductRanking.objects.exists()
