"""On PostgreSQL, make the counted orders' index by customer hold what the report adds up per customer.

The best-customers report sums each customer's orders of two periods, on one site or all; with the revenue
and the site in the index by customer and date, PostgreSQL reads the index alone, in customer order, instead
of reading and hashing the table's rows. Other databases keep the plain index (they would ignore the extra
columns, with a warning). The full refresh rebuilds the index the same way (``CountedOrder.indexes_for``).
"""

from django.db import migrations, models

NAME = "champions_counted_customer"
PLAIN = models.Index(fields=["customer", "placed_at"], name=NAME)
COVERING = models.Index(fields=["customer", "placed_at"], include=["revenue_cents", "site"], name=NAME)


def replace(old, new):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        model = apps.get_model("oscar_champions", "CountedOrder")
        schema_editor.remove_index(model, old)
        schema_editor.add_index(model, new)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("oscar_champions", "0010_metrics_without_pattern_indexes"),
    ]

    operations = [migrations.RunPython(replace(PLAIN, COVERING), replace(COVERING, PLAIN))]
