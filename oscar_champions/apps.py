from django.utils.translation import gettext_lazy as _
from oscar.core.application import OscarConfig


class ChampionsConfig(OscarConfig):
    """Customer metrics, segments and predictions for an Oscar shop."""

    label = "oscar_champions"
    name = "oscar_champions"
    verbose_name = _("Champions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from oscar_champions import checks, offers, receivers  # noqa: F401 - checks register themselves

        receivers.connect()
        offers.connect()
