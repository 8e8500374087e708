"""The best-customers report in Oscar's own Reports dashboard, beside Oscar's order and user reports.

Oscar lists the generators of ``GeneratorRepository``, which a shop can only extend by forking Oscar's
dashboard app. Instead, ``ReportsDashboardConfig`` below replaces Oscar's reports dashboard app in
``INSTALLED_APPS`` (the same label, URLs and templates) and hands its index view a repository and form that
also know ``BestCustomersReportGenerator``. A shop that has forked the dashboard adds the generator to its
own ``GeneratorRepository.generators`` instead.
"""

from oscar.apps.dashboard.reports.apps import ReportsDashboardConfig as OscarReportsDashboardConfig


class ReportsDashboardConfig(OscarReportsDashboardConfig):
    """Oscar's reports dashboard, with the best-customers report among its reports."""

    def ready(self):
        super().ready()
        from oscar_champions.dashboard.report_generator import with_best_customers_report

        self.index_view = with_best_customers_report(self.index_view)
