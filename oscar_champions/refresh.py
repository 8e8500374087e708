"""The full refresh in the order its parts depend on: what the command and the background task run."""

from django.utils import timezone

from oscar_champions.kpis import store_past_figures
from oscar_champions.metrics import customer_tables, refresh_metrics
from oscar_champions.recommendations import refresh_affinities


def refresh_everything(as_of=None, progress=None):
    """Refresh the metrics, the overview's figures for past dates, then the product affinities.

    The affinities come last because the champions' favourites read the stages just computed. On
    PostgreSQL all three read the same orders by customer and purchases (``customer_tables``), gathered
    once, by the metrics.
    Returns the metrics' ``RefreshRun``.
    """
    report = progress or (lambda message: None)
    as_of = as_of or timezone.now()
    with customer_tables(as_of):
        run = refresh_metrics(as_of=as_of, progress=progress)
        report("Storing the KPIs of the overview's periods")
        store_past_figures(run)
        refresh_affinities(as_of=as_of, progress=progress)
    return run
