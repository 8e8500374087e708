"""``manage.py champions_import``: past orders from a CSV file into Oscar."""

import csv
import tracemalloc
from datetime import datetime
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import timezone
from oscar.core.loading import get_model

from oscar_champions.importer import OrderHistoryImporter
from tests.cdnow import CDNOW_SAMPLE, read_cdnow_orders, write_cdnow_csv
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, place_order

Order = get_model("order", "Order")
Line = get_model("order", "Line")
Product = get_model("catalogue", "Product")
Category = get_model("catalogue", "Category")

HEADER = "customer_id,email,order_number,date,total"


def write(tmp_path, text, name="orders.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def run(path, *args, **options):
    """Run the command; return what it wrote to stdout and stderr."""
    stdout, stderr = StringIO(), StringIO()
    call_command("champions_import", str(path), *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def run_failing(path, *args):
    stderr = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("champions_import", str(path), *args, stdout=StringIO(), stderr=stderr)
    return str(failure.value), stderr.getvalue()


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    return write_cdnow_csv(tmp_path_factory.mktemp("cdnow") / "cdnow.csv")


@pytest.mark.django_db
def test_cdnow_sample_is_imported_once(cdnow_csv):
    source_total = sum(D(line.split()[4]) for line in CDNOW_SAMPLE.read_text().splitlines())
    source_cds = sum(int(line.split()[3]) for line in CDNOW_SAMPLE.read_text().splitlines())
    transactions = read_cdnow_orders()

    out, _err = run(cdnow_csv, "--batch-size", "500")

    assert Order.objects.count() == len(transactions) == 6696
    assert Order.objects.values("guest_email").distinct().count() == 2357
    assert Order.objects.filter(user__isnull=False).count() == 0
    assert set(Order.objects.values_list("currency", "status").distinct()) == {("USD", "Complete")}
    # Summed in Python: SQLite sums decimals as floats.
    totals = Order.objects.values_list("total_incl_tax", "total_excl_tax")
    assert source_total == D("244091.94")
    assert sum(incl for incl, _excl in totals) == sum(excl for _incl, excl in totals) == source_total
    assert Line.objects.count() == 6696
    assert Line.objects.aggregate(cds=Sum("quantity"))["cds"] == source_cds
    assert Product.objects.get().product_class.name == "Imported"
    assert out.endswith(
        "Rows: 6696. Orders: 6696 in the file, 6696 created, 0 already imported, 0 skipped (bad rows: 0). "
        "Lines created: 6696. New products: 1.\n"
    )

    # Customer 1 bought 2 CDs for $29.33 on 1 January 1997, and again three times that year.
    orders = Order.objects.filter(guest_email="customer-1@imported.invalid").order_by("date_placed")
    assert [(timezone.localtime(o.date_placed).date().isoformat(), o.total_incl_tax) for o in orders] == [
        ("1997-01-01", D("29.33")),
        ("1997-01-18", D("29.73")),
        ("1997-08-02", D("14.96")),
        ("1997-12-12", D("26.48")),
    ]
    first = orders[0]
    assert timezone.localtime(first.date_placed).hour == 12
    assert (first.number, first.lines.get().quantity, first.lines.get().line_price_incl_tax) == (
        "CDNOW-0001-19970101",
        2,
        D("29.33"),
    )

    out, _err = run(cdnow_csv)
    assert Order.objects.count() == 6696 and Line.objects.count() == 6696 and Product.objects.count() == 1
    assert "Orders: 6696 in the file, 0 created, 6696 already imported" in out


def test_cdnow_helper_can_keep_same_day_purchases_apart():
    assert len(read_cdnow_orders(merge_same_day=False)) == 6919
    assert len(read_cdnow_orders()) == 6696


GOOD = "7,,A-1,2023-03-01,10.00\n"


@pytest.mark.parametrize(
    "row, reason",
    [
        ("7,,A-2,01/03/2023,10.00", '"01/03/2023" is not a valid date'),
        ("7,,A-2,2023-02-30,10.00", '"2023-02-30" is not a valid date'),
        ("7,,A-2,,10.00", "The date is missing."),
        ("7,,A-2,2023-03-01,-5.00", "The total is negative (-5.00)."),
        ("7,,A-2,2023-03-01,abc", 'The total "abc" is not an amount'),
        ('7,,A-2,2023-03-01,"12,50"', 'The total "12,50" is not an amount'),
        ("7,,A-2,2023-03-01,1.005", "more than two decimal places"),
        (",,A-2,2023-03-01,10.00", "The customer is missing: give a customer_id or an email."),
        ("7,not-an-address,A-2,2023-03-01,10.00", '"not-an-address" is not an e-mail address.'),
        ("7,,,2023-03-01,10.00", "The order_number is missing."),
        ("7,,A-2,2023-03-01,10.00,extra", "The row has 6 fields; the header has 5."),
    ],
)
@pytest.mark.django_db
def test_a_bad_row_is_reported_with_its_line_and_nothing_is_written(tmp_path, row, reason):
    path = write(tmp_path, f"{HEADER}\n{GOOD}{row}\n8,,A-3,2023-03-02,20.00\n")

    message, listing = run_failing(path)

    assert "1 bad row in" in message and "nothing was imported" in message
    assert listing.startswith("Line 3: ") and reason in listing
    assert not Order.objects.exists()

    out, listing = run(path, "--skip-invalid")
    assert sorted(Order.objects.values_list("number", flat=True)) == ["A-1", "A-3"]
    assert listing.startswith("Line 3: ") and reason in listing
    assert "Orders: 3 in the file, 2 created, 0 already imported, 1 skipped (bad rows: 1)." in out


@pytest.mark.django_db
def test_currency_and_status_are_checked(tmp_path):
    path = write(
        tmp_path,
        "email,order_number,date,total,currency,status\n"
        "a@example.com,C-1,2023-03-01,10.00,XYZ,\n"
        "a@example.com,C-2,2023-03-01,10.00,usd,cancelled\n"
        "a@example.com,C-3,2023-03-01,10.00,,Shipped\n",
    )

    message, listing = run_failing(path)

    assert "2 bad rows" in message
    assert listing.splitlines() == [
        'Line 2: Unknown currency "XYZ" (use an ISO 4217 code such as USD).',
        'Line 4: Unknown status "Shipped"; the shop\'s statuses are '
        "Pending, Being processed, Complete, Cancelled.",
    ]
    run(path, "--skip-invalid")
    assert Order.objects.values_list("number", "currency", "status").get() == ("C-2", "USD", "Cancelled")


@pytest.mark.django_db
def test_rows_of_one_order_must_agree_and_be_consecutive(tmp_path):
    path = write(
        tmp_path,
        "customer_id,order_number,date,total,sku,price\n"
        "1,B-1,2023-03-01,30.00,S1,10.00\n"
        "1,B-1,2023-03-01,30.00,S2,20.00\n"
        "1,B-2,2023-03-05,5.00,,\n"
        "1,B-2,2023-03-06,6.00,,\n"
        "2,B-3,2023-03-07,7.00,,\n"
        "1,B-1,2023-03-01,30.00,S3,5.00\n"
        "3,B-4,2023-03-08,8.00,S1,\n"
        "3,B-4,2023-03-08,8.00,S2,\n"
        "3,B-5,2023-03-09,9.00,S1,4.00\n",
    )

    message, listing = run_failing(path)

    assert "4 bad rows" in message
    assert listing.splitlines() == [
        "Line 5: The order B-2 has another date, total at line 4.",
        "Line 7: The order B-1 already appeared at line 2; the rows of one order must be consecutive.",
        "Line 8: The price is needed when an order has several products.",
        "Line 9: The price is needed when an order has several products.",
    ]
    # Every occurrence of B-1 is left out; B-5's one line keeps its own price (lines need not add up).
    run(path, "--skip-invalid")
    assert sorted(Order.objects.values_list("number", flat=True)) == ["B-3", "B-5"]
    assert Order.objects.get(number="B-5").lines.get().line_price_incl_tax == D("4.00")


@pytest.mark.django_db
def test_customers_are_matched_by_email_or_kept_as_guests(tmp_path):
    ana = CustomerFactory(email="Ana.Silva@Example.com")
    path = write(
        tmp_path,
        "customer_id,email,name,order_number,date,total\n"
        ',  ANA.silva@example.COM ,"Silva, Ana",E-1,2023-03-01 09:30,10.00\n'
        "99,Bruno@Example.com,Bruno,E-2,20230302,20.00\n"
        "c-42,,,E-3,2023-03-03 18:45:10,30.00\n"
        "C-42,,,E-4,2023-03-04,40.00\n",
    )

    run(path)

    orders = {order.number: order for order in Order.objects.all()}
    assert (orders["E-1"].user, orders["E-1"].guest_email) == (ana, "")
    assert (orders["E-2"].user, orders["E-2"].guest_email) == (None, "bruno@example.com")
    assert orders["E-3"].guest_email == orders["E-4"].guest_email == "customer-c-42@imported.invalid"
    assert timezone.localtime(orders["E-1"].date_placed).replace(tzinfo=None) == datetime(2023, 3, 1, 9, 30)
    assert timezone.localtime(orders["E-3"].date_placed).replace(tzinfo=None) == datetime(
        2023, 3, 3, 18, 45, 10
    )
    assert timezone.localtime(orders["E-2"].date_placed).replace(tzinfo=None) == datetime(2023, 3, 2, 12)


@pytest.mark.django_db
def test_products_are_matched_by_sku_or_created_in_their_category(tmp_path):
    sold = ProductFactory(upc="UPC-1", title="Abbey Road")
    stockrecord = sold.stockrecords.get()
    music = CategoryFactory(name="Music")
    categories = Category.objects.count()
    path = write(
        tmp_path,
        "email,order_number,date,total,sku,product_title,category,quantity,price\n"
        f"a@example.com,P-1,2023-03-01,50.00,{stockrecord.partner_sku},,,2,30.00\n"
        "a@example.com,P-1,2023-03-01,50.00,UPC-1,Abbey Road (remastered),,1,15.00\n"
        "a@example.com,P-1,2023-03-01,50.00,NEW-1,Kind of Blue,Music > Jazz,1,5.00\n"
        "b@example.com,P-2,2023-03-02,12.00,,Old poster,Music,3,\n"
        "b@example.com,P-3,2023-03-03,8.00,,Old poster,,,\n",
    )

    run(path)

    lines = list(Line.objects.order_by("pk"))
    assert [(line.product, line.stockrecord, line.partner_sku) for line in lines[:2]] == [
        (sold, stockrecord, stockrecord.partner_sku),
        (sold, None, "UPC-1"),
    ]
    assert [line.title for line in lines[:2]] == ["Abbey Road", "Abbey Road (remastered)"]
    assert (lines[0].quantity, lines[0].line_price_incl_tax, lines[0].unit_price_incl_tax) == (
        2,
        D("30.00"),
        D("15.00"),
    )

    kind_of_blue = lines[2].product
    assert (kind_of_blue.title, kind_of_blue.upc, kind_of_blue.is_public) == ("Kind of Blue", "NEW-1", False)
    assert kind_of_blue.product_class.name == "Imported"
    jazz = kind_of_blue.categories.get()
    assert (jazz.name, jazz.get_parent()) == ("Jazz", music)

    poster = lines[3].product
    assert lines[4].product == poster and poster.categories.get() == music
    assert (lines[3].quantity, lines[3].line_price_incl_tax, lines[3].unit_price_incl_tax) == (
        3,
        D("12.00"),
        D("4.00"),
    )
    assert lines[3].partner_sku == f"IMPORTED-{poster.pk}"
    assert Product.objects.count() == 3 and Category.objects.count() == categories + 1

    # Products created by an earlier import are found again, not duplicated.
    path = write(
        tmp_path,
        "email,order_number,date,total,sku,product_title\nc@example.com,P-4,2023-03-04,1.00,,Old poster\n",
    )
    run(path)
    assert Order.objects.get(number="P-4").lines.get().product == poster


@pytest.mark.django_db
def test_the_documented_example_imports(tmp_path):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "importing.md").read_text()
    example = docs.split("```csv\n", 1)[1].split("```", 1)[0]

    run(write(tmp_path, example))

    ulysses, wrap = Order.objects.get(number="1001").lines.order_by("pk")
    assert (ulysses.quantity, ulysses.unit_price_incl_tax, wrap.line_price_incl_tax) == (
        2,
        D("19.90"),
        D("20.00"),
    )
    assert ulysses.product.categories.get().full_name == "Books > Novels"
    guest = Order.objects.get(number="1002")
    assert (guest.guest_email, guest.total_incl_tax, guest.lines.count()) == (
        "customer-c-4711@imported.invalid",
        D("15.00"),
        0,
    )


@pytest.mark.django_db
def test_existing_orders_are_left_alone(tmp_path):
    place_order(number="X-1", total="99.00")
    path = write(tmp_path, f"{HEADER}\n1,,X-1,2023-03-01,10.00\n1,,X-2,2023-03-01,10.00\n")

    out, _err = run(path)

    assert Order.objects.get(number="X-1").total_incl_tax == D("99.00")
    assert "Orders: 2 in the file, 1 created, 1 already imported" in out


@pytest.mark.django_db
def test_a_file_with_a_bom_and_odd_header_case(tmp_path):
    path = write(
        tmp_path,
        " Customer_ID ,Order_Number,DATE,Total,Colour\n1,Z-1,2023-03-01,10.00,red\n",
        encoding="utf-8-sig",
    )

    out, err = run(path)

    assert Order.objects.get().number == "Z-1"
    assert err == "Ignored columns: colour\n"

    run(path, "--encoding", "utf-8")  # the BOM is tolerated even when the encoding is named without it
    assert Order.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, reason",
    [
        (
            "",
            "The file is empty: it needs a header row with the columns order_number, date, total, "
            "customer_id or email.",
        ),
        ("customer_id,order_number,total\n", "lacks the required column(s) date;"),
        ("name,order_number,date,total\n", "lacks the required column(s) customer_id or email;"),
        ("email,Email,order_number,date,total\n", "repeats the column(s) email."),
    ],
)
def test_a_file_without_a_usable_header_is_refused(tmp_path, text, reason):
    message, _listing = run_failing(write(tmp_path, text))
    assert reason in message


