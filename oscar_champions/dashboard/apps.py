from django.urls import path
from django.utils.translation import gettext_lazy as _
from oscar.core.application import OscarDashboardConfig
from oscar.views.decorators import check_permissions


class ChampionsDashboardConfig(OscarDashboardConfig):
    """The customer segments, segment builder and best-customers report inside Oscar's dashboard.

    Staff see every page; other users need the ``oscar_champions.access_dashboard`` permission.
    Customers and partner-only dashboard users are refused.
    """

    label = "oscar_champions_dashboard"
    name = "oscar_champions.dashboard"
    verbose_name = _("Champions dashboard")
    namespace = "champions-dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    default_permissions = (["is_staff"], ["oscar_champions.access_dashboard"])

    def get_urls(self):
        from oscar_champions.dashboard import offer_views, report_views, views

        urls = [
            path("", views.OverviewView.as_view(), name="champions-overview"),
            path("refresh/", views.RefreshView.as_view(), name="champions-refresh"),
            path("segments/", views.SegmentListView.as_view(), name="champions-segment-list"),
            path("segments/new/", views.BuilderView.as_view(), name="champions-builder"),
            path("segments/new/count/", views.CountView.as_view(), name="champions-count"),
            path("segments/new/export/", views.BuilderExportView.as_view(), name="champions-builder-export"),
            path("segments/<int:pk>/", views.SegmentDetailView.as_view(), name="champions-segment-detail"),
            path("segments/<int:pk>/edit/", views.BuilderView.as_view(), name="champions-segment-update"),
            path("segments/<int:pk>/copy/", views.SegmentDuplicateView.as_view(), name="champions-segment-duplicate"),
            path("segments/<int:pk>/delete/", views.SegmentDeleteView.as_view(), name="champions-segment-delete"),
            path("segments/<int:pk>/export/", views.SegmentExportView.as_view(), name="champions-segment-export"),
            path("customers/<int:pk>/", views.CustomerCardView.as_view(), name="champions-customer"),
            path(
                "segments/<int:pk>/offer/", offer_views.SegmentOfferCreateView.as_view(), name="champions-segment-offer"
            ),
            path(
                "stages/<str:stage>/offer/", offer_views.SegmentOfferCreateView.as_view(), name="champions-stage-offer"
            ),
            path("report/", report_views.BestCustomersReportView.as_view(), name="champions-report"),
            path("report/csv/", report_views.BestCustomersReportCSVView.as_view(), name="champions-report-csv"),
            path("report/pdf/", report_views.BestCustomersReportPDFView.as_view(), name="champions-report-pdf"),
        ]
        return self.post_process_urls(urls)


def can_access_dashboard(user):
    """Whether ``user`` may see the customer dashboard, reports and exports: the one rule, wherever the pages are
    shown (Oscar's dashboard, its Reports dashboard, Wagtail's admin)."""
    return check_permissions(user, ChampionsDashboardConfig.default_permissions)
