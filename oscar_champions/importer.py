"""Import a shop's past orders from a CSV file into Oscar's orders.

The file format is documented in ``docs/importing.md``. The file is streamed, never held in memory: a
first pass validates every row, a second pass writes the orders in batches inside one transaction.
Rows of one order come on consecutive lines, so only one order is held at a time.

:class:`OrderHistoryImporter` does the work; a shop with its own needs subclasses it and overrides a hook
(``parse_row``, ``customer_email``, ``find_users``, ``get_product``, ``build_order``, ``build_line``...).
"""

import csv
import re
from array import array
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

import numpy as np
from babel.numbers import list_currencies
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower, Trim
from django.utils import timezone
from django.utils.translation import gettext as _
from oscar.core.loading import get_class, get_model

from oscar_champions.customers import normalise_email

Order = get_model("order", "Order")
Line = get_model("order", "Line")
Product = get_model("catalogue", "Product")
ProductClass = get_model("catalogue", "ProductClass")
ProductCategory = get_model("catalogue", "ProductCategory")
StockRecord = get_model("partner", "StockRecord")
create_from_breadcrumbs = get_class("catalogue.categories", "create_from_breadcrumbs")

REQUIRED_COLUMNS = ("order_number", "date", "total")
CUSTOMER_COLUMNS = ("customer_id", "email")
OPTIONAL_COLUMNS = ("name", "sku", "product_title", "category", "quantity", "price", "status", "currency")
ORDER_FIELDS = ("email", "date_placed", "total", "currency", "status")
ORDER_FIELD_COLUMNS = {"email": "customer_id/email", "date_placed": "date"}

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e10")  # Oscar's amounts have 12 digits, two of them after the point
AMOUNT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
WHOLE_NUMBER = re.compile(r"\d+")
CUSTOMER_ID = re.compile(r"[A-Za-z0-9._-]{1,55}")  # fits an e-mail's 64-character local part


class OrderImportError(Exception):
    """The file cannot be imported at all (no header, a required column missing, not text...)."""


class InvalidValue(ValueError):
    """One value of a row is not acceptable; the message says why, for the shop's staff."""


@dataclass
class RowError:
    """A problem found on one line of the file (the header is line 1)."""

    line_number: int
    message: str

    def __str__(self):
        return _("Line %(line)d: %(message)s") % {"line": self.line_number, "message": self.message}


@dataclass
class OrderRow:
    """One valid row: the order's fields and, when it names a product, one order line."""

    line_number: int
    order_number: str
    email: str
    date_placed: datetime
    total: Decimal
    currency: str
    status: str
    sku: str = ""
    product_title: str = ""
    category: str = ""
    quantity: int = 1
    price: Decimal | None = None

    @property
    def has_product(self):
        return bool(self.sku or self.product_title)


@dataclass
class OrderRecord:
    """The consecutive rows of one order number: the valid rows and the problems found."""

    number: str
    line_number: int
    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def first(self):
        return self.rows[0]


@dataclass
class ProductRef:
    """What an order line needs to know of a product (matched or created)."""

    product_id: int
    title: str
    partner_sku: str
    upc: str | None = None
    stockrecord_id: int | None = None
    partner_id: int | None = None
    partner_name: str = ""


@dataclass
class ImportReport:
    """What an import found and did. In a dry run, ``orders_created`` counts the orders it would create."""

    dry_run: bool = False
    written: bool = False
    rows_read: int = 0
    orders_found: int = 0
    invalid_rows: int = 0
    orders_created: int = 0
    lines_created: int = 0
    orders_already_imported: int = 0
    orders_skipped: int = 0
    products_created: int = 0
    ignored_columns: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    max_listed_errors: int = 1000

    def add_error(self, error):
        self.invalid_rows += 1
        if len(self.errors) < self.max_listed_errors:
            self.errors.append(error)

    @property
    def unlisted_errors(self):
        return self.invalid_rows - len(self.errors)


