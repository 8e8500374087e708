from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from oscar_champions.importer import OrderHistoryImporter, OrderImportError


def _positive(value):
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Import past orders from a CSV file (format: docs/importing.md). Re-running a file creates nothing "
        "twice. By default nothing is written when a row is bad."
    )
    importer_class = OrderHistoryImporter

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file: a header row, then one row per order or order line.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Write the valid orders and list the bad rows, instead of writing nothing.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and count; write nothing.")
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=OrderHistoryImporter.batch_size,
            help="Orders written per batch (default: %(default)s).",
        )
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="The file's text encoding (default: UTF-8, BOM optional)."
        )

    def handle(self, *args, file, skip_invalid, dry_run, batch_size, encoding, verbosity=1, **options):
        importer = self.importer_class(
            file,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            batch_size=batch_size,
            encoding=encoding,
            progress=self.show_progress if verbosity > 0 else None,
        )
        try:
            report = importer.run()
        except (OrderImportError, OSError) as error:
            raise CommandError(str(error))

        if report.ignored_columns and verbosity > 0:
            self.stderr.write(
                _("Ignored columns: %(columns)s") % {"columns": ", ".join(report.ignored_columns)}
            )
        for error in report.errors:
            self.stderr.write(str(error))
        if report.unlisted_errors:
            self.stderr.write(_("... and %(count)d more bad rows.") % {"count": report.unlisted_errors})

        if report.invalid_rows and not skip_invalid:
            raise CommandError(
                ngettext(
                    "%(count)d bad row in %(file)s; nothing was imported. Correct it, or use "
                    "--skip-invalid to import the other orders.",
                    "%(count)d bad rows in %(file)s; nothing was imported. Correct them, or use "
                    "--skip-invalid to import the other orders.",
                    report.invalid_rows,
                )
                % {"count": report.invalid_rows, "file": file}
            )
        if verbosity > 0:
            self.stdout.write(self.summary(report))

    def show_progress(self, stage, rows_read, orders_written):
        if stage == "validate":
            self.stdout.write(_("Checked %(rows)d rows...") % {"rows": rows_read})
        else:
            self.stdout.write(
                _("Read %(rows)d rows, %(orders)d orders...") % {"rows": rows_read, "orders": orders_written}
            )

    def summary(self, report):
        counts = {
            "rows": report.rows_read,
            "found": report.orders_found,
            "created": report.orders_created,
            "lines": report.lines_created,
            "products": report.products_created,
            "existing": report.orders_already_imported,
            "skipped": report.orders_skipped,
            "bad": report.invalid_rows,
        }
        if report.dry_run:
            message = _(
                "Dry run, nothing was written. Rows: %(rows)d. Orders: %(found)d in the file, %(created)d to "
                "create, %(existing)d already imported, %(skipped)d with bad rows."
            )
        else:
            message = _(
                "Rows: %(rows)d. Orders: %(found)d in the file, %(created)d created, %(existing)d already "
                "imported, %(skipped)d skipped (bad rows: %(bad)d). Lines created: %(lines)d. New products: "
                "%(products)d."
            )
        return self.style.SUCCESS(message % counts)
