from oscar.apps.offer.models import *  # noqa: F401,F403 - the fork keeps Oscar's models
