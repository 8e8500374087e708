"""Formatting for the Champions dashboard pages and PDFs: shares, changes and KPI figures, localised."""

from django import template
from django.utils import formats
from django.utils.translation import gettext as _
from oscar.templatetags.currency_filters import currency

register = template.Library()


@register.filter
def percent(value, digits=0):
    """0.1234 → "12 %" (localised: "12,3 %" in pt-BR with one digit); empty for no value."""
    if value is None:
        return ""
    return f"{formats.number_format(float(value) * 100, int(digits), use_l10n=True)} %"


@register.filter
def kpi_value(value, kind):
    """A KPI figure shown the way its kind asks: a number, a percentage, days or money."""
    if value is None:
        return "–"
    if kind == "money":
        return currency(value)
    if kind == "percent":
        return percent(value, 1)
    if kind == "days":
        return _("%(days)s days") % {"days": formats.number_format(value, 0, use_l10n=True)}
    return formats.number_format(value, 0, use_l10n=True, force_grouping=True)


@register.filter
def signed_percent(change):
    """A relative change as "+12 %" or "−5 %"."""
    if change is None:
        return ""
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    return f"{sign}{percent(abs(change), 0)}"


@register.filter
def bar_width(share, scale=100):
    """The width of a bar for a share in 0–1, in the units of an SVG whose bars are ``scale`` long."""
    return round(max(float(share or 0), 0.0) * float(scale), 2)


@register.inclusion_tag("oscar_champions/dashboard/partials/customer_panel.html")
def champions_customer_panel(user):
    """Table rows summing up a registered customer for Oscar's own dashboard customer page (one query).

    In a shop's ``oscar/dashboard/users/detail.html``::

        {% extends "oscar/dashboard/users/detail.html" %}
        {% load champions_dashboard_tags %}
        {% block additional_general_info %}{% champions_customer_panel customer %}{% endblock %}
    """
    from oscar_champions.models import CustomerMetrics

    return {"metrics": CustomerMetrics.objects.filter(user=user).first()}
