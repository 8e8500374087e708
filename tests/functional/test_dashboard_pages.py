"""The Champions dashboard driven like a member of staff would: overview, builder, segments, exports, card."""

import csv
import io
import re
from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_champions.filters import segments_containing
from oscar_champions.metrics import refresh_metrics
from oscar_champions.models import CountedOrder, CustomerMetrics, RefreshRun, SavedSegment
from tests.factories import CustomerFactory, place_order
from tests.functional.conftest import _days_ago

pytestmark = pytest.mark.django_db


def url(name, **kwargs):
    return reverse(f"champions-dashboard:{name}", kwargs=kwargs)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _csv(response):
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_overview_shows_kpis_stages_heat_map_and_the_model(staff_client, shop):
    response = staff_client.get(url("champions-overview"))
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Total customers", "Repeat customers", "Average days between purchases", "Average lifetime value",
                 "Lifecycle stages", "RFM groups", "Reward them", "champions-heat-map", "<svg", "Refresh now"):
        assert text in page, text
    stages = {row["segment"]: row["customers"] for row in response.context["stages"]}
    assert sum(stages.values()) == 3
    assert response.context["kpi_cards"][0]["kpi"].current == 3


def test_overview_query_count_does_not_grow_with_the_customers(staff_client, shop, django_assert_max_num_queries):
    with django_assert_max_num_queries(25):
        staff_client.get(url("champions-overview") + "?period=30")
    for n in range(20):
        place_order(guest_email=f"more{n}@example.com", total="10.00", placed=_days_ago(n + 1))
    refresh_metrics()
    with django_assert_max_num_queries(25):
        assert staff_client.get(url("champions-overview") + "?period=30").status_code == 200


@pytest.mark.parametrize("query", [
    "period=custom&start=2026-02-30&end=2026-03-01",
    "period=custom&start=2026-05-01&end=2026-04-01",
    "period=custom&start=1900-01-01&end=2026-01-01",
    "period=custom",
    "period=bogus",
])
def test_a_bad_period_is_a_form_error(staff_client, shop, query):
    response = staff_client.get(url("champions-overview") + "?" + query)
    assert response.status_code == 200
    assert not response.context["period_form"].is_valid()


def test_refresh_button_queues_a_refresh(staff_client, shop, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    from oscar_champions.models import RefreshRun

    before = RefreshRun.objects.count()
    response = staff_client.post(url("champions-refresh"), follow=True)
    assert response.status_code == 200
    assert RefreshRun.objects.count() == before + 1
    assert "queued" in response.content.decode()


def test_builder_lists_the_members_of_its_conditions(staff_client, shop):
    response = staff_client.get(url("champions-builder") + "?revenue_min=300")
    assert response.status_code == 200
    members = response.context["members"]
    assert [row.record.email for row in members.page.object_list] == ["ana@example.com"]
    assert "1 customer matches" in response.content.decode()


# With the incremental updates off, the counted orders of the refresh may miss later orders: the buyers are
# then counted from Oscar's orders.
# On PostgreSQL, the counted orders' buyers are listed by id, unless there are more than MAX_LISTED_BUYERS.
@pytest.mark.parametrize("incremental, listed", [(True, 5000), (True, 0), (False, 5000)],
                         ids=["counted orders", "counted orders, too many to list", "Oscar's orders"])
def test_builder_counts_purchases_in_a_category_within_a_window(
    staff_client, shop, incremental, listed, settings, monkeypatch
):
    settings.OSCAR_CHAMPIONS_INCREMENTAL_UPDATES = incremental
    monkeypatch.setattr("oscar_champions.filters.MAX_LISTED_BUYERS", listed)
    # Ana bought coffee 200, 90 and 10 days ago: twice in the last 100 days, once in the last 60.
    category = shop["category"].pk
    twice = staff_client.get(url("champions-count") + f"?bought_category={category}&bought_at_least=2"
                             "&bought_within=100")
    assert twice.json()["count"] == 1
    thrice = staff_client.get(url("champions-count") + f"?bought_category={category}&bought_at_least=2"
                              "&bought_within=60")
    assert thrice.json()["count"] == 0
    anything = staff_client.get(url("champions-count") + "?bought_at_least=1&bought_within=60")
    assert anything.json()["count"] == 2  # Ana (10 days ago) and the guest Bia (30 days ago)
    ever = staff_client.get(url("champions-count") + f"?bought_product={shop['product'].pk}&bought_at_least=3")
    assert ever.json()["count"] == 1  # Ana, ever


@pytest.mark.parametrize("incremental", [True, False], ids=["counted orders", "Oscar's orders"])
def test_a_customers_segments_with_purchase_conditions_count_that_customers_orders(
    shop, incremental, settings, monkeypatch
):
    settings.OSCAR_CHAMPIONS_INCREMENTAL_UPDATES = incremental
    category = str(shop["category"].pk)
    segments = [
        SavedSegment.objects.create(name=name, filters=filters) for name, filters in [
            ("Coffee twice in 100 days", {"bought_category": [category], "bought_at_least": ["2"],
                                          "bought_within": ["100"]}),
            ("Coffee twice in 60 days", {"bought_category": [category], "bought_at_least": ["2"],
                                         "bought_within": ["60"]}),
            ("Bought in the last 60 days", {"bought_within": ["60"]}),
            ("Bought the coffee 3 times", {"bought_product": [str(shop["product"].pk)], "bought_at_least": ["3"]}),
        ]
    ]
    bia = CustomerMetrics.objects.get(email="bia@example.com")
    carlos = CustomerMetrics.objects.get(email="carlos@example.com")
    listed = []  # what filters._listed read: never every buyer, for one customer
    monkeypatch.setattr("oscar_champions.filters._listed", lambda ids: listed.append(ids.model) or list(ids))
    assert [segment.name for segment in segments_containing(shop["ana"], segments)] == [
        "Coffee twice in 100 days", "Bought in the last 60 days", "Bought the coffee 3 times",
    ]
    assert [segment.name for segment in segments_containing(bia, segments)] == ["Bought in the last 60 days"]
    assert segments_containing(carlos, segments) == []
    assert CountedOrder not in listed


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL storage parameter")
def test_the_metrics_table_is_scanned_without_parallel_workers():
    # Otherwise every worker builds its own hash of a purchase-window condition's buyers (migration 0007).
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [CustomerMetrics._meta.db_table])
        assert "parallel_workers=0" in cursor.fetchone()[0]


