"""Index the shop's user accounts by normalised e-mail.

A customer is identified by their normalised e-mail, and several accounts may share one. The
incremental update finds every account of a customer by that e-mail; without an index that scans the
whole user table. The index is on exactly the expression ``oscar_champions.customers.user_email_expression()``
queries by and belongs to this app: it is created and dropped by this migration, on whichever user model
the shop uses (like migration 0002 on the order table).
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import Lower, Trim

INDEX = models.Index(Lower(Trim("email")), name="champions_user_email")


def add_index(apps, schema_editor):
    schema_editor.add_index(apps.get_model(settings.AUTH_USER_MODEL), INDEX)


def remove_index(apps, schema_editor):
    schema_editor.remove_index(apps.get_model(settings.AUTH_USER_MODEL), INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("oscar_champions", "0005_metrics_revenue_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(add_index, remove_index, elidable=False)]
