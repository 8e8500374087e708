"""The best-customers report against hand-computed fixtures: ranks, ties, the previous period, guests,
cancelled orders, channels, stages, concentration and the champion profile."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.sites.models import Site
from django.db import connection, transaction
from django.utils import timezone

from oscar_champions.metrics import refresh_metrics, update_customer
from oscar_champions.models import CustomerMetrics
from oscar_champions.reports import BestCustomersReport, Movement, Period, PeriodPreset, RankBy
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, place_order, set_champion_flag

pytestmark = pytest.mark.django_db

OCTOBER = Period(date(2026, 10, 1), date(2026, 10, 31))  # the previous period: 31 Aug – 30 Sep


@pytest.fixture
def app_site():
    return Site.objects.create(domain="app.example.com", name="App")


@pytest.fixture(params=["orders", "counted orders, lines scanned", "counted orders, lines looked up"])
def source(request, monkeypatch):
    """Each test of the shop runs on both of the report's sources: Oscar's orders, and the counted orders
    of a full refresh (``shop`` runs one after its orders), whose lines are found both ways."""
    indexed = request.param != "orders"
    monkeypatch.setattr(BestCustomersReport, "_indexed", indexed)
    monkeypatch.setattr("oscar_champions.reports.LINE_LOOKUP_SHARE", 10.0 if "looked up" in request.param else 0.0)
    return indexed


@pytest.fixture
def shop(app_site, source):
    """October, by revenue: Ana 150 and Bia 150 (tied), Carlos 120, Eva 20; Dani only bought in September.

    * Ana: two orders in October, one (300) in September.
    * Bia: a guest, one order in October.
    * Carlos: one order on his account and one as a guest with his e-mail written differently; 100 in September.
    * Dani: a guest who only ordered in September.
    * Eva: a cancelled order of 1,000 (never counts) and 20 on the app.
    """
    coffee = ProductFactory(title="Café especial", categories__category=CategoryFactory(name="Cafés"))
    ana = CustomerFactory(email="ana@example.com", first_name="Ana", last_name="Souza")
    carlos = CustomerFactory(email="carlos@example.com", first_name="Carlos", last_name="Lima")
    eva = CustomerFactory(email="eva@example.com", first_name="Eva", last_name="Rocha")
    place_order(user=ana, total="100.00", placed=date(2026, 10, 3), lines=[(coffee, 2, "100.00")])
    place_order(user=ana, total="50.00", placed=date(2026, 10, 20), lines=[(coffee, 1, "50.00")])
    place_order(user=ana, total="300.00", placed=date(2026, 9, 10))
    place_order(guest_email="bia@example.com", total="150.00", placed=date(2026, 10, 5), lines=[(coffee, 5, "150.00")])
    place_order(user=carlos, total="40.00", placed=date(2026, 10, 7), lines=[(coffee, 1, "40.00")])
    place_order(guest_email=" Carlos@Example.COM ", total="80.00", placed=date(2026, 10, 30),
                lines=[(coffee, 1, "80.00")])
    place_order(user=carlos, total="100.00", placed=date(2026, 9, 1))
    place_order(guest_email="dani@example.com", total="50.00", placed=date(2026, 9, 15))
    place_order(user=eva, total="1000.00", placed=date(2026, 10, 9), status="Cancelled")
    place_order(user=eva, total="20.00", placed=date(2026, 10, 12), site_id=app_site.pk, lines=[(coffee, 1, "20.00")])
    place_order(total="999.00", placed=date(2026, 10, 12))  # nobody: no account, no e-mail
    if source:
        refresh_metrics(as_of=timezone.make_aware(timezone.datetime(2026, 11, 1)))
    return {"ana": ana, "carlos": carlos, "eva": eva, "app": app_site}


def ranking(report):
    return [(row.email, row.rank, row.previous_rank, row.movement) for row in report.rows]


def test_ranked_by_revenue_with_ties_and_the_previous_period(shop):
    report = BestCustomersReport(OCTOBER)
    assert ranking(report) == [
        ("ana@example.com", 1, 1, Movement.SAME),
        ("bia@example.com", 1, None, Movement.NEW),
        ("carlos@example.com", 3, 2, Movement.DOWN),
        ("eva@example.com", 4, None, Movement.NEW),
    ]
    ana, bia, carlos, eva = report.rows
    assert (ana.orders, ana.revenue, ana.average_order_value) == (2, D("150.00"), D("75.00"))
    assert ana.name == "Ana Souza" and bia.name == ""
    assert ana.share == pytest.approx(150 / 440) and bia.cumulative_share == pytest.approx(300 / 440)
    assert eva.cumulative_share == pytest.approx(1)
    assert timezone.localtime(carlos.last_order_at).date() == date(2026, 10, 30)
    assert carlos.rank_change == -1 and carlos.places == 1


def test_a_guest_with_a_customers_email_is_that_customer(shop):
    carlos = next(row for row in BestCustomersReport(OCTOBER).rows if row.email == "carlos@example.com")
    assert (carlos.orders, carlos.revenue, carlos.user_id) == (2, D("120.00"), shop["carlos"].pk)


def test_totals_returning_and_lapsed_customers(shop):
    report = BestCustomersReport(OCTOBER)
    assert (report.totals.customers, report.totals.orders, report.totals.revenue) == (4, 6, D("440.00"))
    assert (report.previous_totals.customers, report.previous_totals.orders) == (3, 3)
    assert report.previous_totals.revenue == D("450.00")
    assert (report.returning_customers, report.lapsed_customers) == (2, 1)  # Ana and Carlos; Dani


def test_customers_with_orders_only_in_the_previous_period_are_not_ranked(shop):
    report = BestCustomersReport(Period(date(2026, 9, 1), date(2026, 9, 30)))
    assert ranking(report) == [
        ("ana@example.com", 1, None, Movement.NEW),
        ("carlos@example.com", 2, None, Movement.NEW),
        ("dani@example.com", 3, None, Movement.NEW),
    ]


def test_cancelled_orders_never_count(shop):
    eva = next(row for row in BestCustomersReport(OCTOBER).rows if row.email == "eva@example.com")
    assert (eva.orders, eva.revenue) == (1, D("20.00"))


@pytest.mark.parametrize(
    "rank_by, expected",
    [
        # Two orders each, tied; then one order each, tied; ties listed by revenue.
        (RankBy.ORDERS, [("ana@example.com", 1), ("carlos@example.com", 1), ("bia@example.com", 3),
                         ("eva@example.com", 3)]),
        (RankBy.AVERAGE_ORDER_VALUE, [("bia@example.com", 1), ("ana@example.com", 2), ("carlos@example.com", 3),
                                      ("eva@example.com", 4)]),
        (RankBy.ITEMS, [("bia@example.com", 1), ("ana@example.com", 2), ("carlos@example.com", 3),
                        ("eva@example.com", 4)]),
    ],
)
def test_other_rankings(shop, rank_by, expected):
    report = BestCustomersReport(OCTOBER, rank_by=rank_by)
    assert [(row.email, row.rank) for row in report.rows] == expected


def test_items_are_counted_when_ranking_by_items(shop):
    rows = {row.email: row.items for row in BestCustomersReport(OCTOBER, rank_by=RankBy.ITEMS).rows}
    assert rows == {"bia@example.com": 5, "ana@example.com": 3, "carlos@example.com": 2, "eva@example.com": 1}


def test_the_channel_filter_keeps_one_sites_orders(shop):
    report = BestCustomersReport(OCTOBER, site=shop["app"].pk)
    assert ranking(report) == [("eva@example.com", 1, None, Movement.NEW)]
    assert report.totals.revenue == D("20.00")


def test_a_tie_at_the_last_place_is_broken_by_key_however_many_are_tied(shop, monkeypatch):
    # Ana and Bia both brought 150; the tied candidates' keys are read in batches of the database's parameters.
    monkeypatch.setattr(connection.features, "max_query_params", 1)
    assert [(row.email, row.rank) for row in BestCustomersReport(OCTOBER, top=1).rows] == [("ana@example.com", 1)]


def test_top_n_cuts_the_list_but_not_the_ranks_or_totals(shop):
    report = BestCustomersReport(OCTOBER, top=2)
    assert [row.email for row in report.rows] == ["ana@example.com", "bia@example.com"]
    assert report.totals.customers == 4


def test_the_stage_filter_keeps_one_lifecycle_stage(shop):
    refresh_metrics(as_of=timezone.make_aware(timezone.datetime(2026, 10, 31, 23, 0)))
    stages = dict(CustomerMetrics.objects.values_list("key", "lifecycle_stage"))
    stage = stages["carlos@example.com"]
    report = BestCustomersReport(OCTOBER, stage=stage)
    expected = sorted(key for key, value in stages.items() if value == stage and key != "dani@example.com")
    assert sorted(row.key for row in report.rows) == expected
    assert all(row.lifecycle_stage == stage for row in report.rows)


def test_concentration(shop):
    concentration = BestCustomersReport(OCTOBER).concentration
    assert concentration.customers == 4
    # Four customers: the top 1%, 10% and 20% are each the best one, who brought 150 of 440.
    assert [(share, count) for share, count, _ in concentration.tops] == [(0.01, 1), (0.10, 1), (0.20, 1)]
    assert concentration.tops[0][2] == pytest.approx(150 / 440)
    assert concentration.curve[0] == (0.0, 0.0) and concentration.curve[-1] == (1.0, pytest.approx(1.0))
    assert concentration.curve[50] == (0.5, pytest.approx(300 / 440))


def test_champion_profile_compares_champions_with_everyone_else(shop):
    refresh_metrics(as_of=timezone.make_aware(timezone.datetime(2026, 10, 31, 23, 0)))
    set_champion_flag(CustomerMetrics.objects.all(), False)
    set_champion_flag(CustomerMetrics.objects.filter(key="ana@example.com"))
    profile = BestCustomersReport(OCTOBER).profile
    figures = {str(figure.label): figure for figure in profile.figures}
    assert (figures["Customers"].champions, figures["Customers"].others) == (1, 3)
    assert figures["Average order value"].values == [D("75.00"), D("290.00") / 4]
    # Ana spent 150 on 3 items; the others 290 on 8.
    assert figures["Average item price"].values == [D("50.00"), D("36.25")]
    assert figures["Share of the period's revenue"].champions == pytest.approx(150 / 440)
    assert profile.champions.categories == [("Cafés", D("150.00"), 1.0)]
    assert profile.others.products[0][:2] == ("Café especial", D("290.00"))


def test_champion_profile_counts_a_champions_guest_checkouts_and_follows_the_stage_filter(shop):
    refresh_metrics(as_of=timezone.make_aware(timezone.datetime(2026, 10, 31, 23, 0)))
    set_champion_flag(CustomerMetrics.objects.all(), False)
    set_champion_flag(CustomerMetrics.objects.filter(key="carlos@example.com"))
    # Carlos's October lines: 40 on his account and 80 as a guest with his e-mail, one item each.
    figures = {str(figure.label): figure for figure in BestCustomersReport(OCTOBER).profile.figures}
    assert figures["Average item price"].values == [D("60.00"), (D("320.00") / 9).quantize(D("0.01"))]
    stage = CustomerMetrics.objects.get(key="carlos@example.com").lifecycle_stage
    same_stage = set(CustomerMetrics.objects.filter(lifecycle_stage=stage).values_list("key", flat=True))
    spend = {"ana@example.com": D("150.00"), "bia@example.com": D("150.00"), "eva@example.com": D("20.00")}
    others = sum((amount for key, amount in spend.items() if key in same_stage), D(0))
    profile = BestCustomersReport(OCTOBER, stage=stage).profile
    assert profile.champions.products == [("Café especial", D("120.00"), 1.0)]
    assert profile.others.products == ([("Café especial", others, 1.0)] if others else [])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner settings")
def test_the_reports_planner_settings_end_with_its_queries(shop, monkeypatch):
    monkeypatch.setattr("oscar_champions.reports.LINE_LOOKUP_SHARE", 10.0)  # lines looked up: no hash joins
    refresh_metrics(as_of=timezone.make_aware(timezone.datetime(2026, 10, 31, 23, 0)))

    def planner():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('jit'), "
                           "current_setting('work_mem')")
            return cursor.fetchone()

    before = planner()
    with transaction.atomic():  # as in a shop with ATOMIC_REQUESTS: the report's blocks are savepoints
        assert BestCustomersReport(OCTOBER).profile.figures
        assert planner() == before


def test_empty_period():
    report = BestCustomersReport(OCTOBER)
    assert report.rows == [] and report.totals.revenue == 0
    assert report.concentration.curve == [] and report.profile.figures[0].values == [0, 0]


def test_presets():
    today = date(2026, 11, 22)
    assert Period.from_preset(PeriodPreset.THIS_MONTH, today) == Period(date(2026, 11, 1), today)
    assert Period.from_preset(PeriodPreset.LAST_MONTH, today) == Period(date(2026, 10, 1), date(2026, 10, 31))
    assert Period.from_preset(PeriodPreset.LAST_90_DAYS, today).days == 90
    assert Period.from_preset(PeriodPreset.THIS_YEAR, today) == Period(date(2026, 1, 1), today)
    assert Period.from_preset(PeriodPreset.LAST_YEAR, today) == Period(date(2025, 1, 1), date(2025, 12, 31))
    assert OCTOBER.previous() == Period(date(2026, 8, 31), date(2026, 9, 30))


@pytest.mark.parametrize("run_as_of, incremental, expected", [
    (None, True, False),  # no refresh yet
    (date(2026, 11, 1), True, True),  # the refresh covers the period
    (date(2026, 10, 20), True, False),  # a backdated refresh that ends within the period
    ("now", True, True),  # later orders are added as they are placed
    ("now", False, False),  # ... unless the incremental updates are off
])
def test_the_counted_orders_are_read_when_they_cover_the_period(run_as_of, incremental, expected, settings):
    settings.OSCAR_CHAMPIONS_INCREMENTAL_UPDATES = incremental
    if run_as_of is not None:
        as_of = timezone.now() if run_as_of == "now" else timezone.make_aware(
            timezone.datetime.combine(run_as_of, timezone.datetime.min.time())
        )
        refresh_metrics(as_of=as_of)
    period = Period(date(2026, 10, 1), timezone.localdate()) if run_as_of == "now" else OCTOBER
    assert BestCustomersReport(period)._indexed is expected


def test_an_order_placed_after_the_refresh_reaches_the_counted_orders_report(app_site):
    ana = CustomerFactory(email="ana@example.com")
    place_order(user=ana, total="100.00", placed=timezone.localdate() - timedelta(days=3))
    refresh_metrics()
    # Now, not at noon (place_order's time for a date), which before noon is still to come.
    place_order(user=ana, total="30.00", placed=timezone.now(), site_id=app_site.pk)
    update_customer("ana@example.com", user_id=ana.pk)  # what the order_placed signal does
    place_order(guest_email="bia@example.com", total="20.00", placed=timezone.now())  # a new customer
    update_customer("bia@example.com")

    report = BestCustomersReport(Period(timezone.localdate() - timedelta(days=6), timezone.localdate()))
    assert report._indexed
    row, newcomer = report.rows
    assert (row.orders, row.revenue) == (2, D("130.00"))
    assert (newcomer.email, newcomer.revenue) == ("bia@example.com", D("20.00"))
    assert timezone.localtime(row.last_order_at).date() == timezone.localdate()
    assert BestCustomersReport(report.period, site=app_site.pk).totals.revenue == D("30.00")
