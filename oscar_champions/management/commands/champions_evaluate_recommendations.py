import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.template import Context, Template
from django.test import RequestFactory
from oscar.core.loading import get_class, get_model

from oscar_champions.evaluation import K, evaluate, held_out_orders, median_ms
from oscar_champions.recommendations import invalidate_storefront

Basket = get_model("basket", "Basket")
Selector = get_class("partner.strategy", "Selector")

TEMPLATE = (
    "{% load champions_tags %}{% recommended_products user limit=8 as products %}"
    "{% include 'oscar_champions/partials/product_row.html' with products=products title='' %}"
)


class Command(BaseCommand):
    help = (
        f"Hide each repeat customer's last order, recompute the recommendations from the rest and report hit "
        f"rate@{K} and catalogue coverage of the recommendation strategy against the bestsellers, then the "
        f"render time of the picks with a cold and a warm cache. Changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sample", type=int, default=2000, help="Repeat customers scored.")
        parser.add_argument("--renders", type=int, default=50, help="Customers whose picks are rendered and timed.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, sample, renders, seed, verbosity=1, **options):
        scores = evaluate(sample=sample, seed=seed, progress=self.stdout.write if verbosity else None)
        self.stdout.write(f"\n{'strategy':<12} {'customers':>9} {f'hit rate@{K}':>12} {'coverage':>9} {'seconds':>8}")
        for score in scores:
            self.stdout.write(
                f"{score.name:<12} {score.customers:>9} {score.hit_rate:>12.1%} {score.coverage:>9.1%} "
                f"{score.seconds:>8.1f}"
            )
        ours, popularity = scores
        verdict = "beats" if ours.hit_rate > popularity.hit_rate else "does NOT beat"
        self.stdout.write(f"\nThe strategy {verdict} popularity on hit rate@{K}.")
        self.time_renders(renders, seed)

    def time_renders(self, renders, seed):
        template = Template(TEMPLATE)
        user_ids = sorted(set(held_out_orders().values()))[:renders]
        cold, warm = [], []
        for user_id in user_ids:
            for samples in (cold, warm):
                user = get_user_model().objects.get(pk=user_id)  # as a new request would load it
                request = RequestFactory().get("/")
                request.user, request.session, request.basket = user, {}, Basket()
                request.strategy = Selector().strategy(request=request, user=user)
                if samples is cold:
                    invalidate_storefront()
                started = time.perf_counter()
                template.render(Context({"request": request, "user": user}))
                samples.append(time.perf_counter() - started)
        self.stdout.write(
            f"Rendering 8 picks ({len(user_ids)} customers): cold cache median {median_ms(cold):.1f} ms, "
            f"warm cache median {median_ms(warm):.1f} ms."
        )
