"""``manage.py champions_demo``: fill the sandbox with a deterministic demo store."""

import argparse
import time
from datetime import date

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from sandbox.demo.store import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME, CATALOGUE, DemoStoreBuilder


def positive_int(value):
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def share(value):
    number = float(value)
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return number


class Command(BaseCommand):
    help = (
        "Build a seeded, deterministic demo store: a catalogue, customers of every kind (champions, loyal, "
        "new, at risk, lost...) and 2.5 years of orders on two sites. Also creates the staff login "
        f"{ADMIN_EMAIL} / {ADMIN_PASSWORD}."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=positive_int, default=2000, help="Number of customers, guests included."
        )
        parser.add_argument(
            "--orders", type=positive_int, default=12000,
            help="Approximate number of orders; the personas' purchase rates are scaled to reach it.",
        )
        parser.add_argument("--products", type=positive_int, default=150, help="Products in the catalogue.")
        parser.add_argument(
            "--guest-share", type=share, default=0.15, help="Share of customers who check out as guests."
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="Random seed: the same seed builds the same store."
        )
        parser.add_argument(
            "--today", type=date.fromisoformat, default=None,
            help="Last day of the order history (YYYY-MM-DD), for reproducible builds; defaults to today.",
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--flush", action="store_true",
            help="First delete every order and the demo catalogue and customers (staff and superusers stay). "
            "With millions of orders a fresh database is quicker.",
        )
        existing.add_argument(
            "--if-empty", action="store_true", help="Do nothing, successfully, if the database has orders."
        )

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        subcategories = sum(len(department.subcategories) for department in CATALOGUE)
        if options["products"] < subcategories:
            raise CommandError(f"--products must be at least {subcategories}, one per subcategory.")
        if not options["flush"] and DemoStoreBuilder.has_orders():
            if options["if_empty"]:
                if verbosity >= 1:
                    self.stdout.write("The database already has orders: no demo store built.")
                self.create_pages(verbosity)
                return
            raise CommandError(
                "This database already has orders. Run with --flush to delete every order and the demo "
                "catalogue and customers first (staff and superusers are kept), or use an empty database."
            )
        builder = DemoStoreBuilder(
            customers=options["customers"],
            orders=options["orders"],
            products=options["products"],
            guest_share=options["guest_share"],
            seed=options["seed"],
            today=options["today"],
            log=self.stdout.write if verbosity >= 1 else None,
        )
        started = time.monotonic()
        with transaction.atomic():
            if options["flush"]:
                builder.flush()
            summary = builder.build()
            builder.reset_admin()
            if verbosity >= 1 and summary.orders >= 100_000:
                self.stdout.write("Committing: the database checks every new row's foreign keys...")
        if connection.vendor == "postgresql":
            # Planner statistics for the freshly loaded tables, as autovacuum would gather in a live shop.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        # The catalogue pages list products from the search index.
        call_command("update_index", verbosity=0)
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(
                f"Demo store built in {time.monotonic() - started:.1f} s: {summary.customers} customers "
                f"({summary.registered} registered, {summary.guests} guests), {summary.orders} orders, "
                f"{summary.lines} lines, {summary.products} products."
            ))
            self.stdout.write(
                f"Staff login for /dashboard/: {ADMIN_EMAIL} (username {ADMIN_USERNAME}), "
                f"password {ADMIN_PASSWORD}"
            )
        self.create_pages(verbosity)

    def create_pages(self, verbosity):
        """With Wagtail installed, the content pages that use the Champions blocks (once)."""
        if not apps.is_installed("sandbox.cms"):
            return
        from sandbox.cms.demo import create_demo_pages

        home = create_demo_pages()
        if verbosity >= 1:
            self.stdout.write(f"Wagtail pages: {home.url} and its campaign page; edit them at /cms/.")
