"""The entries a shop adds to ``OSCAR_DASHBOARD_NAVIGATION``; safe to import from a settings module."""

import copy

from django.utils.translation import gettext_lazy as _

CUSTOMERS_ICON = "fas fa-users"


def champions_navigation_entries():
    """The Champions pages, as children of a dashboard navigation menu."""
    return [
        {"label": _("Customer segments"), "url_name": "champions-dashboard:champions-overview"},
        {"label": _("Saved segments"), "url_name": "champions-dashboard:champions-segment-list"},
        {"label": _("Best customers"), "url_name": "champions-dashboard:champions-report"},
    ]


def with_champions_navigation(navigation):
    """Return a copy of ``navigation`` with the Champions pages added under the Customers menu.

    In a shop's settings::

        from oscar.defaults import *
        from oscar_champions.dashboard.navigation import with_champions_navigation

        OSCAR_DASHBOARD_NAVIGATION = with_champions_navigation(OSCAR_DASHBOARD_NAVIGATION)

    A navigation without a Customers menu (found by its icon) gets a menu of its own.
    """
    navigation = copy.deepcopy(list(navigation))
    for menu in navigation:
        if menu.get("icon") == CUSTOMERS_ICON and "children" in menu:
            menu["children"].extend(champions_navigation_entries())
            return navigation
    navigation.append({"label": _("Customers"), "icon": CUSTOMERS_ICON, "children": champions_navigation_entries()})
    return navigation