def test_a_missing_file_is_refused(tmp_path):
    message, _listing = run_failing(tmp_path / "missing.csv")
    assert "No such file" in message


@pytest.mark.django_db
def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = write(tmp_path, f"{HEADER}\n1,,Ç-1,2023-03-01,10.00\n", encoding="latin-1")

    message, _listing = run_failing(path)

    assert "The file is not utf-8-sig text" in message
    run(path, "--encoding", "latin-1")
    assert Order.objects.get().number == "Ç-1"


@pytest.mark.django_db
def test_dry_run_writes_nothing(tmp_path):
    place_order(number="D-1")
    path = write(
        tmp_path, f"{HEADER}\n1,,D-1,2023-03-01,10.00\n1,,D-2,2023-03-01,10.00\n1,,D-3,2023-03-01,oops\n"
    )

    out, _err = run(path, "--dry-run", "--skip-invalid")

    assert out.endswith(
        "Dry run, nothing was written. Rows: 3. Orders: 3 in the file, 1 to create, 1 already imported, "
        "1 with bad rows.\n"
    )
    assert Order.objects.count() == 1
    message, _listing = run_failing(path, "--dry-run")
    assert "1 bad row" in message


@pytest.mark.django_db
def test_progress_is_shown_unless_quiet(tmp_path, monkeypatch):
    monkeypatch.setattr(OrderHistoryImporter, "progress_every", 2)
    rows = "".join(f"1,,N-{n},2023-03-01,1.00\n" for n in range(5))
    path = write(tmp_path, f"{HEADER}\n{rows}")

    out, _err = run(path, "--batch-size", "2")
    assert out.splitlines()[:-1] == [
        "Checked 2 rows...",
        "Checked 4 rows...",
        "Read 3 rows, 2 orders...",
        "Read 5 rows, 4 orders...",
        "Read 5 rows, 5 orders...",
    ]

    out, err = run(path, verbosity=0)
    assert out == err == ""


@pytest.mark.django_db
def test_a_large_file_is_streamed(tmp_path):
    """A dry run holds one batch of orders at a time: holding the file's 10,000 rows would take ~7.5 MB."""
    path = tmp_path / "large.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["customer_id", "order_number", "date", "total", "sku", "price"])
        for n in range(5_000):
            writer.writerow([n % 5000, f"L-{n}", "2023-03-01", "30.00", "S1", "10.00"])
            writer.writerow([n % 5000, f"L-{n}", "2023-03-01", "30.00", "S2", "20.00"])

    tracemalloc.start()
    try:
        report = OrderHistoryImporter(path, dry_run=True, batch_size=200).run()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (report.rows_read, report.orders_found, report.orders_created, report.invalid_rows) == (
        10_000,
        5_000,
        5_000,
        0,
    )
    assert peak < 1024 * 1024
