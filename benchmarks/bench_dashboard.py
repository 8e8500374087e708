"""Benchmark of the Champions dashboard pages on PostgreSQL, on a refreshed demo store.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/champions_bench python benchmarks/bench_dashboard.py

Serves each page through Django's test client as the demo store's staff user and prints one table: the
median server time over ``--samples`` requests, the number of queries, and a baseline measured in the
same run (the bare SQL the page cannot do without). The CSV export of every customer is streamed to
the end and its peak memory read from the kernel (VmHWM), before any other page runs.
"""

import argparse
import statistics
import sys
import time

from harness import setup


def peak_memory_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def serve(client, url):
    """Request ``url``, read the whole body (streamed or not); return (seconds, queries, status, bytes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        # A streamed body is counted chunk by chunk, not gathered, so the memory figure is the server's.
        size = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
        seconds = time.perf_counter() - start
    return seconds, len(queries), response.status_code, size


def bare(sql):
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.fetchall()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()

    setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse
    from oscar.core.loading import get_model

    from oscar_champions.kpis import store_past_figures
    from oscar_champions.metrics import latest_run
    from oscar_champions.models import CustomerMetrics, SavedSegment

    Category, Product = get_model("catalogue", "Category"), get_model("catalogue", "Product")
    customers = CustomerMetrics.objects.count()
    if not customers:
        sys.exit("No metrics: build the demo store and run champions_refresh first.")

    client = Client()
    client.force_login(get_user_model().objects.filter(is_staff=True).first())
    category = Category.objects.order_by("path").first()
    product = Product.objects.order_by("pk").first()
    # A full page of the segment list, of the kinds shops save: conditions on the metrics, on the account, and
    # on purchases (in a window, of a category, of a product).
    segments = [
        SavedSegment.objects.get_or_create(name=f"Benchmark {name}", defaults={"filters": filters})[0]
        for name, filters in [
            ("big spenders", {"revenue_min": ["300"]}),
            ("champions and loyal", {"lifecycle_stage": ["champions", "loyal"]}),
            ("5 orders in 60 days", {"bought_at_least": ["5"], "bought_within": ["60"]}),
            ("at risk, high value", {"lifecycle_stage": ["at_risk"], "predicted_value_365d_min": ["100"]}),
            ("guests", {"registered": ["guest"]}),
            ("5 orders or more", {"orders_min": ["5"]}),
            ("quiet for 6 months", {"days_since_last_order_min": ["180"]}),
            ("can't lose them", {"rfm_group": ["cant_lose_them"]}),
            ("champions", {"is_champion": ["true"]}),
            ("unlikely to return", {"probability_alive_max": ["30"]}),
            ("category in 90 days", {"bought_category": [str(category.pk)], "bought_within": ["90"]}),
            ("product twice", {"bought_product": [str(product.pk)], "bought_at_least": ["2"]}),
            ("big baskets", {"average_order_value_min": ["150"]}),
            ("bought this month", {"last_order_within": ["30"]}),
            ("new in 60 days", {"first_order_within": ["60"]}),
            ("discount lovers", {"discount_share_min": ["50"]}),
            ("named Silva", {"q": ["silva"]}),
            ("joined since 2025", {"date_joined_after": ["2025-01-01"]}),
            ("one big order", {"revenue_min": ["100"], "orders_max": ["1"]}),
            ("lost big spenders", {"lifecycle_stage": ["lost"], "revenue_min": ["500"]}),
        ]
    ]

    def route(name, **kwargs):
        return reverse(f"champions-dashboard:{name}", kwargs=kwargs)

    rows = []
    memory_before = peak_memory_mib()
    seconds, queries, status, size = serve(client, route("champions-builder-export"))
    rows.append(("CSV export, every customer", seconds, None, queries, status,
                 f"{size / 1e6:.1f} MB, peak +{peak_memory_mib() - memory_before:.0f} MiB"))
    fetch_all = bare("SELECT * FROM oscar_champions_customermetrics")
    rows[-1] = rows[-1][:2] + (fetch_all,) + rows[-1][3:]

    # The refresh stores the KPIs of the overview's preset periods; time that step on the last refresh.
    run = latest_run()
    seconds = time.perf_counter()
    store_past_figures(run)
    rows.append(("KPIs stored by the refresh (3 dates)", time.perf_counter() - seconds, None, 1, 200,
                 "part of champions_refresh"))
    # A shop's web process has served pages before the refresh: its templates are compiled. Only the
    # overview's cached KPIs are cold.
    serve(client, route("champions-overview"))
    cache.clear()
    seconds, queries, status, _size = serve(client, route("champions-overview"))
    rows.append(("Overview, cold cache", seconds, None, queries, status, "first request after a refresh"))

    # The list keeps its counts for a while, like the overview its KPIs: counted, then kept.
    samples = []
    for _ in range(args.samples):
        cache.clear()
        samples.append(serve(client, route("champions-segment-list")))
    rows.append((f"Saved segments ({len(segments)}), cold cache", statistics.median(s[0] for s in samples), None,
                 samples[-1][1], samples[-1][2], "every count counted"))

    pages = [
        ("Overview", route("champions-overview"), "SELECT lifecycle_stage, count(*), sum(revenue) "
                                                  "FROM oscar_champions_customermetrics GROUP BY 1"),
        (f"Saved segments ({len(segments)})", route("champions-segment-list"), None),
        ("Members: revenue >= 300", route("champions-builder") + "?revenue_min=300",
         "SELECT count(*) FROM oscar_champions_customermetrics WHERE revenue >= 300"),
        ("Members: page 200, by predicted value", route("champions-builder") + "?page=200&sort=-predicted_value_365d",
         None),
        ("Members: 5 orders in 60 days", route("champions-builder") + "?bought_at_least=5&bought_within=60", None),
        ("Count: revenue >= 300", route("champions-count") + "?revenue_min=300",
         "SELECT count(*) FROM oscar_champions_customermetrics WHERE revenue >= 300"),
        ("Count: champions and loyal", route("champions-count") + "?lifecycle_stage=champions&lifecycle_stage=loyal",
         "SELECT count(*) FROM oscar_champions_customermetrics WHERE lifecycle_stage IN ('champions', 'loyal')"),
        ("Saved segment page", route("champions-segment-detail", pk=segments[0].pk), None),
        ("Customer card", route("champions-customer", pk=CustomerMetrics.objects.order_by("-orders").first().pk),
         None),
    ]
    for label, url, baseline_sql in pages:
        samples = [serve(client, url) for _ in range(args.samples)]
        baseline = statistics.median(bare(baseline_sql) for _ in range(args.samples)) if baseline_sql else None
        rows.append((label, statistics.median(s[0] for s in samples), baseline, samples[-1][1], samples[-1][2], ""))

    print(f"\nDashboard on PostgreSQL, {customers:,} customers, median of {args.samples} requests\n")
    print(f"{'page':40} {'server ms':>10} {'bare SQL ms':>12} {'ratio':>7} {'queries':>8} {'status':>7}  note")
    for label, seconds, baseline, queries, status, note in rows:
        ratio = f"{seconds / baseline:.1f}" if baseline else ""
        base = f"{baseline * 1000:.0f}" if baseline else ""
        print(f"{label:40} {seconds * 1000:10.0f} {base:>12} {ratio:>7} {queries:8} {status:7}  {note}")
    SavedSegment.objects.filter(pk__in=[segment.pk for segment in segments]).delete()


if __name__ == "__main__":
    main()
