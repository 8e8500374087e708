"""Storefront: product affinities and bestseller lists computed by the refresh, offers targeted at segments."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0032_category_exclude_from_menu_category_long_description'),
        ('offer', '0013_range_excluded_categories'),
        ('oscar_champions', '0003_saved_segments'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProductAffinity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('score', models.FloatField(verbose_name='Affinity')),
                ('customers', models.PositiveIntegerField(verbose_name='Customers who bought both')),
                ('rank', models.PositiveSmallIntegerField(verbose_name='Rank')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.product', verbose_name='Product')),
                ('related', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.product', verbose_name='Related product')),
            ],
            options={
                'verbose_name': 'product affinity',
                'verbose_name_plural': 'product affinities',
                'ordering': ['product', 'rank'],
                'indexes': [models.Index(fields=['product', 'rank'], name='champions_affinity_rank')],
                'constraints': [models.UniqueConstraint(fields=('product', 'related'), name='champions_unique_affinity')],
            },
        ),
        migrations.CreateModel(
            name='ProductRanking',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('bestsellers', 'Bestsellers'), ('champions', "Champions' favourites"), ('category', 'Bestsellers of a category')], max_length=16, verbose_name='List')),
                ('customers', models.PositiveIntegerField(verbose_name='Customers')),
                ('rank', models.PositiveIntegerField(verbose_name='Rank')),
                ('category', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.category', verbose_name='Category')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.product', verbose_name='Product')),
            ],
            options={
                'verbose_name': 'product ranking',
                'verbose_name_plural': 'product rankings',
                'ordering': ['kind', 'category', 'rank'],
                'indexes': [models.Index(fields=['kind', 'category', 'rank'], name='champions_ranking_list')],
            },
        ),
        migrations.CreateModel(
            name='SegmentOffer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('lifecycle_stage', models.CharField(blank=True, choices=[('champions', 'Champions'), ('loyal', 'Loyal'), ('new', 'New'), ('at_risk', 'At risk'), ('lost', 'Lost')], max_length=32, verbose_name='Lifecycle stage')),
                ('offer', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='champions_target', to='offer.conditionaloffer', verbose_name='Offer')),
                ('segment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='offers', to='oscar_champions.savedsegment', verbose_name='Saved segment')),
            ],
            options={
                'verbose_name': 'segment offer',
                'verbose_name_plural': 'segment offers',
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('segment__isnull', True), models.Q(('lifecycle_stage', ''), _negated=True)), models.Q(('segment__isnull', False), ('lifecycle_stage', '')), _connector='OR'), name='champions_offer_one_target')],
            },
        ),
    ]
