"""The CDNOW sample (see ``shared/data/README.md``) as an order-history file for ``champions_import``.

The sample's rows are purchases; as in Fader, Hardie & Lee (2005), one customer's purchases on one day
are merged into one transaction by default, so the imported orders count the paper's transactions
(6,696 orders from 6,919 rows). Customers are the sample ids (1-2357), given as ``customer_id`` only, so
each becomes the guest ``customer-<id>@imported.invalid``. Amounts are US dollars: the file says so in
its ``currency`` column unless ``currency=None``, which leaves the column out so the orders take the
shop's default currency. Each order gets one line of ``product_title`` with the number of CDs (no
line when ``product_title=None``).
"""

import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

CDNOW_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow"
CDNOW_SAMPLE = CDNOW_DIR / "CDNOW_sample.txt"


@dataclass
class CdnowOrder:
    """One transaction of the sample (or one purchase when same-day purchases are not merged)."""

    customer_id: int
    day: date
    quantity: int
    total: Decimal
    number: str


def read_cdnow_orders(merge_same_day=True):
    """The sample's transactions in file order (by customer, then date)."""
    orders = {}
    with open(CDNOW_SAMPLE) as file:
        for position, line in enumerate(file):
            _master_id, customer_id, day, quantity, total = line.split()
            customer_id, day = int(customer_id), datetime.strptime(day, "%Y%m%d").date()
            key = (customer_id, day) if merge_same_day else (customer_id, day, position)
            order = orders.get(key)
            if order is None:
                number = f"CDNOW-{customer_id:04d}-{day:%Y%m%d}"
                if not merge_same_day:
                    number += f"-{position + 1}"
                orders[key] = CdnowOrder(customer_id, day, int(quantity), Decimal(total), number)
            else:
                order.quantity += int(quantity)
                order.total += Decimal(total)
    return list(orders.values())


def write_cdnow_csv(path, *, merge_same_day=True, currency="USD", product_title="Compact disc"):
    """Write the sample as an importable CSV file at ``path`` and return the path."""
    columns = ["customer_id", "order_number", "date", "total", "quantity"]
    columns += ["product_title"] if product_title else []
    columns += ["currency"] if currency else []
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for order in read_cdnow_orders(merge_same_day):
            row = [order.customer_id, order.number, order.day.isoformat(), order.total, order.quantity]
            row += [product_title] if product_title else []
            row += [currency] if currency else []
            writer.writerow(row)
    return path
