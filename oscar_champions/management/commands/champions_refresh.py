from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from oscar_champions.refresh import refresh_everything


def _as_of(value):
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"--as-of must be a date as YYYY-MM-DD, not {value!r}.")
    return timezone.make_aware(datetime.combine(day, time.max))


class Command(BaseCommand):
    help = (
        "Recompute every customer's metrics, segments and predictions, then the product affinities. "
        "Idempotent; if it fails, the previous metrics are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=_as_of,
            help="Compute as of the end of this day (YYYY-MM-DD): later orders are ignored.",
        )

    def handle(self, *args, as_of=None, verbosity=1, **options):
        def progress(message):
            if verbosity:
                self.stdout.write(message)

        run = refresh_everything(as_of=as_of, progress=progress)
        if verbosity:
            if run.model_fitted:
                self.stdout.write(self.style.SUCCESS("The predictive model was fitted."))
            else:
                self.stdout.write(self.style.WARNING(f"The predictive model was not fitted: {run.model_explanation}"))
            self.stdout.write(f"The metrics took {run.duration.total_seconds():.1f} s.")
