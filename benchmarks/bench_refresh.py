"""Benchmark of the metrics engine on PostgreSQL: full refresh, incremental update, memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/champions_bench \\
        python benchmarks/bench_refresh.py [--build 100000 1000000] [--memory-urls URL ...]

``--build`` first fills an empty database with the demo store (customers, orders). Prints one table; every
figure is compared with a baseline measured in the same run:

* the full refresh (what ``champions_refresh`` runs: the metrics, the overview's past KPIs and the product
  affinities), and its metrics part, against the bare per-customer GROUP BY over the same orders, and
  against a naive per-customer ORM loop timed on a slice of customers and extrapolated. The refresh timed is
  a nightly one: it follows a refresh as of a day earlier, so that it finds a day's new orders and the
  customers whose segments change with the day. That earlier refresh is timed too, as a shop's first: its
  metrics and counted orders are emptied before it;
* the incremental update of one customer (median, registered and guest) against the full refresh;
* with ``--memory-urls``, the peak memory of a refresh on each of those databases (e.g. 10k and 100k
  customers), each in a fresh process.
"""

import argparse
import os
import statistics
import subprocess
import sys
from datetime import timedelta

from harness import ROOT, setup, timed


def bare_group_by():
    """The per-customer GROUP BY the refresh cannot do without, in plain SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(NULLIF(LOWER(TRIM(u.email)), ''), NULLIF(LOWER(TRIM(o.guest_email)), '')) AS k,
                   COUNT(*), SUM(o.total_incl_tax), MIN(o.date_placed), MAX(o.date_placed)
            FROM order_order o LEFT JOIN auth_user u ON u.id = o.user_id
            WHERE o.status <> 'Cancelled'
            GROUP BY 1
            """
        )
        return len(cursor.fetchall())


def naive_loop(keys):
    """A per-customer ORM loop: what the refresh would be without set-based queries."""
    from django.db.models import Count, Max, Min, Sum
    from oscar.core.loading import get_model

    Order = get_model("order", "Order")
    Line = get_model("order", "Line")
    for user_id in keys:
        orders = Order.objects.filter(user_id=user_id).exclude(status="Cancelled")
        orders.aggregate(n=Count("id"), revenue=Sum("total_incl_tax"), first=Min("date_placed"),
                         last=Max("date_placed"))
        Line.objects.filter(order__in=orders).aggregate(items=Sum("quantity"),
                                                        products=Count("product_id", distinct=True))


def incremental(samples):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from oscar_champions.metrics import update_customer

    times, queries = [], []
    for key, user_id in samples:
        with CaptureQueriesContext(connection) as captured:
            elapsed, _ = timed(update_customer, key, user_id=user_id)
        times.append(elapsed)
        queries.append(len(captured))
    return statistics.median(times), max(queries)


def peak_memory(url):
    """Peak resident memory (MiB) of a fresh process before and after a full refresh on ``url``.

    Read from VmHWM, which starts afresh at exec (ru_maxrss would carry over this process's own peak).
    """
    code = (
        "import django, re; django.setup();"
        "from oscar_champions.refresh import refresh_everything;"
        "peak = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1));"
        "before = peak(); run = refresh_everything();"
        "print(run.customers, before, peak())"
    )
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(ROOT))
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if output.returncode:
        sys.exit(f"The refresh on {url} failed:\n{output.stderr}")
    customers, before, after = (int(value) for value in output.stdout.split()[-3:])
    return customers, before / 1024, after / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", nargs=2, type=int, metavar=("CUSTOMERS", "ORDERS"))
    parser.add_argument("--slice", type=int, default=5000, help="customers in the naive loop's slice")
    parser.add_argument("--samples", type=int, default=200, help="customers updated incrementally")
    parser.add_argument("--memory-urls", nargs="*", default=[])
    args = parser.parse_args()
    setup()

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from oscar.core.loading import get_model

    from oscar_champions.models import CountedOrder, CustomerMetrics
    from oscar_champions.refresh import refresh_everything

    Order = get_model("order", "Order")
    if args.build:
        customers, orders = args.build
        if not Order.objects.exists():
            call_command("migrate", verbosity=0)
            call_command("champions_demo", customers=customers, orders=orders)
    n_orders = Order.objects.count()

    rows = []
    bare, n_customers = timed(bare_group_by)
    rows.append(("bare per-customer GROUP BY (SQL)", f"{bare:.2f} s", "", ""))
    with connection.cursor() as cursor:
        tables = (CustomerMetrics._meta.db_table, CountedOrder._meta.db_table)
        cursor.execute(f"TRUNCATE {', '.join(connection.ops.quote_name(table) for table in tables)}")
    first, _ = timed(refresh_everything, as_of=timezone.now() - timedelta(days=1))  # last night's
    full, run = timed(refresh_everything)
    rows.append((f"full refresh ({run.customers:,} customers, {n_orders:,} orders)", f"{full:.2f} s",
                 f"{bare:.2f} s bare GROUP BY", f"{full / bare:.1f}x"))
    metrics = run.duration.total_seconds()
    rows.append(("  of which the metrics", f"{metrics:.2f} s", f"{bare:.2f} s bare GROUP BY", f"{metrics / bare:.1f}x"))
    rows.append(("  the first, into empty tables (a day earlier)", f"{first:.2f} s", f"{bare:.2f} s bare GROUP BY",
                 f"{first / bare:.1f}x"))

    user_ids = list(
        CustomerMetrics.objects.filter(user__isnull=False).order_by("key").values_list("user_id", flat=True)
        [: args.slice]
    )
    loop, _ = timed(naive_loop, user_ids)
    extrapolated = loop / max(len(user_ids), 1) * run.customers
    rows.append((f"naive ORM loop, {len(user_ids):,} customers", f"{loop:.2f} s",
                 f"extrapolated to all: {extrapolated:.0f} s", f"refresh {extrapolated / full:.0f}x faster"))

    for label, registered in (("registered", True), ("guest", False)):
        sample = list(
            CustomerMetrics.objects.filter(user__isnull=not registered).order_by("?")
            .values_list("key", "user_id")[: args.samples]
        )
        median, queries = incremental(sample)
        rows.append((f"incremental update, {label} (median of {len(sample)})", f"{median * 1000:.1f} ms",
                     f"{queries} queries max", f"{full / median:.0f}x cheaper than a full refresh"))

    for url in args.memory_urls:
        customers, before, after = peak_memory(url)
        rows.append((f"peak memory, refresh of {customers:,} customers", f"{after:.0f} MiB",
                     f"{before:.0f} MiB after django.setup()", f"+{after - before:.0f} MiB"))

    widths = [max(len(str(row[i])) for row in rows + [("measure", "value", "baseline", "ratio")])
              for i in range(4)]
    header = ("measure", "value", "baseline", "ratio")
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(f"\n{n_customers:,} customer keys by bare SQL, {run.customers:,} by the refresh")


if __name__ == "__main__":
    main()
