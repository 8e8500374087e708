"""The Champions dashboard pages: thin views over the engine, the KPIs and the segment filters."""

import hashlib
import json

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db.models.functions import TruncDate
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import DeleteView, DetailView, ListView, TemplateView
from django_tables2 import RequestConfig
from oscar.forms.widgets import RemoteSelect

from oscar_champions import kpis
from oscar_champions.customers import eligible_orders, guest_email_expression
from oscar_champions.dashboard.forms import PeriodForm, SavedSegmentForm
from oscar_champions.dashboard.tables import MembersTable
from oscar_champions.exports import csv_response, export_filename
from oscar_champions.filters import customer_filter, segment_filter, segments_containing, stored_filters
from oscar_champions.metrics import customer_order_filter, latest_run
from oscar_champions.models import CustomerMetrics, RefreshRun, SavedSegment, SegmentSnapshot
from oscar_champions.rfm import RFM_GROUP_ACTIONS, RFMGroup
from oscar_champions.segments import STAGE_ACTIONS, STAGE_DEFINITIONS, LifecycleStage
from oscar_champions.tasks import refresh_metrics_task

#: The KPI cards of the overview: figure, label, how to show it, and whether a rise is good news.
KPI_CARDS = [
    ("customers", _("Total customers"), "number", True),
    ("repeat_customers", _("Repeat customers"), "number", True),
    ("repeat_rate", _("Repeat rate"), "percent", True),
    ("average_days_between_orders", _("Average days between purchases"), "days", False),
    ("average_value", _("Average lifetime value"), "money", True),
    ("average_predicted_value", _("Average predicted value, next 12 months"), "money", True),
    ("champions_revenue_share", _("Champions' share of revenue"), "percent", True),
    ("new_customers", _("New customers in the period"), "number", True),
]

#: How long the overview keeps the KPIs of a period, and the segment list its counts; a refresh changes the
#: cache key anyway.
KPI_CACHE_SECONDS = 10 * 60


def period_kpis(start, end, run):
    """The KPIs of a period, cached per period and refresh: for past dates they mean a pass over the orders."""
    key = f"oscar_champions:kpis:{run.pk if run else 0}:{start.isoformat()}:{end.isoformat()}"
    return cache.get_or_set(key, lambda: kpis.customer_kpis(start, end), KPI_CACHE_SECONDS)


