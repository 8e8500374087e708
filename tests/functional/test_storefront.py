"""The storefront's template tags and the sandbox pages that show them."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from oscar_champions.recommendations import invalidate_storefront
from tests.factories import place_order, storefront_request

pytestmark = pytest.mark.django_db


def _render(source, user, **context):
    request = storefront_request(user)
    return Template("{% load champions_tags %}" + source).render(Context({"request": request, "user": user, **context}))


def test_the_badge_shows_for_champions_only(store):
    from django.contrib.auth.models import AnonymousUser

    assert "champions-badge" in _render("{% champion_badge user %}", store["champion"])
    assert _render("{% champion_badge user %}", store["newcomer"]).strip() == ""
    assert _render("{% champion_badge user %}", AnonymousUser()).strip() == ""


def test_other_stages_get_a_badge_when_configured(store, settings):
    settings.OSCAR_CHAMPIONS_BADGE_STAGES = ["champions", "new"]
    assert "champions-badge-new" in _render("{% champion_badge user %}", store["newcomer"])


def test_templates_branch_on_the_stage(store):
    source = "{% customer_stage user as stage %}{{ stage }}|{{ user|is_champion }}"
    assert _render(source, store["champion"]) == "champions|True"
    assert _render(source, store["newcomer"]) == "new|False"


def test_recommendations_render_with_oscars_partial(store):
    source = (
        "{% recommended_products user limit=3 as products %}"
        "{% include 'oscar_champions/partials/product_row.html' with products=products title='Picks' %}"
    )
    html = _render(source, store["newcomer"])
    assert "product_pod" in html and "Moedor manual" in html
    assert "Café em grãos" not in html  # already bought


@pytest.mark.parametrize("tag", ["recommended_products user limit=4", "bought_together product limit=4"])
def test_each_tag_costs_at_most_two_queries_cold_and_one_warm(store, tag, django_assert_max_num_queries):
    user, product = store["newcomer"], store["products"][0]
    source = (
        f"{{% {tag} as products %}}"
        "{% include 'oscar_champions/partials/product_row.html' with products=products title='Picks' %}"
    )
    # Oscar's thumbnailer (sorl-thumbnail) records each new thumbnail once, in its own table: not ours.
    _render(source, user, product=product)
    invalidate_storefront()
    user = type(user).objects.get(pk=user.pk)
    with django_assert_max_num_queries(2):
        cold = _render(source, user, product=product)
    # A new user object, as a new request would have, so nothing is remembered on it.
    fresh = type(user).objects.get(pk=user.pk)
    with django_assert_max_num_queries(1):
        warm = _render(source, fresh, product=product)
    assert cold == warm and "product_pod" in cold


def test_a_new_order_invalidates_the_customers_picks(store, django_capture_on_commit_callbacks):
    from oscar.apps.order.signals import order_placed

    user, products = store["newcomer"], store["products"]
    assert "Moedor manual" in _render("{% recommended_products user limit=1 as p %}{{ p.0.title }}", user)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(user=user, lines=[(products[1], 1, "90.00")])
        order_placed.send(sender=None, order=order, user=user)
    assert "Moedor manual" not in _render("{% recommended_products user limit=1 as p %}{{ p.0.title }}", user)


def test_anonymous_visitors_get_bestsellers(store):
    from django.contrib.auth.models import AnonymousUser

    html = _render("{% recommended_products limit=2 as p %}{% for x in p %}{{ x.title }};{% endfor %}", AnonymousUser())
    assert html.count(";") == 2


def test_the_sandbox_pages_show_it_all(client, store):
    champion = store["champion"]
    client.force_login(champion)
    home = client.get(reverse("catalogue:index")).content.decode()
    assert "champions-badge" in home and "champions-products" in home
    product = store["products"][3]
    detail = client.get(product.get_absolute_url()).content.decode()
    assert "champions-products" in detail
    client.post(reverse("basket:add", kwargs={"pk": store["products"][4].pk}), {"quantity": 1})
    basket = client.get(reverse("basket:summary"))
    assert basket.status_code == 200 and "champions-products" in basket.content.decode()
    account = client.get(reverse("customer:profile-view")).content.decode()
    assert "champions-badge" in account


def test_product_rows_have_translated_titles_by_kind(store):
    from django.utils import translation

    source = (
        "{% recommended_products user limit=3 as products %}"
        "{% include 'oscar_champions/partials/product_row.html' with products=products kind=kind %}"
    )
    with translation.override("pt-br"):
        picks = _render(source.replace("kind=kind", "kind='picks'"), store["newcomer"])
        together = _render(source.replace("kind=kind", "kind='together'"), store["newcomer"])
    assert "Escolhidos para você" in picks
    assert "Quem comprou este produto também comprou" in together
