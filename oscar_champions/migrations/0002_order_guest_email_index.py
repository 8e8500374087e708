"""Index Oscar's orders by normalised guest e-mail.

Oscar has no index on ``order.guest_email``; without one, finding a guest's orders after a
checkout scans the whole order table. The index is on exactly the expression
``oscar_champions.customers.guest_email_expression()`` queries by, and belongs to this app: it is
created and dropped by this migration, on whichever model the shop uses for orders.
"""

from django.db import migrations, models
from django.db.models.functions import Lower, Trim

INDEX = models.Index(Lower(Trim("guest_email")), name="champions_order_guest_email")


def add_index(apps, schema_editor):
    schema_editor.add_index(apps.get_model("order", "Order"), INDEX)


def remove_index(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("order", "Order"), INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("oscar_champions", "0001_initial"),
        ("order", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_index, remove_index, elidable=False)]