@pytest.mark.parametrize("query, field", [
    ("orders_min=abc", "orders"),
    ("revenue_min=500&revenue_max=100", "revenue"),
    ("last_order_at_after=2023-02-30", "last_order_at"),
    ("lifecycle_stage=nobody", "lifecycle_stage"),
    ("bought_category=999999", "bought_category"),
    ("revenue_min=1e999", "revenue"),
])
def test_invalid_conditions_are_form_errors(staff_client, shop, query, field):
    response = staff_client.get(url("champions-builder") + "?" + query)
    assert response.status_code == 200
    assert field in response.context["filter"].errors
    assert "members" not in response.context
    count = staff_client.get(url("champions-count") + "?" + query)
    assert count.status_code == 400
    assert field in count.json()["errors"]


def test_an_oversized_page_or_unknown_sort_is_never_a_server_error(staff_client, shop):
    for query in ("page=99999", "page=-1", "page=abc", "sort=nonsense", "sort=-revenue&page=2"):
        assert staff_client.get(url("champions-builder") + "?" + query).status_code in (200, 404)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(
    st.sampled_from(["revenue_min", "revenue_max", "orders_min", "last_order_at_after", "lifecycle_stage",
                     "bought_within", "bought_at_least", "probability_alive_max", "page", "sort", "q",
                     "registered", "is_champion", "first_order_within", "bought_category"]),
    st.text(max_size=12),
    max_size=5,
))
def test_random_query_strings_never_break_the_list_or_the_count(staff_client, shop, params):
    from urllib.parse import urlencode

    query = urlencode(params)
    assert staff_client.get(url("champions-builder") + "?" + query).status_code in (200, 404)
    assert staff_client.get(url("champions-count") + "?" + query).status_code in (200, 400)


