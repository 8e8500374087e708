"""The best-customers report's filter form: the period, the ranking and the filters, read from the query string."""

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from oscar.forms.widgets import DatePickerInput

from oscar_champions.reports import (
    DEFAULT_TOP,
    EARLIEST_START,
    MAX_PERIOD_DAYS,
    MAX_PERIOD_YEARS,
    MAX_TOP,
    BestCustomersReport,
    Period,
    PeriodPreset,
    RankBy,
    analysed_sites,
)
from oscar_champions.segments import LifecycleStage


class BestCustomersReportForm(forms.Form):
    """Builds a ``BestCustomersReport`` from GET parameters; every mistake is a form error, never a crash."""

    #: What an empty query string means.
    DEFAULTS = {"period": PeriodPreset.LAST_90_DAYS, "rank_by": RankBy.REVENUE, "top": DEFAULT_TOP}

    period = forms.ChoiceField(label=_("Period"), choices=PeriodPreset.choices)
    start = forms.DateField(label=_("From"), required=False, widget=DatePickerInput)
    end = forms.DateField(
        label=pgettext_lazy("period", "To"), required=False, widget=DatePickerInput, help_text=_("Included.")
    )
    rank_by = forms.ChoiceField(label=_("Rank by"), choices=RankBy.choices)
    top = forms.IntegerField(label=_("Customers listed"), min_value=1, max_value=MAX_TOP)
    site = forms.TypedChoiceField(label=_("Channel"), required=False, coerce=int, empty_value=None)
    stage = forms.ChoiceField(
        label=_("Lifecycle stage"), required=False, choices=[("", _("All stages")), *LifecycleStage.choices]
    )

    def __init__(self, data=None, **kwargs):
        # Missing parameters take their defaults, so a bare URL (or a link naming only the period) shows a
        # report rather than a form full of "required" errors.
        data = data.copy() if data is not None else {}
        for name, value in self.DEFAULTS.items():
            data.setdefault(name, str(value))
        super().__init__(data, **kwargs)
        self.fields["site"].choices = [("", _("All channels"))] + [
            (site.pk, site.name or site.domain) for site in analysed_sites()
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") != PeriodPreset.CUSTOM:
            if cleaned.get("period"):
                cleaned["period_range"] = Period.from_preset(cleaned["period"])
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if start is None or end is None:
            raise forms.ValidationError(_("A custom range needs a start and an end date."), code="incomplete")
        if end < start:
            raise forms.ValidationError(_("The period ends before it starts."), code="reversed")
        today = timezone.localdate()
        if end > today:
            raise forms.ValidationError(
                _("The period cannot end after today (%(today)s).")
                % {"today": date_format(today, "SHORT_DATE_FORMAT")},
                code="future",
            )
        if start < EARLIEST_START:
            raise forms.ValidationError(
                _("The period cannot start before %(year)d.") % {"year": EARLIEST_START.year}, code="too_early"
            )
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise forms.ValidationError(
                _("The period is too long: choose at most %(years)d years.") % {"years": MAX_PERIOD_YEARS},
                code="too_long",
            )
        cleaned["period_range"] = Period(start, end)
        return cleaned

    def report(self):
        """The report the valid form describes."""
        data = self.cleaned_data
        return BestCustomersReport(
            data["period_range"], rank_by=data["rank_by"], top=data["top"], site=data.get("site"),
            stage=data.get("stage") or None,
        )

    def description(self):
        """The filters in words, for the PDF's header (period excluded)."""
        data = self.cleaned_data
        parts = [str(_("ranked by %(metric)s") % {"metric": RankBy(data["rank_by"]).label.lower()})]
        if data.get("site"):
            parts.append(str(_("channel: %(channel)s") % {"channel": dict(self.fields["site"].choices)[data["site"]]}))
        if data.get("stage"):
            parts.append(str(_("lifecycle stage: %(stage)s") % {"stage": LifecycleStage(data["stage"]).label}))
        return ", ".join(parts)
