"""Create an Oscar offer for the members of a lifecycle stage or a saved segment, from its dashboard page."""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView
from oscar.core.loading import get_model
from oscar.forms.widgets import DateTimePickerInput

from oscar_champions.models import SavedSegment, SegmentOffer
from oscar_champions.segments import LifecycleStage

Benefit = get_model("offer", "Benefit")
Condition = get_model("offer", "Condition")
ConditionalOffer = get_model("offer", "ConditionalOffer")
Range = get_model("offer", "Range")


class SegmentOfferForm(forms.Form):
    """The few choices a segment offer needs; the offer stays editable in Oscar's offer pages."""

    PERCENTAGE, FIXED, FREE_SHIPPING = "percentage", "fixed", "free_shipping"

    name = forms.CharField(label=_("Name"), max_length=128, help_text=_("Customers see it in their basket."))
    discount = forms.ChoiceField(
        label=_("Discount"),
        choices=[
            (PERCENTAGE, _("A percentage off every product")),
            (FIXED, _("A fixed amount off the basket")),
            (FREE_SHIPPING, _("Free shipping")),
        ],
    )
    value = forms.DecimalField(
        label=_("Value"), min_value=0, max_digits=12, decimal_places=2, required=False,
        help_text=_("The percentage or the amount; not needed for free shipping."),
    )
    start_datetime = forms.DateTimeField(label=_("Starts"), required=False, widget=DateTimePickerInput)
    end_datetime = forms.DateTimeField(label=_("Ends"), required=False, widget=DateTimePickerInput)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ConditionalOffer.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(_("An offer with this name already exists."))
        return name

    def clean(self):
        cleaned = super().clean()
        discount, value = cleaned.get("discount"), cleaned.get("value")
        if discount in (self.PERCENTAGE, self.FIXED) and not value:
            self.add_error("value", _("Enter how much the discount is."))
        if discount == self.PERCENTAGE and value and value > 100:
            self.add_error("value", _("A percentage cannot be above 100."))
        start, end = cleaned.get("start_datetime"), cleaned.get("end_datetime")
        if start and end and end <= start:
            self.add_error("end_datetime", _("The offer must end after it starts."))
        return cleaned

    @transaction.atomic
    def save(self, lifecycle_stage="", segment=None):
        """Create the range, condition, benefit and "User" offer, and target them at the segment."""
        data = self.cleaned_data
        products = Range.objects.create(
            name=gettext("%(offer)s: all products") % {"offer": data["name"]}, includes_all_products=True
        )
        condition = Condition.objects.create(range=products, type=Condition.COUNT, value=1)
        benefit = {
            self.PERCENTAGE: dict(type=Benefit.PERCENTAGE, value=data["value"]),
            self.FIXED: dict(type=Benefit.FIXED, value=data["value"]),
            self.FREE_SHIPPING: dict(type=Benefit.SHIPPING_PERCENTAGE, value=100),
        }[data["discount"]]
        offer = ConditionalOffer.objects.create(
            name=data["name"],
            offer_type=ConditionalOffer.USER,
            condition=condition,
            benefit=Benefit.objects.create(range=products, **benefit),
            start_datetime=data["start_datetime"],
            end_datetime=data["end_datetime"],
        )
        SegmentOffer.objects.create(offer=offer, lifecycle_stage=lifecycle_stage, segment=segment)
        return offer


class SegmentOfferCreateView(FormView):
    """An offer for a lifecycle stage (``stage`` in the URL) or a saved segment (``pk``)."""

    form_class = SegmentOfferForm
    template_name = "oscar_champions/dashboard/segment_offer_form.html"

    def dispatch(self, request, *args, **kwargs):
        self.segment = get_object_or_404(SavedSegment, pk=kwargs["pk"]) if "pk" in kwargs else None
        self.stage = ""
        if self.segment is None:
            if kwargs.get("stage") not in LifecycleStage.values:
                return redirect("champions-dashboard:champions-overview")
            self.stage = kwargs["stage"]
        return super().dispatch(request, *args, **kwargs)

    @property
    def target_name(self):
        return self.segment.name if self.segment else LifecycleStage(self.stage).label

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["segment"] = self.segment
        context["target_name"] = self.target_name
        context["champions_tab"] = "segments" if self.segment else "overview"
        return context

    def form_valid(self, form):
        offer = form.save(lifecycle_stage=self.stage, segment=self.segment)
        messages.success(
            self.request,
            _("The offer “%(offer)s” now applies to %(target)s.") % {"offer": offer.name, "target": self.target_name},
        )
        return redirect("dashboard:offer-detail", pk=offer.pk)
