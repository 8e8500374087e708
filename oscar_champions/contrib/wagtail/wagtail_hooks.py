"""Wagtail's admin: the best-customers report under Reports, the Champions dashboard pages in the menu and the
product chooser of the "Bought together" block. The report and the menu items are shown only to staff and
users with the ``oscar_champions.access_dashboard`` permission."""

from django.urls import include, path, reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem

from oscar_champions.contrib.wagtail.choosers import product_chooser_viewset
from oscar_champions.contrib.wagtail.views import BestCustomersReportView
from oscar_champions.dashboard.apps import can_access_dashboard
from oscar_champions.dashboard.navigation import champions_navigation_entries


class ChampionsMenuItem(MenuItem):
    """A menu item for the people who may see the customer base."""

    def is_shown(self, request):
        return can_access_dashboard(request.user)


@hooks.register("register_admin_urls")
def register_report_urls():
    urls = [
        path("best-customers/", BestCustomersReportView.as_view(), name="champions-best-customers"),
        path(
            "best-customers/results/",
            BestCustomersReportView.as_view(results_only=True),
            name="champions-best-customers-results",
        ),
    ]
    return [path("champions/", include((urls, "champions-wagtail")))]


@hooks.register("register_reports_menu_item")
def register_report_menu_item():
    return ChampionsMenuItem(
        _("Best customers"),
        reverse_lazy("champions-wagtail:champions-best-customers"),
        name="champions-best-customers",
        icon_name="group",
        order=1300,
    )


@hooks.register("register_admin_menu_item")
def register_dashboard_menu():
    # Lazy URLs: the dashboard's carry the language prefix, which must be the admin user's at each request.
    items = [
        ChampionsMenuItem(entry["label"], reverse_lazy(entry["url_name"]), name=entry["url_name"].split(":")[-1],
                          icon_name="link-external", order=order)
        for order, entry in enumerate(champions_navigation_entries())
    ]
    return SubmenuMenuItem(
        _("Customer segments"), Menu(items=items), name="champions-dashboard", icon_name="group", order=8900
    )


@hooks.register("register_admin_viewset")
def register_product_chooser():
    return product_chooser_viewset
