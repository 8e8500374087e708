from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from oscar_champions.kpis import PRESET_PERIODS, day_bounds
from oscar_champions.models import SavedSegment

#: The longest period a page will compute figures for.
MAX_PERIOD_DAYS = 20 * 366


class PeriodForm(forms.Form):
    """The period the overview's KPIs describe: the last 30, 90 or 365 days, or dates of one's own."""

    PRESETS = {str(days): days for days in PRESET_PERIODS}

    period = forms.ChoiceField(
        label=_("Period"),
        choices=[
            ("30", _("Last 30 days")),
            ("90", _("Last 90 days")),
            ("365", _("Last 365 days")),
            ("custom", _("Custom dates")),
        ],
        initial="90",
        required=False,
    )
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label=pgettext_lazy("period", "To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") != "custom":
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if not start or not end:
            if not self.has_error("start") and not self.has_error("end"):
                raise forms.ValidationError(_("Give both dates of a custom period."))
        elif end < start:
            self.add_error("end", _("The period ends before it starts."))
        elif (end - start).days > MAX_PERIOD_DAYS:
            self.add_error("start", _("Choose a period of at most 20 years."))
        return cleaned

    def bounds(self):
        """The period's start and end as aware date-times; the default period if the form is invalid."""
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        period = data.get("period") or "90"
        if period == "custom":
            first, last = data["start"], data["end"]
        else:
            first, last = today - timedelta(days=self.PRESETS[period] - 1), today
        return day_bounds(first, last)


class SavedSegmentForm(forms.ModelForm):
    """The name and description a segment is saved under; its filters come from the builder."""

    class Meta:
        model = SavedSegment
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
