from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_tables2 import Column
from oscar.core.loading import get_class
from oscar.templatetags.currency_filters import currency

from oscar_champions.models import CustomerMetrics
from oscar_champions.templatetags.champions_dashboard_tags import percent

DashboardTable = get_class("dashboard.tables", "DashboardTable")


class MoneyColumn(Column):
    def render(self, value):
        return currency(value)


class DateColumn(Column):
    def render(self, value):
        return formats.date_format(timezone.localtime(value), "SHORT_DATE_FORMAT")


class PercentColumn(Column):
    def render(self, value):
        return percent(value)


class MembersTable(DashboardTable):
    """A segment's members, sortable by any metric, each linked to the customer card."""

    email = Column(verbose_name=_("Customer"), order_by=("email", "key"))
    # empty_values=(): guests and accounts without a name are rendered too, not shown as a bare dash.
    name = Column(
        verbose_name=_("Name"), accessor="user__last_name", order_by=("user__last_name", "user__first_name"),
        empty_values=(),
    )
    lifecycle_stage = Column()
    rfm_group = Column()
    orders = Column()
    revenue = MoneyColumn()
    average_order_value = MoneyColumn()
    last_order_at = DateColumn()
    days_since_last_order = Column()
    probability_alive = PercentColumn()
    predicted_value_365d = MoneyColumn()

    icon = "fas fa-users"
    caption = _("Members")

    class Meta(DashboardTable.Meta):
        model = CustomerMetrics
        fields = ()
        sequence = (
            "email", "name", "lifecycle_stage", "rfm_group", "orders", "revenue", "average_order_value",
            "last_order_at", "days_since_last_order", "probability_alive", "predicted_value_365d",
        )
        order_by = ("-revenue",)

    def render_email(self, record):
        card = reverse("champions-dashboard:champions-customer", kwargs={"pk": record.pk})
        label = record.email or record.key
        if record.is_champion:
            return format_html('<a href="{}">{}</a> <span class="badge badge-success">{}</span>', card, label,
                               _("Champion"))
        return format_html('<a href="{}">{}</a>', card, label)

    def render_name(self, record):
        if not record.user_id:
            return format_html('<span class="text-muted">{}</span>', _("Guest"))
        account = reverse("dashboard:user-detail", kwargs={"pk": record.user_id})
        return format_html('<a href="{}">{}</a>', account, record.user.get_full_name() or record.user.email)
