"""Benchmark of the best-customers report on PostgreSQL: the report against the bare SQL it needs, and the PDF.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/champions_bench_report \\
        python benchmarks/bench_report.py [--runs 3]

Needs a database with the demo store and a refresh (see the README). Prints one table, medians of
``--runs`` runs, each figure next to a baseline measured in the same run:

* the report for the one-year window ending today (ranking by revenue, comparison with the previous
  year, concentration) against the bare SQL GROUP BY over the same two years of orders, per customer key;
* the same report with the champion profile, against those SQL statements plus the bare GROUP BY of the
  year's lines by product;
* the 100-row PDF, end to end (report and rendering);
* the report with the champion profile for the last 30 days, against the same bare SQL for that month.
"""

import argparse
import statistics

from harness import setup, timed

#: Per-customer sums of both periods, keyed like oscar_champions.customers, written by hand.
BARE_ORDERS_SQL = """
SELECT COALESCE(NULLIF(LOWER(TRIM(u.email)), ''), '#user-' || u.id::text, NULLIF(LOWER(TRIM(o.guest_email)), ''))
           AS customer_key,
       COUNT(*) FILTER (WHERE o.date_placed >= %(start)s),
       SUM(o.total_incl_tax) FILTER (WHERE o.date_placed >= %(start)s),
       MAX(o.date_placed) FILTER (WHERE o.date_placed >= %(start)s),
       COUNT(*) FILTER (WHERE o.date_placed < %(start)s),
       SUM(o.total_incl_tax) FILTER (WHERE o.date_placed < %(start)s)
FROM order_order o LEFT JOIN auth_user u ON u.id = o.user_id
WHERE o.status <> 'Cancelled' AND o.currency = %(currency)s AND o.date_placed BETWEEN %(previous)s AND %(end)s
GROUP BY 1
"""

#: The year's line spend per product and champion flag, written by hand.
BARE_LINES_SQL = """
SELECT (m.is_champion IS TRUE), l.product_id, SUM(l.quantity), SUM(l.line_price_incl_tax)
FROM order_line l JOIN order_order o ON o.id = l.order_id LEFT JOIN auth_user u ON u.id = o.user_id
LEFT JOIN oscar_champions_customermetrics m
       ON m.key = COALESCE(NULLIF(LOWER(TRIM(u.email)), ''), '#user-' || u.id::text,
                           NULLIF(LOWER(TRIM(o.guest_email)), ''))
WHERE o.status <> 'Cancelled' AND o.currency = %(currency)s AND o.date_placed BETWEEN %(start)s AND %(end)s
GROUP BY 1, 2
"""


def bare(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup()

    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone, translation

    from oscar_champions.customers import analysed_currency
    from oscar_champions.reports import BestCustomersReport, Period

    today = timezone.localdate()
    period, month = Period(today - timedelta(days=364), today), Period(today - timedelta(days=29), today)

    def bare_params(period):
        return {"start": period.since, "end": period.until, "previous": period.previous().since,
                "currency": analysed_currency()}

    params, month_params = bare_params(period), bare_params(month)

    def report(with_profile, period=period):
        report = BestCustomersReport(period)
        report.rows, report.concentration, report.totals, report.previous_totals
        if with_profile:
            report.profile
        return len(report._customers["orders"])

    client = Client()
    client.force_login(get_user_model().objects.filter(is_staff=True).order_by("pk").first())
    with translation.override("pt-br"):
        pdf_url = reverse("champions-dashboard:champions-report-pdf")

    def pdf():
        response = client.get(pdf_url, {"period": "custom", "start": period.start.isoformat(),
                                        "end": period.end.isoformat(), "top": "100"})
        assert response.status_code == 200, response.status_code
        return len(response.content)

    measures = {name: [] for name in ("bare_orders", "bare_lines", "report", "report_profile", "pdf",
                                      "month_bare", "month_profile")}
    bare(BARE_ORDERS_SQL, params)  # warm the caches, as a shop's database would be
    for _ in range(args.runs):
        elapsed, customers = timed(bare, BARE_ORDERS_SQL, params)
        measures["bare_orders"].append(elapsed)
        measures["bare_lines"].append(timed(bare, BARE_LINES_SQL, params)[0])
        elapsed, ranked = timed(report, False)
        measures["report"].append(elapsed)
        measures["report_profile"].append(timed(report, True)[0])
        measures["pdf"].append(timed(pdf)[0])
        measures["month_bare"].append(timed(bare, BARE_ORDERS_SQL, month_params)[0]
                                      + timed(bare, BARE_LINES_SQL, month_params)[0])
        measures["month_profile"].append(timed(report, True, month)[0])
    m = {name: statistics.median(values) for name, values in measures.items()}

    rows = [
        (f"bare SQL: orders per customer, 2 years ({customers:,} customers)", f"{m['bare_orders']:.2f} s", "", ""),
        ("bare SQL: the year's lines per product and champion", f"{m['bare_lines']:.2f} s", "", ""),
        (f"report, one year vs the previous ({ranked:,} customers)", f"{m['report']:.2f} s",
         f"{m['bare_orders']:.2f} s bare", f"{m['report'] / m['bare_orders']:.2f}x (target <= 1.5x, <= 1 s)"),
        ("report with the champion profile", f"{m['report_profile']:.2f} s",
         f"{m['bare_orders'] + m['bare_lines']:.2f} s bare",
         f"{m['report_profile'] / (m['bare_orders'] + m['bare_lines']):.2f}x"),
        ("PDF, 100 rows, end to end", f"{m['pdf']:.2f} s", "", "target <= 3 s"),
        ("report with the champion profile, last 30 days", f"{m['month_profile']:.2f} s",
         f"{m['month_bare']:.2f} s bare", f"{m['month_profile'] / m['month_bare']:.2f}x"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(f"Medians of {args.runs} runs, window {period.start} to {period.end}")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
