"""The full refresh as a background task (Django's tasks framework), for shops with a worker."""

from django.utils.dateparse import parse_datetime
from django_tasks import task

from oscar_champions.metrics import refresh_metrics
from oscar_champions.recommendations import refresh_affinities


@task()
def refresh_metrics_task(as_of=None):
    """Run ``refresh_metrics``, then ``refresh_affinities``; ``as_of`` is an ISO 8601 date-time (task
    arguments must be JSON)."""
    as_of = parse_datetime(as_of) if as_of else None
    run = refresh_metrics(as_of=as_of)
    refresh_affinities(as_of=as_of)
    return run.pk