def test_members_page_query_count_does_not_grow(staff_client, shop, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        staff_client.get(url("champions-builder") + "?orders_min=1")
    for n in range(30):
        place_order(user=CustomerFactory(), total="50.00", placed=_days_ago(n + 1))
    refresh_metrics()
    with django_assert_max_num_queries(12):
        response = staff_client.get(url("champions-builder") + "?orders_min=1&sort=-predicted_value_365d")
    assert response.context["members"].page.paginator.count == 33


def test_saving_a_segment_keeps_its_conditions(staff_client, shop, staff):
    response = staff_client.post(
        url("champions-builder") + "?revenue_min=100&lifecycle_stage=champions&lifecycle_stage=loyal&page=2",
        {"name": "Good customers", "description": "Spent 100 or more"},
    )
    segment = SavedSegment.objects.get(name="Good customers")
    assert response.status_code == 302
    assert response["Location"] == url("champions-segment-detail", pk=segment.pk)
    assert segment.filters == {"revenue_min": ["100"], "lifecycle_stage": ["champions", "loyal"]}
    assert segment.created_by == staff
    detail = staff_client.get(response["Location"])
    assert "Spent 100 or more" in detail.content.decode()
    assert ("Revenue", "100 – …") in detail.context["conditions"]


def test_saving_needs_a_name_and_valid_conditions(staff_client, shop):
    assert staff_client.post(url("champions-builder") + "?revenue_min=1", {"name": ""}).status_code == 200
    assert staff_client.post(url("champions-builder") + "?revenue_min=x", {"name": "X"}).status_code == 200
    assert not SavedSegment.objects.filter(name="X").exists()


def test_editing_a_segment_starts_from_its_saved_conditions(staff_client, shop):
    segment = shop["segment"]
    response = staff_client.get(url("champions-segment-update", pk=segment.pk))
    assert response.context["filter"].form["revenue"].value() == ["300", None]
    staff_client.post(url("champions-segment-update", pk=segment.pk) + "?revenue_min=50",
                      {"name": "Spent 50+", "description": ""})
    segment.refresh_from_db()
    assert (segment.name, segment.filters) == ("Spent 50+", {"revenue_min": ["50"]})


def test_segment_list_duplicate_and_delete(staff_client, shop):
    segment = shop["segment"]
    listing = staff_client.get(url("champions-segment-list"))
    assert listing.context["rows"][0]["count"] == 1
    copy_response = staff_client.post(url("champions-segment-duplicate", pk=segment.pk))
    copy = SavedSegment.objects.exclude(pk=segment.pk).get()
    assert copy.name == "Copy of Big spenders" and copy.filters == segment.filters
    assert copy_response["Location"] == url("champions-segment-update", pk=copy.pk)
    assert staff_client.get(url("champions-segment-delete", pk=copy.pk)).status_code == 200
    staff_client.post(url("champions-segment-delete", pk=copy.pk))
    assert not SavedSegment.objects.filter(pk=copy.pk).exists()


def test_segment_list_keeps_its_counts_until_the_conditions_change_or_a_refresh(
    staff_client, shop, django_assert_max_num_queries
):
    segment = shop["segment"]
    assert staff_client.get(url("champions-segment-list")).context["rows"][0]["count"] == 1  # Ana, 350
    CustomerMetrics.objects.filter(email="bia@example.com").update(revenue=500)
    with django_assert_max_num_queries(12) as captured:
        assert staff_client.get(url("champions-segment-list")).context["rows"][0]["count"] == 1  # kept
    metrics = CustomerMetrics._meta.db_table
    assert not any("COUNT(" in query["sql"] and metrics in query["sql"] for query in captured.captured_queries)
    segment.filters = {"revenue_min": ["301"]}
    segment.save()
    assert staff_client.get(url("champions-segment-list")).context["rows"][0]["count"] == 2  # new conditions
    segment.filters = {"revenue_min": ["300"]}
    segment.save()
    assert staff_client.get(url("champions-segment-list")).context["rows"][0]["count"] == 1  # kept
    place_order(guest_email="bia@example.com", total="250.00", placed=_days_ago(1))
    refresh_metrics()  # Bia: 310
    assert staff_client.get(url("champions-segment-list")).context["rows"][0]["count"] == 2


def test_segment_list_kept_counts_of_purchase_conditions_read_no_orders(staff_client, shop):
    for name, filters in [
        ("Regulars", {"bought_at_least": ["2"], "bought_within": ["60"]}),
        ("Coffee buyers", {"bought_category": [str(shop["category"].pk)], "bought_within": ["90"]}),
        ("Bought the coffee", {"bought_product": [str(shop["product"].pk)]}),
    ]:
        SavedSegment.objects.create(name=name, filters=filters)
    staff_client.get(url("champions-segment-list"))  # counted

    with CaptureQueriesContext(connection) as captured:
        rows = staff_client.get(url("champions-segment-list")).context["rows"]

    assert all(row["valid"] and row["count"] is not None for row in rows) and len(rows) == 4
    # A kept count is not counted again, and a purchase condition's buyers are not looked for: the page reads
    # no order and asks for the last refresh once.
    read = " ".join(query["sql"] for query in captured.captured_queries)
    assert not any(table in read for table in (CountedOrder._meta.db_table, '"order_order"', '"order_line"'))
    assert read.count(f'FROM "{RefreshRun._meta.db_table}"') == 1


def test_unknown_segment_is_a_404(staff_client, shop):
    for name in ("champions-segment-detail", "champions-segment-update", "champions-segment-export",
                 "champions-segment-delete"):
        assert staff_client.get(url(name, pk=987654)).status_code == 404
    assert staff_client.get(url("champions-customer", pk=987654)).status_code == 404


def test_a_segment_whose_category_was_deleted_says_so(staff_client, shop):
    segment = SavedSegment.objects.create(name="Coffee lovers", filters={"bought_category": [str(shop["category"].pk)]})
    assert staff_client.get(url("champions-segment-detail", pk=segment.pk)).context["members"] is not None
    shop["category"].delete()
    detail = staff_client.get(url("champions-segment-detail", pk=segment.pk))
    assert detail.status_code == 200
    assert "no longer hold" in detail.content.decode()
    listing = staff_client.get(url("champions-segment-list"))
    assert "Conditions no longer valid" in listing.content.decode()
    export = staff_client.get(url("champions-segment-export", pk=segment.pk))
    assert export.status_code == 302


def test_csv_export_streams_members_safely_with_a_telling_name(staff_client, shop):
    response = staff_client.get(url("champions-builder-export") + "?orders_min=1")
    assert response.streaming
    assert re.search(r'filename="customers-\d{4}-\d{2}-\d{2}\.csv"', response["Content-Disposition"])
    rows = _csv(response)
    assert rows[0][:3] == ["E-mail", "First name", "Last name"]
    assert len(rows) == 1 + 3
    carlos = next(row for row in rows if row[0] == "carlos@example.com")
    assert carlos[1] == "'=HYPERLINK(\"x\")"
    segment = staff_client.get(url("champions-segment-export", pk=shop["segment"].pk))
    today = timezone.localdate().isoformat()
    assert f'filename="big-spenders-{today}.csv"' in segment["Content-Disposition"]
    assert [row[0] for row in _csv(segment)[1:]] == ["ana@example.com"]


def test_csv_export_gives_the_days_of_the_first_and_last_orders_in_the_shops_time_zone(staff_client, shop, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    late_evening = datetime(2026, 3, 2, 1, 30, tzinfo=dt_timezone.utc)  # 1 March, 22:30 in São Paulo
    CustomerMetrics.objects.filter(pk=shop["ana"].pk).update(first_order_at=late_evening, last_order_at=late_evening)
    rows = _csv(staff_client.get(url("champions-builder-export") + "?orders_min=1"))
    ana = next(row for row in rows if row[0] == "ana@example.com")
    first, last = rows[0].index("First order"), rows[0].index("Last order")
    assert (ana[first], ana[last]) == ("2026-03-01", "2026-03-01")


def test_customer_card_explains_the_customer(staff_client, shop):
    response = staff_client.get(url("champions-customer", pk=shop["ana"].pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert len(response.context["orders"]) == 3
    assert "Café especial" in page
    assert shop["segment"] in response.context["saved_segments"]
    assert reverse("dashboard:user-detail", kwargs={"pk": shop["ana"].user_id}) in page


def test_names_are_escaped(staff_client, shop):
    page = staff_client.get(url("champions-builder") + "?orders_min=1").content.decode()
    assert "=HYPERLINK(&quot;x&quot;) Lima" in page or "=HYPERLINK(&quot;x&quot;)" in page


def test_the_dashboard_menu_links_to_the_segments(staff_client, shop):
    page = staff_client.get(reverse("dashboard:index")).content.decode()
    assert url("champions-overview") in page


def test_oscars_customer_page_shows_the_champions_panel(client, shop):
    client.force_login(CustomerFactory(is_staff=True, is_superuser=True))  # Oscar's page asks for view_user
    page = client.get(reverse("dashboard:user-detail", kwargs={"pk": shop["ana"].user_id})).content.decode()
    assert "champions-panel" in page
    assert url("champions-customer", pk=shop["ana"].pk) in page


def test_champion_filter_and_names_of_accounts_without_one(staff_client, shop):
    from oscar_champions.models import CustomerMetrics

    champions = CustomerMetrics.objects.filter(is_champion=True).count()
    assert staff_client.get(url("champions-count") + "?is_champion=true").json()["count"] == champions
    assert staff_client.get(url("champions-count") + "?is_champion=false").json()["count"] == 3 - champions
    assert staff_client.get(url("champions-count") + "?is_champion=").json()["count"] == 3
    shop["ana"].user.first_name = shop["ana"].user.last_name = ""
    shop["ana"].user.save()
    page = staff_client.get(url("champions-builder") + "?orders_min=1").content.decode()
    assert reverse("dashboard:user-detail", kwargs={"pk": shop["ana"].user_id}) in page
