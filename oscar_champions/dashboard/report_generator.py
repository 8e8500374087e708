"""``BestCustomersReportGenerator``: the best-customers report as an Oscar ``ReportGenerator``.

Oscar's Reports dashboard gives it a date range; it ranks the period's customers by revenue (the
default report, see ``oscar_champions.reports``) and shows them with its HTML formatter or downloads
them with the package's formula-safe CSV writer.
"""

from django.template.defaultfilters import date
from django.utils.translation import gettext_lazy as _
from oscar.core.loading import get_class

from oscar_champions.dashboard.apps import can_access_dashboard
from oscar_champions.exports import csv_response, export_filename
from oscar_champions.reports import DEFAULT_TOP, BestCustomersReport, Period, PeriodPreset

ReportGenerator = get_class("dashboard.reports.reports", "ReportGenerator")
ReportCSVFormatter = get_class("dashboard.reports.reports", "ReportCSVFormatter")
ReportHTMLFormatter = get_class("dashboard.reports.reports", "ReportHTMLFormatter")
GeneratorRepository = get_class("dashboard.reports.utils", "GeneratorRepository")
ReportForm = get_class("dashboard.reports.forms", "ReportForm")


class BestCustomersCSVFormatter(ReportCSVFormatter):
    def generate_response(self, report, **kwargs):
        period = report.period
        filename = export_filename("best-customers", f"{period.start}-to-{period.end}")
        return csv_response(filename, report.export_header(), report.export_rows())


class BestCustomersHTMLFormatter(ReportHTMLFormatter):
    filename_template = "oscar_champions/dashboard/reports/best_customers_report.html"

    def generate_response(self, report, **kwargs):
        return report.rows


class BestCustomersReportGenerator(ReportGenerator):
    """The period's best customers by revenue; without dates, the last 90 days."""

    code = "champions_best_customers"
    description = _("Best customers")
    formatters = {"CSV_formatter": BestCustomersCSVFormatter, "HTML_formatter": BestCustomersHTMLFormatter}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Oscar's index view paginates ``queryset``: the ranked rows.
        self.report = self.queryset
        self.queryset = self.report.rows

    @classmethod
    def get_unsupported_form_fields(cls):
        return []

    def get_queryset(self):
        default = Period.from_preset(PeriodPreset.LAST_90_DAYS)
        period = Period(self.start_date or default.start, self.end_date or default.end)
        if period.end < period.start:
            period = Period(period.end, period.end)
        return BestCustomersReport(period, top=DEFAULT_TOP)

    def filter_with_date_range(self, report):
        # The report bounds its own period (and the previous one it compares with).
        return report

    def generate(self):
        return self.formatter.generate_response(self.report)

    def report_description(self):
        return _("Best customers by revenue between %(start)s and %(end)s") % {
            "start": date(self.report.period.start, "SHORT_DATE_FORMAT"),
            "end": date(self.report.period.end, "SHORT_DATE_FORMAT"),
        }

    def is_available_to(self, user):
        return can_access_dashboard(user)


class ChampionsGeneratorRepository(GeneratorRepository):
    """Oscar's report generators and the best-customers report."""

    generators = [*GeneratorRepository.generators, BestCustomersReportGenerator]


class ChampionsReportForm(ReportForm):
    """Oscar's report form, offering the best-customers report too."""

    generators = ChampionsGeneratorRepository().get_report_generators()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["report_type"].choices = [(generator.code, generator.description) for generator in self.generators]


def with_best_customers_report(index_view):
    """A subclass of Oscar's reports index view whose repository and form know the best-customers report."""
    return type(
        index_view.__name__,
        (index_view,),
        {"generator_repository": ChampionsGeneratorRepository, "report_form_class": ChampionsReportForm},
    )
