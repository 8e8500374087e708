"""The Wagtail StreamField blocks: what each visitor sees, what the editor previews, and what it costs."""

import pytest

pytest.importorskip("wagtail")

from django.contrib.auth.models import AnonymousUser  # noqa: E402
from wagtail.blocks import StreamValue  # noqa: E402
from wagtail.blocks.struct_block import StructBlockValidationError  # noqa: E402

from oscar_champions import storefront  # noqa: E402
from oscar_champions.contrib.wagtail.blocks import (  # noqa: E402
    BoughtTogetherBlock,
    RecommendedProductsBlock,
    SegmentContentBlock,
    saved_segment_choices,
)
from oscar_champions.models import SavedSegment  # noqa: E402
from oscar_champions.recommendations import invalidate_storefront  # noqa: E402
from tests.factories import storefront_request  # noqa: E402

pytestmark = pytest.mark.django_db


def _segment_value(stages=(), segments=(), content="For them", fallback="For everyone else"):
    block = SegmentContentBlock()
    return block, block.to_python({
        "stages": list(stages),
        "segments": [str(pk) for pk in segments],
        "content": [{"type": "paragraph", "value": f"<p>{content}</p>"}],
        "fallback": [{"type": "paragraph", "value": f"<p>{fallback}</p>"}] if fallback else [],
    })


def _render(block, value, user, **request_attributes):
    request = storefront_request(user)
    for name, attribute in request_attributes.items():
        setattr(request, name, attribute)
    return block.render(value, context={"request": request, "user": user})


def test_recommended_products_block_draws_the_storefront_row(store):
    block = RecommendedProductsBlock()
    html = _render(block, block.to_python({"title": "", "count": 3}), store["newcomer"])
    assert "champions-products" in html and "Picked for you" in html
    assert html.count("product_pod") == 3
    assert "Café em grãos" not in html  # the newcomer bought it
    titled = _render(block, block.to_python({"title": "Para você", "count": 2}), AnonymousUser())
    assert "Para você" in titled and titled.count("product_pod") == 2


def test_bought_together_block_shows_what_the_products_buyers_also_bought(store):
    block = BoughtTogetherBlock()
    coffee, grinder = store["products"][:2]
    value = block.to_python({"title": "", "count": 4, "product": coffee.pk})
    html = _render(block, value, AnonymousUser())
    assert "Customers who bought this also bought" in html
    assert grinder.title in html and f">{coffee.title}<" not in html


def test_segment_block_shows_its_content_to_the_chosen_stages_only(store):
    block, value = _segment_value(stages=["champions"])
    champion = _render(block, value, store["champion"])
    assert "For them" in champion and "For everyone else" not in champion
    newcomer = _render(block, value, store["newcomer"])
    assert "For everyone else" in newcomer and "For them" not in newcomer
    anonymous = _render(block, value, AnonymousUser())
    assert "For everyone else" in anonymous and "For them" not in anonymous


def test_segment_block_without_fallback_shows_nothing_to_everyone_else(store):
    block, value = _segment_value(stages=["champions"], fallback="")
    assert _render(block, value, store["newcomer"]).strip() == ""


def test_segment_block_targets_saved_segments(store):
    # Every order of the store is 100.00: the champion spent 200, the newcomer 100.
    big = SavedSegment.objects.create(name="Spent 150 or more", filters={"revenue_min": ["150"]})
    block, value = _segment_value(segments=[big.pk])
    assert "For them" in _render(block, value, store["champion"])
    assert "For them" not in _render(block, value, store["newcomer"])
    # Editing the segment takes effect at once, cache or not.
    big.filters = {"revenue_min": ["500"]}
    big.save()
    assert "For them" not in _render(block, value, store["champion"])


def test_a_deleted_or_broken_saved_segment_contains_nobody(store):
    broken = SavedSegment.objects.create(name="Broken", filters={"bought_category": ["999999"]})
    block, value = _segment_value(segments=[broken.pk, 424242])
    assert "For everyone else" in _render(block, value, store["champion"])


def test_the_editors_preview_shows_both_contents_and_whom_they_are_for(store):
    segment = SavedSegment.objects.create(name="Coffee lovers", filters={"orders_min": ["2"]})
    block, value = _segment_value(stages=["champions", "loyal"], segments=[segment.pk])
    html = _render(block, value, store["newcomer"], is_preview=True)
    assert "For them" in html and "For everyone else" in html
    assert "Shown to: Champions, Loyal, Coffee lovers" in html


def test_a_segment_block_needs_a_stage_or_a_segment():
    block, value = _segment_value()
    with pytest.raises(StructBlockValidationError):
        block.clean(value)
    block, value = _segment_value(stages=["new"])
    assert block.clean(value)["stages"] == ["new"]


def test_saved_segments_are_offered_by_name(store):
    segment = SavedSegment.objects.create(name="Coffee lovers", filters={})
    assert (str(segment.pk), "Coffee lovers") in saved_segment_choices()


def test_audience_of_anonymous_visitors_costs_nothing(store, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert not storefront.in_audience(AnonymousUser(), ["champions"], ["1"])


@pytest.mark.parametrize("segment", [False, True])
def test_block_rendering_costs_a_bounded_number_of_queries(store, segment, django_assert_max_num_queries):
    """A segment block with a product row inside: the stage, the saved segments and their test, and the
    row's two queries, cold; warm, the segments' load and the row's products."""
    segments = [SavedSegment.objects.create(name=f"Segment {n}", filters={"orders_min": [str(n)]}).pk
                for n in range(1, 4)] if segment else []
    block = SegmentContentBlock()
    value = block.to_python({
        "stages": [] if segment else ["champions"],
        "segments": [str(pk) for pk in segments],
        "content": [{"type": "recommended_products", "value": {"title": "", "count": 4}}],
        "fallback": [],
    })
    # Oscar's thumbnailer (sorl-thumbnail) records each new thumbnail once, in its own table: not ours.
    _render(block, value, store["champion"])
    invalidate_storefront()
    user = type(store["champion"]).objects.get(pk=store["champion"].pk)
    with django_assert_max_num_queries(5):
        cold = _render(block, value, user)
    user = type(user).objects.get(pk=user.pk)
    with django_assert_max_num_queries(2 if segment else 1):
        warm = _render(block, value, user)
    assert "product_pod" in cold and cold == warm


def test_a_stream_of_blocks_renders_in_one_pass(store, django_assert_max_num_queries):
    """Chooser blocks load their products in one query for the whole stream."""
    from wagtail.blocks import StreamBlock

    stream = StreamBlock([("together", BoughtTogetherBlock()), ("picks", RecommendedProductsBlock())])
    raw = [{"type": "together", "value": {"title": "", "count": 2, "product": product.pk}}
           for product in store["products"][:3]]
    request = storefront_request(AnonymousUser())
    stream.render(StreamValue(stream, raw, is_lazy=True), context={"request": request})  # thumbnails, as above
    invalidate_storefront()
    with django_assert_max_num_queries(1 + 3 * 2):
        html = stream.render(StreamValue(stream, raw, is_lazy=True), context={"request": request})
    assert html.count("champions-products") == 3
