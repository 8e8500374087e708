"""Template tags for the storefront: ``{% load champions_tags %}``.

* ``{% champion_badge user %}`` — a badge for customers in a BADGE_STAGES stage, nothing for others.
* ``{% customer_stage user as stage %}`` and ``user|is_champion`` — branch on the customer's stage.
* ``{% recommended_products user limit=8 as products %}`` — picks for the customer.
* ``{% bought_together product limit=4 as products %}`` — also bought by this product's (or a basket's)
  buyers.

The product tags return Oscar products ready for ``oscar/catalogue/partials/product.html``;
``oscar_champions/partials/product_row.html`` renders such a list with it.
"""

from django import template
from django.template.loader import select_template
from oscar.core.loading import get_class, get_model

from oscar_champions import storefront
from oscar_champions.conf import champions_settings
from oscar_champions.segments import LifecycleStage

register = template.Library()

Basket = get_model("basket", "Basket")
Selector = get_class("partner.strategy", "Selector")


def _strategy(context):
    """The request's pricing strategy (Oscar's basket middleware sets it), or a fresh one."""
    request = context.get("request")
    strategy = getattr(request, "strategy", None)
    if strategy is None:
        strategy = Selector().strategy(request=request, user=getattr(request, "user", None))
    return strategy


def _user(context, user):
    if user is None or user == "":
        request = context.get("request")
        user = getattr(request, "user", None)
    return user


@register.simple_tag
def customer_stage(user):
    """The customer's lifecycle stage code (``"champions"``, ``"loyal"``, …) or ``""``."""
    return storefront.customer_stage(user)


@register.filter
def is_champion(user):
    """True for a signed-in customer in the Champions stage."""
    return storefront.customer_stage(user) == LifecycleStage.CHAMPIONS


@register.simple_tag(takes_context=True)
def champion_badge(context, user=None):
    """A badge for a customer whose stage is in BADGE_STAGES, from ``oscar_champions/badges/<stage>.html``
    or ``oscar_champions/badge.html`` (templates a shop can override); nothing for anyone else."""
    stage = storefront.customer_stage(_user(context, user))
    if not stage or stage not in champions_settings.BADGE_STAGES:
        return ""
    badge = select_template([f"oscar_champions/badges/{stage}.html", "oscar_champions/badge.html"])
    return badge.render({"stage": stage, "stage_name": LifecycleStage(stage).label}, context.get("request"))


@register.simple_tag(takes_context=True)
def recommended_products(context, user=None, limit=8):
    """Products picked for the customer (the shop's bestsellers for an anonymous visitor)."""
    return storefront.recommended_products(_user(context, user), _strategy(context), limit=int(limit))


@register.simple_tag(takes_context=True)
def bought_together(context, product_or_basket, limit=4, user=None):
    """Products bought by the customers who bought this product, or the products of this basket."""
    if isinstance(product_or_basket, Basket):
        products = [line.product for line in product_or_basket.all_lines() if line.product_id]
    else:
        products = [product_or_basket] if product_or_basket else []
    return storefront.bought_together_products(
        products, _user(context, user), _strategy(context), limit=int(limit)
    )