class OrderHistoryImporter:
    """Import the orders of one CSV file; ``run()`` returns an :class:`ImportReport`.

    By default nothing is written when any row is bad; with ``skip_invalid`` the orders with a bad row are
    left out and the others written. ``dry_run`` validates and counts without writing. ``progress`` is
    called as ``progress(stage, rows_read, orders_written)`` with stage ``"validate"`` or ``"write"``.
    """

    batch_size = 1000
    progress_every = 10_000
    #: Orders whose rows have no status get this one.
    default_status = "Complete"
    #: Products the file names that the catalogue does not have are created in this product class.
    product_class_name = "Imported"
    #: Customers known only by an id get the address ``customer-<id>@<this domain>`` (RFC 2606 reserved).
    synthetic_email_domain = "imported.invalid"
    #: Dates without a time are placed at this time of day, in the current time zone.
    default_time = time(12, 0)
    #: The accepted dates: YYYY-MM-DD with an optional HH:MM[:SS], and YYYYMMDD.
    date_patterns = (
        re.compile(
            r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)"
            r"( (?P<hour>\d\d):(?P<minute>\d\d)(:(?P<second>\d\d))?)?"
        ),
        re.compile(r"(?P<year>\d{4})(?P<month>\d\d)(?P<day>\d\d)"),
    )

    def __init__(
        self, path, *, skip_invalid=False, dry_run=False, batch_size=None, encoding="utf-8-sig", progress=None
    ):
        self.path = path
        self.skip_invalid = skip_invalid
        self.dry_run = dry_run
        self.batch_size = batch_size or self.batch_size
        self.encoding = encoding
        self.progress = progress or (lambda stage, rows_read, orders_written: None)
        self.report = ImportReport(dry_run=dry_run)
        self.rows_read = 0
        self.next_progress = self.progress_every
        self.column_count = 0
        self.parsers = []
        self.absent_values = {}
        self.timezone = timezone.get_current_timezone()
        self.repeated_numbers = set()
        self._currencies = None
        self._statuses = None
        self._product_class = None
        self._products = {}
        self._categories = {}

    def run(self):
        """Validate the whole file, then write its orders unless a row is bad (or ``skip_invalid``)."""
        self.validate()
        if self.report.invalid_rows and not self.skip_invalid:
            return self.report
        self.write()
        return self.report

    # Reading the file

    def show_progress(self, stage):
        """Call ``progress`` when another ``progress_every`` rows have been read in this pass."""
        if self.rows_read >= self.next_progress:
            self.progress(stage, self.rows_read, self.report.orders_created)
            self.next_progress = (self.rows_read // self.progress_every + 1) * self.progress_every

    def read_rows(self):
        """Yield ``(line number, row)`` for each non-blank row, with column names trimmed and lower-cased."""
        self.rows_read = 0
        self.next_progress = self.progress_every
        with open(self.path, newline="", encoding=self.encoding) as file:
            reader = csv.DictReader(file)
            try:
                reader.fieldnames = self.check_header(reader.fieldnames)
                for row in reader:
                    if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                        continue
                    self.rows_read += 1
                    yield reader.line_num, row
            except UnicodeDecodeError:
                raise OrderImportError(
                    _("The file is not %(encoding)s text (after line %(line)d).")
                    % {"encoding": self.encoding, "line": reader.line_num}
                )
            except csv.Error as error:
                raise OrderImportError(
                    _("Line %(line)d: %(error)s") % {"line": reader.line_num, "error": error}
                )

    def check_header(self, header):
        """The normalised column names; raise :class:`OrderImportError` for a header we cannot use."""
        if not header:
            raise OrderImportError(
                _("The file is empty: it needs a header row with the columns %(columns)s.")
                % {"columns": ", ".join(REQUIRED_COLUMNS + ("customer_id or email",))}
            )
        columns = [name.lstrip("\ufeff").strip().lower() for name in header]
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise OrderImportError(
                _("The header repeats the column(s) %(columns)s.") % {"columns": ", ".join(repeated)}
            )
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if not any(name in columns for name in CUSTOMER_COLUMNS):
            missing.append("customer_id or email")
        if missing:
            raise OrderImportError(
                _("The header lacks the required column(s) %(missing)s; it has %(columns)s.")
                % {"missing": ", ".join(missing), "columns": ", ".join(columns)}
            )
        known = set(REQUIRED_COLUMNS + CUSTOMER_COLUMNS + OPTIONAL_COLUMNS)
        self.report.ignored_columns = [name for name in columns if name not in known]
        self.column_count = len(columns)
        # A column the file lacks gives every row the same value: parse it once, not on every row.
        self.parsers, self.absent_values = [], {}
        for name, column, parse in self.get_parsers():
            if column in columns:
                self.parsers.append((name, column, parse))
            else:
                self.absent_values[name] = parse("")
        return columns

    def read_orders(self):
        """Yield one :class:`OrderRecord` per run of consecutive rows with the same order number."""
        record = None
        for line_number, raw in self.read_rows():
            number = (raw.get("order_number") or "").strip()
            if record is None or not number or number != record.number:
                if record is not None:
                    yield self.check_order(record)
                record = OrderRecord(number=number, line_number=line_number)
            try:
                row = self.parse_row(raw, line_number)
            except InvalidValue as problem:
                record.errors.append(RowError(line_number, str(problem)))
            else:
                self.add_row(record, row)
        if record is not None:
            yield self.check_order(record)

    def add_row(self, record, row):
        """Add a valid row to its order, unless it disagrees with the order's first row."""
        if record.rows:
            first = record.first
            differ = [name for name in ORDER_FIELDS if getattr(row, name) != getattr(first, name)]
            if differ:
                record.errors.append(
                    RowError(
                        row.line_number,
                        _("The order %(number)s has another %(fields)s at line %(line)d.")
                        % {
                            "number": record.number,
                            "fields": ", ".join(ORDER_FIELD_COLUMNS.get(name, name) for name in differ),
                            "line": first.line_number,
                        },
                    )
                )
                return
        record.rows.append(row)

    def check_order(self, record):
        """Check the rules that concern a whole order; return the record."""
        product_rows = [row for row in record.rows if row.has_product]
        if len(product_rows) > 1:
            for row in product_rows:
                if row.price is None:
                    record.errors.append(
                        RowError(
                            row.line_number, _("The price is needed when an order has several products.")
                        )
                    )
        return record

    # Parsing one row

    def parse_row(self, raw, line_number):
        """Return the :class:`OrderRow` of a raw row, or raise :class:`InvalidValue` with every problem."""
        problems = []
        if None in raw or None in raw.values():
            if None in raw:
                found = self.column_count + len(raw[None])
            else:
                found = sum(value is not None for value in raw.values())
            problems.append(
                _("The row has %(found)d fields; the header has %(expected)d.")
                % {"found": found, "expected": self.column_count}
            )
        values = dict(self.absent_values)
        for name, column, parse in self.parsers:
            try:
                values[name] = parse((raw.get(column) or "").strip())
            except InvalidValue as problem:
                problems.append(str(problem))
        try:
            values["email"] = self.customer_email(
                (raw.get("email") or "").strip(), (raw.get("customer_id") or "").strip()
            )
        except InvalidValue as problem:
            problems.append(str(problem))
        if problems:
            raise InvalidValue(" ".join(problems))
        return OrderRow(line_number=line_number, **values)

    def get_parsers(self):
        """``(OrderRow field, column, parser)`` for the fields read from one column each."""
        return [
            ("order_number", "order_number", self.parse_order_number),
            ("date_placed", "date", self.parse_date),
            ("total", "total", self.parse_total),
            ("currency", "currency", self.parse_currency),
            ("status", "status", self.parse_status),
            ("sku", "sku", self.parse_sku),
            ("product_title", "product_title", self.parse_product_title),
            ("category", "category", self.parse_category),
            ("quantity", "quantity", self.parse_quantity),
            ("price", "price", self.parse_price),
        ]

    def parse_order_number(self, value):
        if not value:
            raise InvalidValue(_("The order_number is missing."))
        if len(value) > 128:
            raise InvalidValue(_("The order_number is longer than 128 characters."))
        return value

    def parse_date(self, value):
        """An aware datetime in the current time zone; dates without a time get ``default_time``."""
        for pattern in self.date_patterns:
            match = pattern.fullmatch(value)
            if match:
                parts = {name: int(part) for name, part in match.groupdict().items() if part}
                if "hour" not in parts:
                    parts.update(hour=self.default_time.hour, minute=self.default_time.minute)
                try:
                    return timezone.make_aware(datetime(**parts), self.timezone)
                except ValueError:  # 2023-02-30, 25:00...
                    break
        if not value:
            raise InvalidValue(_("The date is missing."))
        raise InvalidValue(
            _('"%(value)s" is not a valid date (use YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or YYYYMMDD).')
            % {"value": value}
        )

    def parse_amount(self, value, column):
        if not AMOUNT.fullmatch(value):
            raise InvalidValue(
                _('The %(column)s "%(value)s" is not an amount (write it like 1234.50).')
                % {"column": column, "value": value}
            )
        amount = Decimal(value)
        if amount < 0:
            raise InvalidValue(
                _("The %(column)s is negative (%(value)s).") % {"column": column, "value": value}
            )
        if amount != amount.quantize(CENT):
            raise InvalidValue(
                _('The %(column)s "%(value)s" has more than two decimal places.')
                % {"column": column, "value": value}
            )
        if amount >= MAX_AMOUNT:
            raise InvalidValue(
                _('The %(column)s "%(value)s" is too large.') % {"column": column, "value": value}
            )
        return amount.quantize(CENT)

    def parse_total(self, value):
        if not value:
            raise InvalidValue(_("The total is missing."))
        return self.parse_amount(value, "total")

    def parse_price(self, value):
        return self.parse_amount(value, "price") if value else None

    def parse_currency(self, value):
        """An ISO 4217 code Babel knows; the shop's default currency when empty."""
        if not value:
            return settings.OSCAR_DEFAULT_CURRENCY
        if self._currencies is None:
            self._currencies = list_currencies()
        if value.upper() not in self._currencies:
            raise InvalidValue(
                _('Unknown currency "%(value)s" (use an ISO 4217 code such as USD).') % {"value": value}
            )
        return value.upper()

    def parse_status(self, value):
        """One of the shop's order statuses (any case), or ``default_status`` when empty."""
        if not value:
            return self.default_status
        if self._statuses is None:
            self._statuses = {status.lower(): status for status in Order.all_statuses()}
        if not self._statuses:  # no pipeline configured: any status is accepted
            if len(value) > 100:
                raise InvalidValue(_("The status is longer than 100 characters."))
            return value
        try:
            return self._statuses[value.lower()]
        except KeyError:
            raise InvalidValue(
                _('Unknown status "%(value)s"; the shop\'s statuses are %(statuses)s.')
                % {"value": value, "statuses": ", ".join(self._statuses.values())}
            )

    def parse_sku(self, value):
        if len(value) > 64:
            raise InvalidValue(_("The sku is longer than 64 characters."))
        return value

    def parse_product_title(self, value):
        if len(value) > 255:
            raise InvalidValue(_("The product_title is longer than 255 characters."))
        return value

    def parse_category(self, value):
        if value and any(not name.strip() or len(name.strip()) > 255 for name in value.split(">")):
            raise InvalidValue(
                _('The category "%(value)s" is not a category name or path.') % {"value": value}
            )
        return value

    def parse_quantity(self, value):
        if not value:
            return 1
        if not WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) < 2**31:
            raise InvalidValue(
                _('The quantity "%(value)s" is not a whole number of 1 or more.') % {"value": value}
            )
        return int(value)

    def customer_email(self, email, customer_id):
        """The normalised address identifying the customer: the row's e-mail, else one made from its id.

        The same id always gives the same address, so one customer's orders stay together.
        """
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise InvalidValue(_('"%(value)s" is not an e-mail address.') % {"value": email})
            if len(email) > 254:
                raise InvalidValue(_("The email is longer than 254 characters."))
            return normalise_email(email)
        if customer_id:
            if not CUSTOMER_ID.fullmatch(customer_id):
                raise InvalidValue(
                    _(
                        'The customer_id "%(value)s" must be at most 55 letters, digits, ".", "_" or "-" '
                        "(or give the customer's email)."
                    )
                    % {"value": customer_id}
                )
            return normalise_email(f"customer-{customer_id}@{self.synthetic_email_domain}")
        raise InvalidValue(_("The customer is missing: give a customer_id or an email."))

    # First pass: validation

    def validate(self):
        """Read the whole file once, reporting every bad row; nothing is written."""
        report = self.report
        # 8-byte hashes of the order numbers, to find numbers that come back after another order
        # without keeping every number of a large file in memory.
        hashes = array("q")
        for record in self.read_orders():
            report.orders_found += 1
            for error in record.errors:
                report.add_error(error)
            if record.number:
                hashes.append(hash(record.number))
            self.show_progress("validate")
        report.rows_read = self.rows_read
        self.repeated_numbers = self.find_repeated_numbers(hashes)
        report.errors.sort(key=lambda error: error.line_number)

    def find_repeated_numbers(self, hashes):
        """Order numbers whose rows are not consecutive, each later occurrence reported as a bad row.

        Sorting the hashes finds candidates; only when there are some is the file read again to confirm
        them (so a hash collision never rejects an order) and to name their lines.
        """
        if len(hashes) < 2:
            return set()
        values = np.sort(np.frombuffer(hashes, dtype=np.int64))
        candidates = set(values[1:][values[1:] == values[:-1]].tolist())
        if not candidates:
            return set()
        first_lines, repeated = {}, set()
        for record in self.read_orders():
            if not record.number or hash(record.number) not in candidates:
                continue
            if record.number in first_lines:
                repeated.add(record.number)
                self.report.add_error(
                    RowError(
                        record.line_number,
                        _(
                            "The order %(number)s already appeared at line %(line)d; the rows of one order "
                            "must be consecutive."
                        )
                        % {"number": record.number, "line": first_lines[record.number]},
                    )
                )
            else:
                first_lines[record.number] = record.line_number
        return repeated

    # Second pass: writing

    def write(self):
        """Read the file again and write its valid orders in batches, in one transaction."""
        report = self.report
        batch = []
        with nullcontext() if self.dry_run else transaction.atomic():
            for record in self.read_orders():
                if record.errors or record.number in self.repeated_numbers:
                    report.orders_skipped += 1
                    continue
                batch.append(record)
                if len(batch) >= self.batch_size:
                    self.write_batch(batch)
                    batch = []
                    self.show_progress("write")
            if batch:
                self.write_batch(batch)
        report.written = not self.dry_run
        self.progress("write", self.rows_read, report.orders_created)

    def write_batch(self, records):
        """Create the orders of ``records`` not already in the database, then their lines."""
        report = self.report
        existing = self.find_existing_numbers([record.number for record in records])
        records = [record for record in records if record.number not in existing]
        report.orders_already_imported += len(existing)
        if self.dry_run:
            report.orders_created += len(records)
            return
        users = self.find_users({record.first.email for record in records})
        orders = [self.build_order(record, users.get(record.first.email)) for record in records]
        Order.objects.bulk_create(orders)
        self.prefetch_products(row for record in records for row in record.rows if row.has_product)
        lines = [
            self.build_line(order, record, row, self.get_product(row))
            for order, record in zip(orders, records)
            for row in record.rows
            if row.has_product
        ]
        Line.objects.bulk_create(lines)
        report.orders_created += len(orders)
        report.lines_created += len(lines)

    def find_existing_numbers(self, numbers):
        """The numbers among ``numbers`` that already have an order: imported before, so skipped."""
        return set(Order.objects.filter(number__in=numbers).values_list("number", flat=True))

    def find_users(self, emails):
        """Map the normalised e-mails that belong to registered users to the user's id (the oldest user
        when several accounts share an address, in any case)."""
        users = (
            get_user_model()
            .objects.annotate(email_key=Lower(Trim("email")))
            .filter(email_key__in=emails)
            .order_by("-pk")
            .values_list("email_key", "pk")
        )
        return dict(users)

    def build_order(self, record, user_id):
        """An unsaved order for ``record``; totals are taken as tax-inclusive, shipping as included."""
        first = record.first
        return Order(
            number=record.number,
            site_id=settings.SITE_ID,
            user_id=user_id,
            guest_email="" if user_id else first.email,
            currency=first.currency,
            total_incl_tax=first.total,
            total_excl_tax=first.total,
            shipping_incl_tax=0,
            shipping_excl_tax=0,
            status=first.status,
            date_placed=first.date_placed,
        )

    def build_line(self, order, record, row, product):
        """An unsaved line of ``order`` for ``row``; a single product line without a price gets the total."""
        price = row.price if row.price is not None else record.first.total
        unit_price = (price / row.quantity).quantize(CENT)
        return Line(
            order=order,
            product_id=product.product_id,
            stockrecord_id=product.stockrecord_id,
            partner_id=product.partner_id,
            partner_name=product.partner_name,
            partner_sku=product.partner_sku,
            title=row.product_title or product.title,
            upc=product.upc,
            quantity=row.quantity,
            line_price_incl_tax=price,
            line_price_excl_tax=price,
            line_price_before_discounts_incl_tax=price,
            line_price_before_discounts_excl_tax=price,
            unit_price_incl_tax=unit_price,
            unit_price_excl_tax=unit_price,
            num_allocated=row.quantity,
            status=Order.cascade.get(order.status, ""),
        )

    # Products

    def product_key(self, row):
        return ("sku", row.sku) if row.sku else ("title", row.product_title)

    def prefetch_products(self, rows):
        """Load the batch's products not yet cached with a few queries (by sku, then by title)."""
        skus, titles = set(), set()
        for row in rows:
            kind, value = self.product_key(row)
            if (kind, value) not in self._products:
                (skus if kind == "sku" else titles).add(value)
        if skus:
            stockrecords = (
                StockRecord.objects.filter(partner_sku__in=skus)
                .order_by("-pk")
                .values_list(
                    "partner_sku",
                    "pk",
                    "product_id",
                    "partner_id",
                    "partner__name",
                    "product__title",
                    "product__upc",
                )
            )
            for sku, pk, product_id, partner_id, partner_name, title, upc in stockrecords:
                self._products[("sku", sku)] = ProductRef(
                    product_id, title or sku, sku, upc, pk, partner_id, partner_name
                )
            skus = {sku for sku in skus if ("sku", sku) not in self._products}
        if skus:
            products = Product.objects.filter(upc__in=skus).values_list("upc", "pk", "title")
            for upc, pk, title in products:
                self._products[("sku", upc)] = ProductRef(pk, title or upc, upc, upc)
        if titles:
            products = (
                Product.objects.filter(product_class=self.product_class, title__in=titles)
                .order_by("-pk")
                .values_list("title", "pk", "upc")
            )
            for title, pk, upc in products:
                self._products[("title", title)] = ProductRef(pk, title, upc or f"IMPORTED-{pk}", upc)

    def get_product(self, row):
        """The product of ``row``: matched by sku (stock record, then UPC) or, for the products this
        importer creates, by title; created when the catalogue does not have it."""
        key = self.product_key(row)
        if key not in self._products:
            self._products[key] = self.create_product(row)
        return self._products[key]

    def create_product(self, row):
        """A hidden standalone product of the ``product_class_name`` class, in the row's category."""
        product = Product.objects.create(
            product_class=self.product_class,
            title=row.product_title or row.sku,
            upc=row.sku or None,
            is_public=False,
        )
        if row.category:
            ProductCategory.objects.create(product=product, category=self.get_category(row))
        self.report.products_created += 1
        return ProductRef(product.pk, product.title, row.sku or f"IMPORTED-{product.pk}", product.upc)

    def get_category(self, row):
        """The category named by ``row``: a top-level name, or a path such as ``Music > Rock``."""
        if row.category not in self._categories:
            try:
                self._categories[row.category] = create_from_breadcrumbs(row.category)
            except ValueError as error:  # several categories of that name at one level
                raise OrderImportError(str(RowError(row.line_number, str(error))))
        return self._categories[row.category]

    @property
    def product_class(self):
        if self._product_class is None:
            self._product_class, _created = ProductClass.objects.get_or_create(
                name=self.product_class_name, defaults={"requires_shipping": False, "track_stock": False}
            )
        return self._product_class
