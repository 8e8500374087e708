"""A chooser for Oscar's products in Wagtail's admin, for the "Bought together" block.

Oscar's products are not indexed by Wagtail's search, so the chooser's search box looks the title and the
UPC up in the database. Only products a customer can land on are offered: standalone and parent products.
"""

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms.choosers import BaseFilterForm
from wagtail.admin.views.generic.chooser import ChooseResultsView, ChooseView
from wagtail.admin.viewsets.chooser import ChooserViewSet


class ProductSearchForm(BaseFilterForm):
    q = forms.CharField(
        label=_("Search term"), required=False, widget=forms.TextInput(attrs={"placeholder": _("Title or UPC")})
    )

    def filter(self, objects):
        objects = super().filter(objects)
        query = (self.cleaned_data.get("q") or "").strip()
        if query:
            self.is_searching = True
            self.search_query = query
            objects = objects.filter(Q(title__icontains=query) | Q(upc__iexact=query))
        return objects


class ProductChoiceMixin:
    filter_form_class = ProductSearchForm

    def get_object_list(self):
        return self.model_class.objects.filter(parent__isnull=True).order_by("title", "pk")


class ProductChooseView(ProductChoiceMixin, ChooseView):
    pass


class ProductChooseResultsView(ProductChoiceMixin, ChooseResultsView):
    pass


class ProductChooserViewSet(ChooserViewSet):
    model = "catalogue.Product"
    icon = "tag"
    choose_one_text = _("Choose a product")
    choose_another_text = _("Choose another product")
    per_page = 20
    choose_view_class = ProductChooseView
    choose_results_view_class = ProductChooseResultsView


product_chooser_viewset = ProductChooserViewSet("champions_product_chooser", url_prefix="champions/products")
