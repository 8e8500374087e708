from django.db import migrations, models


def copy_champion_flags(apps, schema_editor):
    """The counted orders written before this migration take their customer's flag now, not at the next
    refresh."""
    CountedOrder = apps.get_model("oscar_champions", "CountedOrder")
    CountedOrder.objects.using(schema_editor.connection.alias).filter(customer__is_champion=True).update(
        is_champion=True
    )


class Migration(migrations.Migration):

    dependencies = [
        ("oscar_champions", "0008_counted_orders"),
    ]

    operations = [
        migrations.AddField(
            model_name="countedorder",
            name="is_champion",
            field=models.BooleanField(default=False, verbose_name="Champion"),
        ),
        migrations.RunPython(copy_champion_flags, migrations.RunPython.noop),
    ]
