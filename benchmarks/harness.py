"""What every PostgreSQL benchmark does first: find the project and its sandbox settings, set Django up on
PostgreSQL, and time calls. Imported by the ``bench_*.py`` scripts, which run from this folder."""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
os.environ.setdefault("DJANGO_DEBUG", "0")  # no per-query logging while timing


def setup():
    """Set Django up, or exit with a message when the database is not PostgreSQL."""
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("Benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")


def timed(function, *args, **kwargs):
    """``(seconds, result)`` of calling ``function``."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result
