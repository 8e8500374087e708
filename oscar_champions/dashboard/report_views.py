"""The best-customers report in the Champions dashboard: the page, its CSV and its PDF.

The views only read the form and hand the ``BestCustomersReport`` to a template or an exporter; the page
and the PDF draw the same server-rendered SVG charts.
"""

from django.conf import settings
from django.utils import timezone
from django.views.generic import TemplateView

from oscar_champions.dashboard.report_forms import BestCustomersReportForm
from oscar_champions.exports import csv_response, export_filename
from oscar_champions.pdf import pdf_response

#: Geometry of the concentration chart, in SVG user units.
PARETO_WIDTH, PARETO_HEIGHT, PARETO_MARGIN = 420, 260, 40


def pareto_chart(concentration):
    """The concentration (Pareto) curve as SVG geometry: the polyline, the axes' ticks and the top shares."""
    plot_width = PARETO_WIDTH - 2 * PARETO_MARGIN
    plot_height = PARETO_HEIGHT - 2 * PARETO_MARGIN

    def x(share):
        return round(PARETO_MARGIN + share * plot_width, 1)

    def y(share):
        return round(PARETO_HEIGHT - PARETO_MARGIN - share * plot_height, 1)

    ticks = [(share, x(share), y(share)) for share in (0, 0.25, 0.5, 0.75, 1)]
    markers = [
        {"share": share, "customers": count, "revenue_share": revenue, "x": x(share), "y": y(revenue)}
        for share, count, revenue in concentration.tops
    ]
    return {
        "width": PARETO_WIDTH,
        "height": PARETO_HEIGHT,
        "left": PARETO_MARGIN,
        "right": PARETO_WIDTH - PARETO_MARGIN,
        "top": PARETO_MARGIN,
        "bottom": PARETO_HEIGHT - PARETO_MARGIN,
        "points": " ".join(f"{x(cx)},{y(cy)}" for cx, cy in concentration.curve),
        "ticks": ticks,
        "markers": markers,
    }


class BestCustomersReportMixin:
    """Reads the report form from the query string."""

    form_class = BestCustomersReportForm
    template_name = "oscar_champions/dashboard/report.html"
    extra_context = {"champions_tab": "report"}

    def get_form(self):
        return self.form_class(self.request.GET)

    def invalid(self, form):
        """The page with the form's errors: what an export asked with a bad period answers."""
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def report_context(self, form):
        report = form.report()
        return {
            "form": form,
            "report": report,
            "pareto": pareto_chart(report.concentration),
            "filters_description": form.description(),
            "generated_at": timezone.now(),
            "shop_name": settings.OSCAR_SHOP_NAME,
        }

    def export_filename(self, form, extension):
        period = form.cleaned_data["period_range"]
        return export_filename("best-customers", f"{period.start}-to-{period.end}", extension=extension)


class BestCustomersReportView(BestCustomersReportMixin, TemplateView):
    """The report page: the filters, the headline figures, the charts, the ranking and the champion profile."""

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        context = self.report_context(form) if form.is_valid() else {"form": form}
        context["query_string"] = request.GET.urlencode()
        return self.render_to_response(self.get_context_data(**context))


class BestCustomersReportCSVView(BestCustomersReportMixin, TemplateView):
    """The ranking as CSV, with the page's columns."""

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        if not form.is_valid():
            return self.invalid(form)
        report = form.report()
        return csv_response(self.export_filename(form, "csv"), report.export_header(), report.export_rows())


class BestCustomersReportPDFView(BestCustomersReportMixin, TemplateView):
    """The report as a PDF for printing, from a template a shop can override."""

    pdf_template_name = "oscar_champions/reports/best_customers.pdf.html"

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        if not form.is_valid():
            return self.invalid(form)
        return pdf_response(
            self.export_filename(form, "pdf"), self.pdf_template_name, self.report_context(form), request=request
        )