class OverviewView(TemplateView):
    """KPIs for a period, the segments with what to do about each, movements and the model's status."""

    template_name = "oscar_champions/dashboard/overview.html"
    extra_context = {"champions_tab": "overview"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = PeriodForm(self.request.GET or None)
        start, end = form.bounds()
        run = latest_run()
        figures = period_kpis(start, end, run)
        context["period_form"] = form
        context["start"], context["end"] = start, end
        context["kpi_cards"] = [
            {"name": name, "label": label, "kind": kind, "higher_is_better": better, "kpi": figures.get(name)}
            for name, label, kind, better in KPI_CARDS
        ]
        context["stages"] = kpis.segment_distribution(SegmentSnapshot.Dimension.LIFECYCLE, run)
        for row in context["stages"]:
            row["offer_url"] = reverse("champions-dashboard:champions-stage-offer", kwargs={"stage": row["segment"]})
        context["rfm_groups"] = kpis.segment_distribution(SegmentSnapshot.Dimension.RFM, run)
        context["heat_map"] = kpis.rfm_heat_map(run)
        context["movements"] = kpis.segment_movements(run)
        context["run"] = run
        context["last_attempt"] = RefreshRun.objects.order_by("-started_at").first()
        return context


class RefreshView(View):
    """Queue a full refresh on the shop's task backend."""

    def post(self, request):
        refresh_metrics_task.enqueue()
        messages.success(request, _("A refresh of the customer metrics has been queued."))
        return redirect("champions-dashboard:champions-overview")


class MembersMixin:
    """A page listing the customers who pass a filter, in a sortable, paginated table."""

    def members_table(self, queryset):
        table = MembersTable(queryset)
        per_page = settings.OSCAR_DASHBOARD_ITEMS_PER_PAGE
        RequestConfig(self.request, paginate={"per_page": per_page}).configure(table)
        return table


class BuilderView(MembersMixin, TemplateView):
    """Build a segment from conditions, see who is in it, and save it (or, with a segment, edit it)."""

    template_name = "oscar_champions/dashboard/builder.html"
    segment = None

    def dispatch(self, request, *args, **kwargs):
        if "pk" in kwargs:
            self.segment = get_object_or_404(SavedSegment, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def filter_data(self):
        """What the conditions are: the query string, or the segment's saved filters on first opening."""
        if self.segment is not None and not stored_filters(self.request.GET):
            return segment_filter(self.segment).data
        return self.request.GET

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        data = self.filter_data()
        filterset = customer_filter(data)
        context["filter"] = filterset
        context["segment"] = self.segment
        context["champions_tab"] = "segments" if self.segment else "builder"
        context["query"] = data.urlencode()
        context["has_conditions"] = bool(stored_filters(data))
        if filterset.is_valid():
            context["members"] = self.members_table(filterset.qs)
        context["save_form"] = kwargs.get("save_form") or SavedSegmentForm(instance=self.segment)
        return context

    def post(self, request, *args, **kwargs):
        """Save the conditions in the query string under the name and description posted."""
        filterset = customer_filter(request.GET)
        form = SavedSegmentForm(request.POST, instance=self.segment)
        if not filterset.is_valid():
            messages.error(request, _("Correct the conditions before saving the segment."))
            return self.render_to_response(self.get_context_data(save_form=form))
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(save_form=form))
        segment = form.save(commit=False)
        segment.filters = stored_filters(request.GET)
        if segment.created_by_id is None and request.user.is_authenticated:
            segment.created_by = request.user
        segment.save()
        messages.success(request, _("The segment “%(name)s” has been saved.") % {"name": segment.name})
        return redirect("champions-dashboard:champions-segment-detail", pk=segment.pk)


class CountView(View):
    """How many customers the conditions in the query string match, for the builder's live count."""

    def get(self, request):
        filterset = customer_filter(request.GET)
        if not filterset.is_valid():
            return JsonResponse({"count": None, "errors": filterset.errors.get_json_data()}, status=400)
        count = filterset.qs.count()
        return JsonResponse({"count": count, "errors": {}, "label": _members_label(count)})


def _members_label(count):
    number = number_format(count, force_grouping=True)
    return ngettext("%(count)s customer matches", "%(count)s customers match", count) % {"count": number}


class SegmentListView(ListView):
    """The saved segments, each with how many customers it holds today."""

    template_name = "oscar_champions/dashboard/segment_list.html"
    context_object_name = "segments"
    paginate_by = 20
    extra_context = {"champions_tab": "segments"}

    def get_queryset(self):
        return SavedSegment.objects.select_related("created_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = latest_run()
        rows = []
        for segment in context["segments"]:  # one count per segment of the page, never per customer
            filterset = segment_filter(segment)
            valid = filterset.is_valid()  # every time: a category of the conditions may have been deleted
            count = segment_count(segment, filterset, run) if valid else None
            rows.append({"segment": segment, "valid": valid, "count": count})
        context["rows"] = rows
        return context


def segment_count(segment, filterset, run):
    """How many customers the saved ``segment`` holds (its valid ``filterset``), cached like the overview's KPIs,
    per refresh and conditions: a purchase condition means a pass over the period's orders."""
    conditions = json.dumps(segment.filters, sort_keys=True)
    key = f"oscar_champions:segment-count:{run.pk if run else 0}:{hashlib.sha1(conditions.encode()).hexdigest()}"
    # The queryset is built only when the count is not kept: building it lists a purchase condition's buyers.
    return cache.get_or_set(key, lambda: filterset.qs.count(), KPI_CACHE_SECONDS)


class SegmentDetailView(MembersMixin, DetailView):
    """A saved segment: its conditions, its members and what can be done with them."""

    model = SavedSegment
    template_name = "oscar_champions/dashboard/segment_detail.html"
    context_object_name = "segment"
    extra_context = {"champions_tab": "segments"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = segment_filter(self.object)
        context["filter"] = filterset
        context["conditions"] = describe_conditions(filterset)
        if filterset.is_valid():
            context["members"] = self.members_table(filterset.qs)
        context["offer_url"] = reverse("champions-dashboard:champions-segment-offer", kwargs={"pk": self.object.pk})
        return context


def describe_conditions(filterset):
    """The segment's conditions as (label, value) pairs a person can read, e.g. ("Revenue", "300 – …")."""
    form = filterset.form
    conditions = []
    for name, field in form.fields.items():
        raw = form[name].value()
        values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        if all(value in (None, "") for value in values):
            continue
        if getattr(field, "choices", None) and not isinstance(field.widget, RemoteSelect):
            labels = {str(key): label for key, label in field.choices}
            shown = ", ".join(str(labels.get(str(value), value)) for value in values if value not in (None, ""))
        elif isinstance(field.widget, RemoteSelect):
            shown = ", ".join(str(choice) for choice in field.queryset.filter(pk__in=values))
        elif len(values) == 2:
            shown = " – ".join(str(value) if value not in (None, "") else "…" for value in values)
        else:
            shown = ", ".join(str(value) for value in values)
        conditions.append((form[name].label, shown))
    return conditions


class SegmentDuplicateView(View):
    """Copy a saved segment, to vary it without touching the original."""

    def post(self, request, pk):
        original = get_object_or_404(SavedSegment, pk=pk)
        copy = SavedSegment.objects.create(
            name=(gettext("Copy of %(name)s") % {"name": original.name})[:128],
            description=original.description,
            filters=original.filters,
            created_by=request.user,
        )
        messages.success(request, _("The segment has been copied; change it and save."))
        return redirect("champions-dashboard:champions-segment-update", pk=copy.pk)


class SegmentDeleteView(DeleteView):
    model = SavedSegment
    template_name = "oscar_champions/dashboard/segment_delete.html"
    context_object_name = "segment"
    extra_context = {"champions_tab": "segments"}

    def get_success_url(self):
        messages.success(self.request, _("The segment “%(name)s” has been deleted.") % {"name": self.object.name})
        return reverse("champions-dashboard:champions-segment-list")


#: The columns of a members export: header and the metrics field (or callable) that fills it.
EXPORT_COLUMNS = [
    (_("E-mail"), "email"),
    (_("First name"), "user__first_name"),
    (_("Last name"), "user__last_name"),
    (_("Registered"), "user_id"),
    (_("Lifecycle stage"), "lifecycle_stage"),
    (_("RFM group"), "rfm_group"),
    (_("Champion"), "is_champion"),
    (_("Orders"), "orders"),
    (_("Items"), "items"),
    (_("Revenue"), "revenue"),
    (_("Average order value"), "average_order_value"),
    (_("First order"), "first_order_at"),
    (_("Last order"), "last_order_at"),
    (_("Days since last order"), "days_since_last_order"),
    (_("Average days between orders"), "average_days_between_orders"),
    (_("R"), "recency_score"),
    (_("F"), "frequency_score"),
    (_("M"), "monetary_score"),
    (_("Probability still a customer"), "probability_alive"),
    (_("Expected orders, next 12 months"), "expected_orders_365d"),
    (_("Predicted value, next 12 months"), "predicted_value_365d"),
    (_("Orders with a discount"), "discount_share"),
]


def export_rows(queryset):
    """The export's rows, read in chunks so a segment of 100k customers never sits in memory.

    Labels are translated once, not once a row, and the days of the first and last orders are those of the
    current time zone (the shop's ``TIME_ZONE``), taken by the database.
    """
    stages = {code: str(label) for code, label in LifecycleStage.choices}
    groups = {code: str(label) for code, label in RFMGroup.choices}
    yes, no = gettext("yes"), gettext("no")
    days = {"first_order_at": TruncDate("first_order_at"), "last_order_at": TruncDate("last_order_at")}
    fields = [f"{field}_day" if field in days else field for _header, field in EXPORT_COLUMNS]
    registered, champion = fields.index("user_id"), fields.index("is_champion")
    stage, group = fields.index("lifecycle_stage"), fields.index("rfm_group")
    moments = [fields.index(f"{field}_day") for field in days]
    queryset = queryset.annotate(**{f"{field}_day": day for field, day in days.items()})
    for values in queryset.order_by("-revenue", "key").values_list(*fields).iterator(chunk_size=2000):
        row = list(values)
        row[registered] = yes if row[registered] else no
        row[champion] = yes if row[champion] else no
        row[stage] = stages.get(row[stage], row[stage])
        row[group] = groups.get(row[group], row[group])
        for i in moments:
            row[i] = row[i].isoformat() if row[i] else ""
        yield row


def members_export(queryset, *name_parts):
    return csv_response(
        export_filename(*name_parts), [str(header) for header, _field in EXPORT_COLUMNS], export_rows(queryset)
    )


class BuilderExportView(View):
    """The members of the conditions in the query string, as CSV."""

    def get(self, request):
        filterset = customer_filter(request.GET, CustomerMetrics.objects.all())
        if not filterset.is_valid():
            messages.error(request, _("Correct the conditions before exporting."))
            return redirect(reverse("champions-dashboard:champions-builder") + "?" + request.GET.urlencode())
        return members_export(filterset.qs, gettext("customers"))


class SegmentExportView(View):
    """A saved segment's members as CSV, named after the segment and the day."""

    def get(self, request, pk):
        segment = get_object_or_404(SavedSegment, pk=pk)
        filterset = segment_filter(segment, CustomerMetrics.objects.all())
        if not filterset.is_valid():
            messages.error(request, _("This segment's conditions no longer hold; edit it before exporting."))
            return redirect("champions-dashboard:champions-segment-detail", pk=pk)
        return members_export(filterset.qs, segment.name)


class CustomerCardView(DetailView):
    """One customer: metrics, scores, stage and how it changed, predictions, order history, segments."""

    model = CustomerMetrics
    template_name = "oscar_champions/dashboard/customer.html"
    context_object_name = "metrics"
    extra_context = {"champions_tab": "segments"}
    orders_shown = 50

    def get_queryset(self):
        return CustomerMetrics.objects.select_related("user", "favourite_category")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        metrics = self.object
        context["orders"] = customer_orders(metrics)[: self.orders_shown]
        context["stage_definition"] = STAGE_DEFINITIONS.get(metrics.lifecycle_stage, "")
        context["stage_action"] = STAGE_ACTIONS.get(metrics.lifecycle_stage, "")
        context["rfm_action"] = RFM_GROUP_ACTIONS.get(metrics.rfm_group, "")
        # Of the first 50 saved segments, in one query.
        context["saved_segments"] = segments_containing(metrics, SavedSegment.objects.all()[:50])
        return context


def customer_orders(metrics):
    """A customer's orders that count, newest first, with their lines."""
    return (
        eligible_orders()
        .annotate(guest_key=guest_email_expression())
        .filter(customer_order_filter(metrics.key, [metrics.user_id] if metrics.user_id else []))
        .order_by("-date_placed")
        .prefetch_related("lines")
    )
