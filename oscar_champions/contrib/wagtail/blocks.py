"""StreamField blocks for content pages: personal picks, products bought together, and content for a segment.

They render with the storefront's template tags and ``oscar_champions/partials/product_row.html``, so a
Wagtail page shows exactly what the shop's own pages show, at the same cost (see
``oscar_champions.storefront``). Use them in any StreamField::

    from oscar_champions.contrib.wagtail.blocks import (
        BoughtTogetherBlock, RecommendedProductsBlock, SegmentContentBlock,
    )

    body = StreamField([
        ("paragraph", blocks.RichTextBlock()),
        ("recommended_products", RecommendedProductsBlock()),
        ("bought_together", BoughtTogetherBlock()),
        ("segment_content", SegmentContentBlock()),
    ])
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.blocks.struct_block import StructBlockValidationError

from oscar_champions import storefront
from oscar_champions.contrib.wagtail.choosers import product_chooser_viewset
from oscar_champions.models import SavedSegment
from oscar_champions.segments import LifecycleStage

ProductChooserBlock = product_chooser_viewset.get_block_class(
    name="ProductChooserBlock", module_path="oscar_champions.contrib.wagtail.blocks"
)

#: The most products a block may show: one row on a wide screen, twice over.
MAX_PRODUCTS = 24


class ProductRowBlock(blocks.StructBlock):
    """A titled row of products; the title defaults to the storefront's translated one for the row's kind."""

    title = blocks.CharBlock(
        label=_("Title"), required=False, max_length=255, help_text=_("Leave empty for the standard title.")
    )
    count = blocks.IntegerBlock(label=_("Number of products"), default=4, min_value=1, max_value=MAX_PRODUCTS)


class RecommendedProductsBlock(ProductRowBlock):
    """The visitor's personal picks (``{% recommended_products %}``); bestsellers for anonymous visitors."""

    class Meta:
        template = "oscar_champions/wagtail/blocks/recommended_products.html"
        icon = "pick"
        label = _("Recommended products")
        description = _("Products picked for each visitor from what they bought; bestsellers for anonymous visitors.")


class BoughtTogetherBlock(ProductRowBlock):
    """What the buyers of a chosen product also bought (``{% bought_together %}``)."""

    product = ProductChooserBlock(label=_("Product"))

    class Meta:
        template = "oscar_champions/wagtail/blocks/bought_together.html"
        icon = "tag"
        label = _("Bought together")
        description = _("Products often bought by the customers who bought a chosen product.")


def saved_segment_choices():
    """The saved segments an editor can target, read when the form is drawn (segments come and go)."""
    return [(str(pk), name) for pk, name in SavedSegment.objects.order_by("name", "pk").values_list("pk", "name")]


class SegmentStreamBlock(blocks.StreamBlock):
    """What a segment block can show: rich text and the product rows."""

    paragraph = blocks.RichTextBlock(label=_("Text"))
    recommended_products = RecommendedProductsBlock()
    bought_together = BoughtTogetherBlock()


class SegmentContentBlock(blocks.StructBlock):
    """Content shown only to customers in the chosen lifecycle stages or saved segments, as of the last
    refresh; everyone else (anonymous visitors too) sees the fallback, if any.

    A page preview in Wagtail's editor has no customer: it shows both, each under a note of whom it is for.
    """

    stages = blocks.MultipleChoiceBlock(
        label=_("Lifecycle stages"), choices=LifecycleStage.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    segments = blocks.MultipleChoiceBlock(
        label=_("Saved segments"), choices=saved_segment_choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("Saved in the Champions dashboard's segment builder."),
    )
    content = SegmentStreamBlock(label=_("Content for them"))
    fallback = SegmentStreamBlock(label=_("Content for everyone else"), required=False)

    class Meta:
        template = "oscar_champions/wagtail/blocks/segment_content.html"
        icon = "group"
        label = _("Segment content")
        description = _("Content for chosen lifecycle stages or saved segments, with a fallback for everyone else.")

    def clean(self, value):
        value = super().clean(value)
        if not value.get("stages") and not value.get("segments"):
            raise StructBlockValidationError(
                block_errors={"stages": ValidationError(_("Choose at least one lifecycle stage or saved segment."))}
            )
        return value

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context=parent_context)
        request = context.get("request")
        context["is_preview"] = bool(getattr(request, "is_preview", False))
        if context["is_preview"]:
            context["audience"] = self.audience(value)
        else:
            user = getattr(request, "user", None)
            context["shown"] = storefront.in_audience(user, value.get("stages") or (), value.get("segments") or ())
        return context

    def audience(self, value):
        """The chosen stages' and saved segments' names, for the editor's preview."""
        names = [str(LifecycleStage(code).label) for code in value.get("stages") or () if code in LifecycleStage]
        ids = [int(pk) for pk in value.get("segments") or () if str(pk).isdigit()]
        names += SavedSegment.objects.filter(pk__in=ids).order_by("name", "pk").values_list("name", flat=True)
        return names
