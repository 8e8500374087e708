"""The best-customers report in Wagtail's admin, on Wagtail's reports framework.

The filters are the Champions dashboard report's form (``BestCustomersReportForm``) presented as a filter
set, so Wagtail draws them in its filter panel; the rows are ``BestCustomersReport.rows`` and the CSV and
XLSX downloads, Wagtail's own, write the report's export columns (``export_header``/``export_rows``), made
safe against spreadsheet formula injection. Staff and users with the ``oscar_champions.access_dashboard``
permission only, like the dashboard's report.
"""

import copy

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from oscar.templatetags.currency_filters import currency
from wagtail.admin.ui.tables import BooleanColumn, Column, DateColumn, NumberColumn, TitleColumn
from wagtail.admin.views.reports import ReportView
from wagtail.admin.widgets import AdminDateInput, Button

from oscar_champions.dashboard.apps import can_access_dashboard
from oscar_champions.dashboard.report_forms import BestCustomersReportForm
from oscar_champions.exports import export_filename, neutralise
from oscar_champions.models import CustomerMetrics
from oscar_champions.templatetags.champions_dashboard_tags import percent


def report_form_filter(name):
    """A filter whose form field is the report form's field ``name``; the report, not the filter, reads it."""
    field = copy.deepcopy(BestCustomersReportForm.base_fields[name])
    if isinstance(field, forms.DateField):
        field.widget = AdminDateInput()
        filter_class = django_filters.DateFilter
    elif isinstance(field, forms.ChoiceField):
        filter_class = django_filters.ChoiceFilter
    else:
        filter_class = django_filters.NumberFilter
    # What a bare URL means is what the form shows, so Wagtail lists no default as an active filter.
    field.initial = BestCustomersReportForm.DEFAULTS.get(name)
    report_filter = filter_class(field_name=name, label=field.label)
    report_filter._field = field
    return report_filter


class BestCustomersFilterSet(django_filters.FilterSet):
    """The report's form, as the filter set Wagtail's listing views expect."""

    period = report_form_filter("period")
    start = report_form_filter("start")
    end = report_form_filter("end")
    rank_by = report_form_filter("rank_by")
    top = report_form_filter("top")
    site = report_form_filter("site")
    stage = report_form_filter("stage")

    class Meta:
        model = CustomerMetrics
        fields = []
        form = BestCustomersReportForm

    def filter_queryset(self, queryset):
        # The values choose the report (see ``BestCustomersReportView.report``); there is no queryset to filter.
        return queryset


def _movement(row):
    return f"{row.movement.label} ({row.places})" if row.places else row.movement.label


def _customer_card_url(row):
    return reverse("champions-dashboard:champions-customer", args=[row.metrics_id]) if row.metrics_id else None


class BestCustomersReportView(ReportView):
    """The period's best customers, ranked, with the report's filters and Wagtail's CSV and XLSX downloads."""

    results_template_name = "oscar_champions/wagtail/best_customers_results.html"
    page_title = _("Best customers")
    header_icon = "group"
    filterset_class = BestCustomersFilterSet
    index_url_name = "champions-wagtail:champions-best-customers"
    index_results_url_name = "champions-wagtail:champions-best-customers-results"
    paginate_by = 50
    columns = [
        Column("rank", label=_("Rank")),
        Column("movement", label=pgettext_lazy("rank movement", "Change"), accessor=_movement),
        TitleColumn("name", label=_("Customer"), accessor=lambda row: row.name or row.email,
                    get_url=_customer_card_url),
        Column("email", label=_("E-mail")),
        NumberColumn("orders", label=_("Orders")),
        Column("revenue", label=_("Revenue"), accessor=lambda row: currency(row.revenue)),
        Column("average_order_value", label=_("Average order value"),
               accessor=lambda row: currency(row.average_order_value)),
        Column("share", label=_("Share of revenue"), accessor=lambda row: percent(row.share, 1)),
        DateColumn("last_order_at", label=_("Last order")),
        Column("lifecycle_stage", label=_("Lifecycle stage"), accessor="lifecycle_stage_label"),
        BooleanColumn("is_champion", label=_("Champion")),
    ]

    def dispatch(self, request, *args, **kwargs):
        if not can_access_dashboard(request.user):
            raise PermissionDenied
        # A download asked with filters that do not validate shows the page with the form's errors instead.
        self.is_export = self.is_export and self.report is not None
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def report(self):
        """The ``BestCustomersReport`` the filters describe, or ``None`` while they have errors."""
        return self.filters.form.report() if self.filters.is_valid() else None

    def get_queryset(self):
        return self.report.rows if self.report else []

    def get_filtered_queryset(self):
        return self.get_queryset()

    @cached_property
    def no_results_message(self):
        return _("No customer bought in this period.")

    def get_page_subtitle(self):
        if not self.report:
            return ""
        return _("%(start)s to %(end)s") % {"start": self.report.period.start, "end": self.report.period.end}

    # The downloads: the report's own export columns, through Wagtail's writers.

    @property
    def list_export(self):
        return self.report.export_header() if self.report else []

    def to_row_dict(self, cells):
        return dict(zip(self.list_export, cells))

    def as_spreadsheet(self, rows, spreadsheet_format):
        return super().as_spreadsheet(list(self.report.export_rows()), spreadsheet_format)

    def preprocess_field_value(self, field, value, export_format):
        value = super().preprocess_field_value(field, value, export_format)
        # Wagtail's XLSX writer stores formulas as text; its CSV writer leaves them to the spreadsheet.
        return neutralise(value) if export_format == self.FORMAT_CSV else value

    def get_filename(self):
        period = self.report.period
        return export_filename("best-customers", f"{period.start}-to-{period.end}", extension=None)

    def get_header_more_buttons(self):
        buttons = super().get_header_more_buttons()
        query = self.request.GET.copy()
        query.pop(self.page_kwarg, None)
        url = reverse("champions-dashboard:champions-report")
        full_report = Button(
            _("Full report in the dashboard"), url=f"{url}?{query.urlencode()}" if query else url,
            icon_name="link-external", priority=110,
        )
        return sorted([*buttons, full_report])
