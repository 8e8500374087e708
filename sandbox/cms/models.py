"""Two Wagtail page types that use the Champions blocks, as a shop's content pages would."""

from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page

from oscar_champions.contrib.wagtail.blocks import BoughtTogetherBlock, RecommendedProductsBlock, SegmentContentBlock


def content_blocks():
    return [
        ("heading", blocks.CharBlock(label=_("Heading"), form_classname="title")),
        ("paragraph", blocks.RichTextBlock(label=_("Text"))),
        ("recommended_products", RecommendedProductsBlock()),
        ("bought_together", BoughtTogetherBlock()),
        ("segment_content", SegmentContentBlock()),
    ]


class HomePage(Page):
    """The content home page, at /<language>/content/."""

    body = StreamField(content_blocks(), blank=True, verbose_name=_("Body"))

    content_panels = [*Page.content_panels, FieldPanel("body")]
    subpage_types = ["cms.CampaignPage"]


class CampaignPage(Page):
    """A landing page for a campaign, with an introduction and the blocks."""

    intro = RichTextField(blank=True, verbose_name=_("Introduction"))
    body = StreamField(content_blocks(), blank=True, verbose_name=_("Body"))

    content_panels = [*Page.content_panels, FieldPanel("intro"), FieldPanel("body")]
    parent_page_types = ["cms.HomePage"]
    subpage_types = []
