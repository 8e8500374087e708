"""The full refresh as a background task (Django's tasks framework), for shops with a worker."""

from django.utils.dateparse import parse_datetime
from django_tasks import task

from oscar_champions.refresh import refresh_everything


@task()
def refresh_metrics_task(as_of=None):
    """Run ``refresh_everything``; ``as_of`` is an ISO 8601 date-time (task arguments must be JSON)."""
    run = refresh_everything(as_of=parse_datetime(as_of) if as_of else None)
    return run.pk
