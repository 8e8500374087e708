"""A seeded, deterministic demo store: a catalogue, customers with believable habits and years of orders.

Everything is drawn first with numpy (personas, order dates, baskets, money) and only then written, in
batches and without Oscar's signal-heavy checkout path: the same seed always gives the same store, and a
million orders take minutes rather than hours.

Demo rows are recognisable (usernames ``demo-...``, category codes ``demo-...``, the demo product class), so
``DemoStoreBuilder.flush()`` never touches a shop's staff, superusers, own products or own categories.
"""

import functools
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sites.models import Site
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils import timezone
from django.utils.text import slugify
from oscar.core.loading import get_model

Category = get_model("catalogue", "Category")
ConditionalOffer = get_model("offer", "ConditionalOffer")
Benefit = get_model("offer", "Benefit")
Condition = get_model("offer", "Condition")
Line = get_model("order", "Line")
Order = get_model("order", "Order")
OrderDiscount = get_model("order", "OrderDiscount")
Partner = get_model("partner", "Partner")
Product = get_model("catalogue", "Product")
ProductCategory = get_model("catalogue", "ProductCategory")
ProductClass = get_model("catalogue", "ProductClass")
Range = get_model("offer", "Range")
StockRecord = get_model("partner", "StockRecord")
Voucher = get_model("voucher", "Voucher")

DEMO_PREFIX = "demo-"
PRODUCT_CLASS_SLUG = "champions-demo"
PARTNER_CODE = "champions-demo"
APP_SITE_DOMAIN = "app.loja.example"
ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "champions"
CUSTOMER_PASSWORD = "demo"

HISTORY_DAYS = 930  # a little over 2.5 years of orders
TAX_RATE = 0.17  # prices include a flat, ICMS-like tax, so incl/excl-tax revenue differ
FREE_SHIPPING_CENTS = 199_00
SHIPPING_FEES_CENTS = (14_90, 19_90, 24_90)
CANCELLED_SHARE = 0.03
APP_USER_SHARE = 0.3  # customers who mostly buy in the app (the second site)
COMPANION_PROBABILITY = 0.4  # each item brings one of its companions along this often
MAX_LINES = 4
BATCH_SIZE = 5000  # rows per bulk_create INSERT (SQLite caps it lower by itself)


class Subcategory(NamedTuple):
    code: str
    name: str
    price_range: tuple[int, int]  # whole reais
    bases: tuple[str, ...]
    variants: tuple[str, ...]


class Department(NamedTuple):
    code: str
    name: str
    popularity: float
    companion: str  # the department whose products are often bought alongside
    subcategories: tuple[Subcategory, ...]


CATALOGUE = (
    Department("cafe", "Café", 0.22, "acessorios", (
        Subcategory("graos", "Café em grãos", (29, 119),
                    ("Café em grãos", "Café especial em grãos", "Café orgânico em grãos", "Microlote"),
                    ("Sul de Minas 250 g", "Cerrado Mineiro 500 g", "Mogiana 250 g",
                     "Chapada Diamantina 250 g", "Caparaó 1 kg", "Bourbon Amarelo 250 g",
                     "Catuaí Vermelho 500 g")),
        Subcategory("moido", "Café moído", (15, 59),
                    ("Café moído", "Café extraforte", "Café gourmet moído", "Café descafeinado"),
                    ("tradicional 500 g", "para coador 250 g", "para espresso 250 g", "a vácuo 500 g")),
        Subcategory("capsulas", "Cápsulas", (19, 49),
                    ("Cápsulas de espresso", "Cápsulas de lungo", "Cápsulas de cappuccino"),
                    ("intensidade 6 (10 un.)", "intensidade 8 (10 un.)", "intensidade 10 (10 un.)",
                     "sortidas (30 un.)")),
    )),
    Department("chas", "Chás", 0.10, "acessorios", (
        Subcategory("tradicionais", "Chás pretos e verdes", (12, 59),
                    ("Chá verde", "Chá preto", "Chá branco", "Chá matcha"),
                    ("orgânico 50 g", "em folhas 100 g", "sachês (20 un.)", "da Mantiqueira 50 g")),
        Subcategory("ervas", "Infusões de ervas", (9, 39),
                    ("Chá de camomila", "Chá de hibisco", "Chá de capim-limão", "Chá de hortelã",
                     "Chá de erva-doce"),
                    ("sachês (15 un.)", "a granel 100 g", "orgânico 50 g")),
        Subcategory("mate", "Mate e chimarrão", (14, 69),
                    ("Erva-mate", "Erva para chimarrão", "Erva para tereré", "Chá mate tostado"),
                    ("nativa 500 g", "tradicional 1 kg", "com menta 500 g", "com limão 500 g")),
    )),
    Department("acessorios", "Acessórios", 0.12, "cafe", (
        Subcategory("cafeteiras", "Cafeteiras", (59, 899),
                    ("Prensa francesa", "Cafeteira italiana", "Coador de pano", "Chaleira bico de ganso",
                     "Cafeteira elétrica"),
                    ("350 ml", "600 ml", "1 L", "inox", "de vidro")),
        Subcategory("moedores", "Moedores", (89, 1299),
                    ("Moedor de café manual", "Moedor de café elétrico", "Moedor cônico"),
                    ("inox", "compacto", "com ajuste fino", "de madeira")),
        Subcategory("canecas", "Canecas e xícaras", (19, 129),
                    ("Caneca de cerâmica", "Xícara de espresso", "Caneca térmica", "Copo de vidro duplo"),
                    ("300 ml", "90 ml", "com pires", "esmaltada", "480 ml")),
    )),
    Department("livros", "Livros", 0.12, "chas", (
        Subcategory("ficcao", "Ficção brasileira", (29, 89),
                    ("Dom Casmurro", "Memórias Póstumas de Brás Cubas", "O Cortiço", "Vidas Secas",
                     "Macunaíma", "Iracema", "Capitães da Areia", "A Hora da Estrela", "Quincas Borba",
                     "O Alienista"),
                    ("(edição de bolso)", "(capa dura)", "(edição comentada)")),
        Subcategory("culinaria", "Culinária", (49, 159),
                    ("Cozinha mineira", "Cozinha baiana", "Pães de fermentação natural", "Doces brasileiros",
                     "O livro do café", "Churrasco gaúcho"),
                    ("(2ª edição)", "(ilustrado)", "(capa dura)")),
        Subcategory("infantil", "Infantil", (24, 69),
                    ("Contos da floresta", "A menina e o boto", "Lendas do folclore", "Bichos do Pantanal"),
                    ("(ilustrado)", "(livro de colorir)", "(edição bilíngue)")),
    )),
    Department("eletronicos", "Eletrônicos", 0.12, "esportes", (
        Subcategory("fones", "Fones de ouvido", (79, 1499),
                    ("Fone de ouvido sem fio", "Fone intra-auricular", "Headphone com cancelamento de ruído"),
                    ("preto", "branco", "azul", "com microfone")),
        Subcategory("caixas", "Caixas de som", (129, 1999),
                    ("Caixa de som portátil", "Caixa de som à prova d'água", "Soundbar"),
                    ("10 W", "20 W", "40 W", "preta")),
        Subcategory("celular", "Acessórios para celular", (29, 299),
                    ("Carregador rápido", "Cabo USB-C", "Power bank", "Capinha", "Suporte veicular"),
                    ("20 W", "2 m", "10.000 mAh", "transparente", "magnético")),
    )),
    Department("casa", "Casa", 0.12, "beleza", (
        Subcategory("cozinha", "Cozinha", (19, 399),
                    ("Panela de barro", "Tábua de corte", "Jogo de facas", "Pote hermético", "Frigideira"),
                    ("capixaba", "de bambu", "inox", "(3 peças)", "24 cm")),
        Subcategory("cama-banho", "Cama e banho", (39, 349),
                    ("Toalha de banho", "Jogo de lençol", "Travesseiro", "Roupão"),
                    ("algodão egípcio", "casal", "queen", "percal 200 fios")),
        Subcategory("decoracao", "Decoração", (29, 299),
                    ("Vaso de cerâmica", "Vela aromática", "Almofada", "Cesto de palha", "Luminária"),
                    ("artesanal", "de capim-dourado", "terracota", "45 x 45 cm")),
    )),
    Department("beleza", "Beleza", 0.11, "casa", (
        Subcategory("pele", "Cuidados com a pele", (19, 189),
                    ("Protetor solar", "Hidratante facial", "Sérum de vitamina C", "Sabonete de argila"),
                    ("FPS 50", "100 ml", "30 ml", "vegano")),
        Subcategory("cabelos", "Cabelos", (19, 149),
                    ("Shampoo", "Condicionador", "Máscara capilar", "Creme para pentear"),
                    ("de murumuru 300 ml", "de cupuaçu 250 ml", "de babosa 300 ml", "para cachos 500 ml")),
        Subcategory("perfumaria", "Perfumaria", (59, 399),
                    ("Perfume", "Colônia", "Body splash"),
                    ("floral 100 ml", "amadeirado 75 ml", "cítrico 100 ml", "de priprioca 50 ml")),
    )),
    Department("esportes", "Esportes", 0.09, "eletronicos", (
        Subcategory("corrida", "Corrida", (39, 699),
                    ("Tênis de corrida", "Camiseta dry-fit", "Meia de compressão", "Boné de corrida"),
                    ("masculino", "feminino", "leve", "refletivo")),
        Subcategory("yoga", "Yoga e pilates", (29, 299),
                    ("Tapete de yoga", "Bloco de yoga", "Faixa elástica", "Bola de pilates"),
                    ("6 mm", "de cortiça", "kit com 3", "antiderrapante")),
        Subcategory("ciclismo", "Ciclismo", (29, 899),
                    ("Capacete de ciclismo", "Luva de ciclismo", "Farol de LED", "Bomba de ar"),
                    ("urbano", "MTB", "recarregável USB", "compacta")),
    )),
)

FIRST_NAMES = (
    "Ana", "Maria", "Juliana", "Fernanda", "Beatriz", "Camila", "Larissa", "Patrícia", "Aline", "Letícia",
    "Gabriela", "Mariana", "Luana", "Renata", "Tatiane", "Vitória", "Júlia", "Isabela", "Sofia", "Helena",
    "João", "José", "Pedro", "Lucas", "Gabriel", "Rafael", "Matheus", "Gustavo", "Felipe", "Bruno",
    "Thiago", "Rodrigo", "André", "Marcelo", "Diego", "Leonardo", "Vinícius", "Caio", "Luís", "Antônio",
)
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
    "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Conceição", "Pinto", "Cavalcanti",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "correio.example.net")


class Offer(NamedTuple):
    name: str
    percent: float
    voucher_code: str  # "" for a site offer


WELCOME_OFFER = 0  # index into OFFERS of the first-order voucher
OFFERS = (
    Offer("Cupom BEMVINDO10", 0.10, "BEMVINDO10"),
    Offer("Cupom VOLTA15", 0.15, "VOLTA15"),
    Offer("Semana do Cliente", 0.10, ""),
    Offer("Queima de estoque", 0.20, ""),
)
OTHER_OFFER_WEIGHTS = (0.35, 0.40, 0.25)  # for OFFERS[1:]
WELCOME_VOUCHER_SHARE = 0.25  # of registered customers' first orders


@dataclass(frozen=True)
class Persona:
    """How one kind of customer buys; day ranges count back from today."""

    name: str
    share: float  # of all customers
    first_days: tuple[int, int]  # when the first order was placed
    last_days: tuple[int, int]  # when the last one was (never before the first)
    days_between: float  # mean days between orders before scaling to the target; 0 = one order only
    min_orders: int
    max_orders: int
    extra_item: float  # probability of each of two more items in a basket
    extra_quantity: float  # Poisson mean of the units bought beyond one
    discount: float  # share of orders placed with a discount
    focus: float  # share of items from one or two favourite departments; 0 = broad taste


PERSONAS = (
    Persona("champion", 0.06, (300, HISTORY_DAYS), (0, 20), 18, 10, 10_000, 0.80, 0.6, 0.08, 0.0),
    Persona("loyal", 0.14, (200, HISTORY_DAYS), (0, 45), 40, 5, 10_000, 0.65, 0.3, 0.08, 0.0),
    Persona("occasional", 0.20, (90, HISTORY_DAYS), (0, 150), 110, 2, 10_000, 0.55, 0.2, 0.08, 0.0),
    Persona("new", 0.12, (0, 59), (0, 59), 45, 1, 3, 0.55, 0.2, 0.08, 0.0),
    Persona("lapsed", 0.14, (420, HISTORY_DAYS), (120, 365), 45, 3, 10_000, 0.60, 0.3, 0.08, 0.0),
    Persona("one-timer", 0.16, (366, HISTORY_DAYS), (366, HISTORY_DAYS), 0, 1, 1, 0.50, 0.2, 0.08, 0.0),
    Persona("bargain hunter", 0.08, (120, HISTORY_DAYS), (0, 120), 60, 2, 10_000, 0.45, 0.2, 0.80, 0.0),
    Persona("focused", 0.10, (120, HISTORY_DAYS), (0, 90), 50, 2, 10_000, 0.60, 0.3, 0.08, 0.95),
)
MERGE_PERSONAS = ("loyal", "occasional", "focused")  # who may once have checked out as a guest
HOUR_WEIGHTS = np.array(  # when people shop, midnight to 23h
    [1.0, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.0, 2.6, 3.0, 3.2,
     3.4, 3.2, 3.1, 3.1, 3.2, 3.4, 3.6, 4.0, 4.2, 3.8, 2.8, 1.8]
)
STATUSES = ("Complete", "Pending", "Being processed", "Cancelled")
COMPLETE, PENDING, BEING_PROCESSED, CANCELLED = range(len(STATUSES))


@dataclass
class CataloguePlan:
    """The drawn catalogue, one entry per product."""

    titles: list
    upcs: list
    subcategory: np.ndarray  # index into DemoStoreBuilder.subcategories
    department: np.ndarray  # index into CATALOGUE
    price_cents: np.ndarray
    stock: np.ndarray
    popularity: np.ndarray  # relative weight within the department
    companions: np.ndarray  # products x 3, -1 padded
    companion_count: np.ndarray


@dataclass
class CustomerPlan:
    """The drawn customers; guests have no user but an e-mail all the same."""

    persona: np.ndarray  # index into PERSONAS
    is_guest: np.ndarray
    first_names: list
    last_names: list
    emails: list
    preferences: np.ndarray  # customers x departments, rows sum to 1


@dataclass
class OrderPlan:
    """The drawn orders sorted by date (index = rank), with their lines; money in cents."""

    customer: np.ndarray
    timestamp: np.ndarray  # POSIX seconds
    site_is_app: np.ndarray
    status: np.ndarray  # index into STATUSES
    guest_emails: dict  # order -> e-mail as typed at a registered customer's guest checkout
    offer: np.ndarray  # index into OFFERS, -1 without a discount
    discount: np.ndarray
    shipping: np.ndarray
    total_incl: np.ndarray
    total_excl: np.ndarray
    line_order: np.ndarray
    line_product: np.ndarray
    line_quantity: np.ndarray
    line_unit_incl: np.ndarray
    line_unit_excl: np.ndarray
    line_before_incl: np.ndarray
    line_before_excl: np.ndarray
    line_incl: np.ndarray
    line_excl: np.ndarray
    customer_joined: np.ndarray  # POSIX seconds each customer signed up, before their first order


@dataclass
class DemoStoreSummary:
    """What a build created, for the command to report."""

    products: int = 0
    categories: int = 0
    customers: int = 0
    registered: int = 0
    guests: int = 0
    orders: int = 0
    lines: int = 0
    discounts: int = 0
    first_order: date | None = None
    last_order: date | None = None


@functools.lru_cache(maxsize=100_000)  # amounts repeat a lot; a million orders make millions of them
def money(cents):
    """An amount in cents as a two-place Decimal."""
    return Decimal(cents).scaleb(-2)


def without_tax(cents):
    """The tax-exclusive part of tax-inclusive amounts in cents."""
    return np.rint(np.asarray(cents) / (1 + TAX_RATE)).astype(np.int64)


def ascii_name(name):
    """``"Conceição"`` -> ``"conceicao"``, for e-mail addresses."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace(" ", "")


def ean13(number):
    """A 13-digit EAN (Brazilian 789 prefix) with its check digit."""
    digits = f"7891234{number:05d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def chunked_rows(*columns, chunk=10_000):
    """Zip numpy columns into rows of Python values, converting a chunk at a time to bound memory."""
    for start in range(0, len(columns[0]), chunk):
        yield from zip(*(column[start:start + chunk].tolist() for column in columns))


def delete_cascading(queryset):
    """Delete ``queryset`` and whatever cascades from it with one DELETE (or UPDATE) per table.

    ``QuerySet.delete()`` loads every row to send ``post_delete`` (haystack listens to every model),
    far too slow for a million demo orders; demo rows have no listeners that matter.
    """
    model = queryset.model
    for relation in model._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete) or relation.many_to_many:
            continue
        field = relation.field
        related = relation.related_model._base_manager.filter(
            **{f"{field.name}__in": queryset.values(field.target_field.attname)}
        )
        if relation.on_delete is models.CASCADE:
            if relation.related_model is not model or related.exists():
                delete_cascading(related)
        elif relation.on_delete is models.SET_NULL:
            related.update(**{field.name: None})
    return queryset._raw_delete(queryset.db)


class TableWriter:
    """Writes plain rows straight into a model's table: COPY on PostgreSQL, one executemany elsewhere.

    ``bulk_create`` builds a model instance per row and prepares every value through its field, which
    costs more than the insert itself once there are millions of rows. Rows here carry their primary keys
    (from ``next_id``), so lines point at their orders without a round trip; fields left out get their
    default; ``reset_sequences`` then moves the id sequences past them, as ``loaddata`` does.
    """

    def __init__(self, using=DEFAULT_DB_ALIAS):
        self.connection = connections[using]
        self.written = []

    def next_id(self, model):
        top = model._base_manager.using(self.connection.alias).aggregate(top=models.Max("pk"))["top"]
        return (top or 0) + 1

    def write(self, model, columns, rows):
        """Insert ``rows``, tuples of values for ``columns`` (attnames, the primary key included)."""
        fields = [model._meta.get_field(column) for column in columns]
        defaults = [field for field in model._meta.concrete_fields if field not in fields and not field.null]
        tail = tuple(field.get_db_prep_save(field.get_default(), self.connection) for field in defaults)
        quote = self.connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(field.column) for field in fields + defaults)
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + tail)
            else:
                placeholders = ", ".join(["%s"] * (len(fields) + len(defaults)))
                sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"
                cursor.executemany(sql, (row + tail for row in self.adapt_datetimes(fields, rows)))
        self.written.append(model)

    def adapt_datetimes(self, fields, rows):
        """Datetimes as the backend stores them (psycopg's COPY takes them as they are)."""
        positions = [i for i, field in enumerate(fields) if isinstance(field, models.DateTimeField)]
        adapt = self.connection.ops.adapt_datetimefield_value
        for row in rows:
            if positions:
                row = list(row)
                for i in positions:
                    row[i] = adapt(row[i])
                row = tuple(row)
            yield row

    def reset_sequences(self):
        """Let the database hand out ids after the ones written here."""
        with self.connection.cursor() as cursor:
            for sql in self.connection.ops.sequence_reset_sql(no_style(), self.written):
                cursor.execute(sql)


class DemoStoreBuilder:
    """Builds the demo store: ``plan_*`` methods draw with numpy, ``create_*`` methods write."""

    def __init__(
        self, *, customers=2000, orders=12000, products=150, guest_share=0.15, seed=42, today=None, log=None
    ):
        self.customer_count = customers
        self.order_target = orders
        self.product_count = products
        self.guest_share = guest_share
        # An explicit day keeps builds reproducible; the real today keeps orders out of the future.
        self.today = today or timezone.localdate()
        self.up_to_now = today is None
        self.log = log or (lambda message: None)
        self.rng = np.random.default_rng(seed)
        self.subcategories = [(d, sub) for d, dept in enumerate(CATALOGUE) for sub in dept.subcategories]

    # --- the store as it is ---------------------------------------------------------------------------

    @staticmethod
    def has_orders():
        return Order.objects.exists()

    @staticmethod
    def demo_users():
        users = get_user_model().objects.filter(username__startswith=DEMO_PREFIX)
        return users.filter(is_staff=False, is_superuser=False)

    def flush(self):
        """Delete every order, then the demo customers, products and categories; staff and superusers stay."""
        counts = {"orders": delete_cascading(Order.objects.all())}
        counts.update(self.delete_demo_data())
        self.log("Flushed " + ", ".join(f"{count} {name}" for name, count in counts.items()))

    def delete_demo_data(self):
        return {
            "demo customers": delete_cascading(self.demo_users()),
            "products": delete_cascading(Product.objects.filter(product_class__slug=PRODUCT_CLASS_SLUG)),
            "categories": delete_cascading(Category.objects.filter(code__startswith=DEMO_PREFIX)),
        }

    # --- building -------------------------------------------------------------------------------------

    def build(self):
        """Draw and write the whole store; the caller wraps it in a transaction."""
        # Leftovers of an earlier build whose orders were deleted would clash on UPCs and codes.
        self.delete_demo_data()
        summary = DemoStoreSummary(categories=len(CATALOGUE) + len(self.subcategories))
        writer = TableWriter()

        started = time.monotonic()
        catalogue = self.plan_catalogue()
        line_products = self.create_catalogue(catalogue)
        summary.products = len(line_products)
        self.log(
            f"Catalogue: {len(CATALOGUE)} categories, {len(self.subcategories)} subcategories, "
            f"{summary.products} products ({time.monotonic() - started:.1f} s)"
        )

        started = time.monotonic()
        customers = self.plan_customers()
        plan = self.plan_orders(customers, catalogue)
        summary.customers = len(customers.persona)
        summary.guests = int(customers.is_guest.sum())
        summary.registered = summary.customers - summary.guests
        summary.orders, summary.lines = len(plan.customer), len(plan.line_order)
        summary.discounts = int((plan.offer >= 0).sum())
        summary.first_order, summary.last_order = (self.local_date(plan.timestamp[i]) for i in (0, -1))
        self.log(
            f"Plan: {summary.customers} customers ({summary.registered} registered, "
            f"{summary.guests} guests), {summary.orders} orders from {summary.first_order} to "
            f"{summary.last_order}, {summary.lines} lines ({time.monotonic() - started:.1f} s)"
        )

        started = time.monotonic()
        user_ids = self.create_users(customers, plan, writer)
        self.log(f"Customers: {summary.registered} users ({time.monotonic() - started:.1f} s)")

        started = time.monotonic()
        order_ids = self.create_orders(plan, customers, user_ids, writer)
        self.create_lines(plan, order_ids, line_products, writer)
        self.create_discounts(plan, order_ids, writer)
        writer.reset_sequences()
        self.log(
            f"Orders: {summary.orders} orders, {summary.lines} lines, {summary.discounts} discounts "
            f"({time.monotonic() - started:.1f} s)"
        )
        return summary

    # --- catalogue ------------------------------------------------------------------------------------

    def plan_catalogue(self):
        """Products spread over the subcategories, with prices, popularity and companions."""
        rng = self.rng
        n = self.product_count
        department_of = np.array([d for d, _ in self.subcategories])
        # A department's popularity is shared by its subcategories.
        shares = np.array([dept.popularity for dept in CATALOGUE]) / np.bincount(department_of)
        weights = shares[department_of]
        per_subcategory = 1 + rng.multinomial(n - len(self.subcategories), weights / weights.sum())
        subcategory = np.repeat(np.arange(len(self.subcategories)), per_subcategory)
        department = department_of[subcategory]

        titles = []
        for (_, sub), count in zip(self.subcategories, per_subcategory.tolist()):
            combos = [f"{base} {variant}" for base in sub.bases for variant in sub.variants]
            combos = [combos[i] for i in rng.permutation(len(combos))]
            for i in range(count):
                edition = f" – modelo {i // len(combos) + 1}" if i >= len(combos) else ""
                titles.append(combos[i % len(combos)] + edition)

        low, high = np.array([self.subcategories[s][1].price_range for s in subcategory]).T
        reais = np.exp(rng.uniform(np.log(low), np.log(high)))
        price_cents = np.floor(reais).astype(np.int64) * 100 + 90  # R$ 37,90

        # Popular products sell more; each one has companions bought along with it, mostly from its own
        # department, otherwise from the department that goes with it (coffee and coffee makers).
        popularity = np.empty(n)
        companions = np.full((n, 3), -1, dtype=np.int64)
        companion_count = rng.integers(1, 4, size=n)
        members_of = [np.flatnonzero(department == d) for d in range(len(CATALOGUE))]
        codes = [d.code for d in CATALOGUE]
        for d, members in enumerate(members_of):
            popularity[members] = 1 / (rng.permutation(len(members)) + 1) ** 0.9
            partners = members_of[codes.index(CATALOGUE[d].companion)]
            for product in members.tolist():
                same = members[members != product]
                for slot in range(companion_count[product]):
                    pool = same if (rng.random() < 0.65 and len(same)) else partners
                    companions[product, slot] = pool[rng.integers(len(pool))]
        return CataloguePlan(
            titles=titles,
            upcs=[ean13(i + 1) for i in range(n)],
            subcategory=subcategory,
            department=department,
            price_cents=price_cents,
            stock=rng.integers(20, 300, size=n),
            popularity=popularity,
            companions=companions,
            companion_count=companion_count,
        )

    def create_catalogue(self, plan):
        """The product class, partner, category tree, products and stock records.

        Returns, for each product, the values an order line copies from it: partner id and name, SKU,
        stock record id, product id, title and UPC.
        """
        product_class, _ = ProductClass.objects.update_or_create(
            slug=PRODUCT_CLASS_SLUG, defaults={"name": "Produto da loja", "requires_shipping": True}
        )
        partner, _ = Partner.objects.update_or_create(code=PARTNER_CODE, defaults={"name": "Loja Campeã"})
        leaves = []
        for dept in CATALOGUE:
            root = Category.add_root(name=dept.name, slug=slugify(dept.name), code=DEMO_PREFIX + dept.code)
            for sub in dept.subcategories:
                code = f"{DEMO_PREFIX}{dept.code}-{sub.code}"
                leaves.append(root.add_child(name=sub.name, slug=slugify(sub.name), code=code))

        products = Product.objects.bulk_create(
            [
                Product(
                    title=title, slug=slugify(title), upc=upc, product_class=product_class,
                    description=f"{title}. Produto de demonstração da Loja Campeã.",
                )
                for title, upc in zip(plan.titles, plan.upcs)
            ],
            batch_size=BATCH_SIZE,
        )
        ProductCategory.objects.bulk_create(
            [ProductCategory(product=p, category=leaves[s]) for p, s in zip(products, plan.subcategory)],
            batch_size=BATCH_SIZE,
        )
        stockrecords = StockRecord.objects.bulk_create(
            [
                StockRecord(
                    product=product, partner=partner, partner_sku=product.upc, price=money(cents),
                    price_currency=settings.OSCAR_DEFAULT_CURRENCY, num_in_stock=stock, num_allocated=0,
                )
                for product, cents, stock in zip(products, plan.price_cents.tolist(), plan.stock.tolist())
            ],
            batch_size=BATCH_SIZE,
        )
        return [
            (partner.pk, partner.name, product.upc, stockrecord.pk, product.pk, product.title, product.upc)
            for product, stockrecord in zip(products, stockrecords)
        ]

    # --- customers ------------------------------------------------------------------------------------

    def plan_customers(self):
        """Each customer's persona, identity and taste."""
        rng = self.rng
        n = self.customer_count
        shares = np.array([p.share for p in PERSONAS])
        counts = np.floor(shares * n).astype(int)
        counts[np.argsort(-(shares * n - counts), kind="stable")[: n - counts.sum()]] += 1
        if n >= len(PERSONAS):  # every persona observable, even in a tiny store
            for missing in np.flatnonzero(counts == 0):
                counts[missing] += 1
                counts[np.argmax(counts)] -= 1
        persona = rng.permutation(np.repeat(np.arange(len(PERSONAS)), counts))
        is_guest = rng.permutation(n) < round(n * self.guest_share)

        first_names = [FIRST_NAMES[i] for i in rng.integers(len(FIRST_NAMES), size=n).tolist()]
        last_names = [LAST_NAMES[i] for i in rng.integers(len(LAST_NAMES), size=n).tolist()]
        styles = rng.integers(4, size=n).tolist()
        domains = rng.integers(len(EMAIL_DOMAINS), size=n).tolist()
        emails = []
        for i, (first, last, style, domain) in enumerate(zip(first_names, last_names, styles, domains)):
            first, last = ascii_name(first), ascii_name(last)
            local = (f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{first}_{last}")[style]
            emails.append(f"{local}{i + 1}@{EMAIL_DOMAINS[domain]}")  # the number keeps them unique

        # Taste: a mix of the shop's department popularity and personal whims; focused customers buy
        # almost only from one or two favourite departments.
        popularity = np.array([d.popularity for d in CATALOGUE])
        popularity /= popularity.sum()
        departments = len(CATALOGUE)
        preferences = 0.5 * popularity + 0.5 * rng.dirichlet(np.full(departments, 0.8), size=n)
        focus = np.array([p.focus for p in PERSONAS])[persona]
        favourite = rng.choice(departments, size=n, p=popularity)
        second = (favourite + rng.integers(1, departments, size=n)) % departments
        has_second = rng.random(n) < 0.5
        focused = np.flatnonzero(focus > 0)
        rows = np.arange(len(focused))
        loved = np.zeros((len(focused), departments))
        loved[rows, favourite[focused]] = np.where(has_second[focused], 0.65, 1.0)
        loved[rows, second[focused]] += np.where(has_second[focused], 0.35, 0.0)
        preferences[focused] = (1 - focus[focused, None]) * popularity + focus[focused, None] * loved
        return CustomerPlan(persona, is_guest, first_names, last_names, emails, preferences)

    def create_users(self, customers, plan, writer):
        """Users for the registered customers; returns user ids by customer (0 for guests)."""
        User = get_user_model()
        password = make_password(CUSTOMER_PASSWORD)  # one hash for everyone: hashing is the slow part
        registered = np.flatnonzero(~customers.is_guest)
        user_ids = np.zeros(len(customers.persona), dtype=np.int64)
        user_ids[registered] = writer.next_id(User) + np.arange(len(registered))
        rows = (
            (
                user_id, f"{DEMO_PREFIX}{c + 1:07d}", customers.emails[c], password,
                customers.first_names[c], customers.last_names[c],
                datetime.fromtimestamp(joined, dt_timezone.utc), False, False, True,
            )
            for c, user_id, joined in chunked_rows(
                registered, user_ids[registered], plan.customer_joined[registered]
            )
        )
        columns = (
            "id", "username", "email", "password", "first_name", "last_name", "date_joined",
            "is_staff", "is_superuser", "is_active",
        )
        writer.write(User, columns, rows)
        return user_ids

    # --- orders ---------------------------------------------------------------------------------------

    def plan_orders(self, customers, catalogue):
        """Orders for every customer according to their persona, sorted by date, with lines and money."""
        rng = self.rng
        persona = customers.persona
        n_customers = len(persona)
        table = {name: np.array([getattr(p, name) for p in PERSONAS]) for name in Persona.__annotations__}

        # When each customer bought first and last, and how many times in between.
        first_low, first_high = table["first_days"][persona].T
        first_day = rng.integers(first_low, first_high + 1)
        last_low, last_high = table["last_days"][persona].T
        last_day = np.minimum(rng.integers(last_low, last_high + 1), first_day)
        gaps = table["days_between"][persona]
        last_day[gaps == 0] = first_day[gaps == 0]
        rate = (first_day - last_day) / np.where(gaps > 0, gaps, 1)
        low, high = table["min_orders"][persona], table["max_orders"][persona]
        count = np.clip(1 + rng.poisson(rate * self.rate_scale(rate, low, high)), low, high)

        # Orders spread between each customer's first and last day, at busy hours more often.
        customer = np.repeat(np.arange(n_customers), count)
        position = np.arange(len(customer)) - (np.cumsum(count) - count)[customer]
        u = rng.random(len(customer))
        u[position == count[customer] - 1] = 1.0
        u[position == 0] = 0.0
        day = np.rint(first_day[customer] - u * (first_day - last_day)[customer]).astype(np.int64)
        day[np.argmin(day)] = 0  # the history ends today
        hour = rng.choice(24, size=len(customer), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
        timestamp = self.timestamps(day, hour * 3600 + rng.integers(0, 3600, size=len(customer)))
        by_date = np.lexsort((customer, timestamp))
        customer, day, timestamp = customer[by_date], day[by_date], timestamp[by_date]
        position = position[by_date]
        n = len(customer)
        persona_of = persona[customer]

        app_users = rng.random(n_customers) < APP_USER_SHARE
        site_is_app = rng.random(n) < np.where(app_users, 0.8, 0.05)[customer]
        status = np.where(day <= 1, PENDING, np.where(day <= 4, BEING_PROCESSED, COMPLETE))
        status[rng.random(n) < CANCELLED_SHARE] = CANCELLED

        line_order, line_product, quantity = self.plan_lines(customer, customers, catalogue, table)
        unit_incl = catalogue.price_cents[line_product]
        before_incl = unit_incl * quantity
        subtotal = np.bincount(line_order, weights=before_incl, minlength=n).astype(np.int64)

        # Bargain hunters buy with a discount most of the time, newcomers often bring a welcome voucher.
        offer = np.full(n, -1)
        discounted = rng.random(n) < table["discount"][persona_of]
        offer[discounted] = 1 + rng.choice(len(OFFERS) - 1, size=int(discounted.sum()), p=OTHER_OFFER_WEIGHTS)
        welcome = (position == 0) & ~customers.is_guest[customer] & (rng.random(n) < WELCOME_VOUCHER_SHARE)
        offer[welcome] = WELCOME_OFFER
        percent = np.where(offer >= 0, np.array([o.percent for o in OFFERS])[offer], 0.0)
        discount = np.rint(subtotal * percent).astype(np.int64)

        # The discount is spread over the lines, as Oscar does, so lines and totals agree to the cent.
        share = discount[line_order] * before_incl // subtotal[line_order]
        first_line = np.searchsorted(line_order, np.arange(n))
        share[first_line] += discount - np.bincount(line_order, weights=share, minlength=n).astype(np.int64)
        unit_excl = without_tax(unit_incl)
        before_excl = unit_excl * quantity
        line_incl = before_incl - share
        line_excl = before_excl - without_tax(share)

        goods = subtotal - discount
        fee = np.array(SHIPPING_FEES_CENTS)[rng.integers(len(SHIPPING_FEES_CENTS), size=n)]
        shipping = np.where(goods >= FREE_SHIPPING_CENTS, 0, fee)

        # Registered customers signed up some time before their first order.
        first_order = np.full(n_customers, np.inf)
        np.minimum.at(first_order, customer, timestamp)
        joined = (first_order - rng.uniform(0, 120 * 86400, size=n_customers)).astype(np.int64)

        return OrderPlan(
            customer=customer, timestamp=timestamp, site_is_app=site_is_app, status=status,
            guest_emails=self.plan_guest_checkouts(customers, customer, position),
            offer=offer, discount=discount, shipping=shipping, total_incl=goods + shipping,
            total_excl=np.bincount(line_order, weights=line_excl, minlength=n).astype(np.int64) + shipping,
            line_order=line_order, line_product=line_product, line_quantity=quantity,
            line_unit_incl=unit_incl, line_unit_excl=unit_excl, line_before_incl=before_incl,
            line_before_excl=before_excl, line_incl=line_incl, line_excl=line_excl, customer_joined=joined,
        )

    def rate_scale(self, rate, low, high):
        """The factor on every persona's purchase rate that brings the expected order count to the target."""
        lowest, highest = 0.0, 1000.0
        for _ in range(60):
            middle = (lowest + highest) / 2
            if np.clip(1 + rate * middle, low, high).sum() < self.order_target:
                lowest = middle
            else:
                highest = middle
        return lowest

    def timestamps(self, day, seconds):
        """POSIX times ``seconds`` after local midnight, ``day`` days before today."""
        tz = timezone.get_current_timezone()
        midnights = np.array([
            datetime.combine(self.today - timedelta(days=d), datetime.min.time(), tzinfo=tz).timestamp()
            for d in range(int(day.max()) + 1)
        ])
        timestamp = midnights[day] + seconds
        if self.up_to_now:
            timestamp = np.minimum(timestamp, time.time())
        return timestamp.astype(np.int64)

    @staticmethod
    def local_date(timestamp):
        return timezone.localtime(datetime.fromtimestamp(int(timestamp), dt_timezone.utc)).date()

    def plan_lines(self, customer, customers, catalogue, table):
        """One to four lines per order: items from the customer's favourite departments and their companions.

        Returns the order, product and quantity of every line, ordered by order.
        """
        rng = self.rng
        n = len(customer)
        persona_of = customers.persona[customer]
        items_wanted = 1 + rng.binomial(2, table["extra_item"][persona_of])
        cumulative = np.cumsum(customers.preferences, axis=1)[customer]
        u = rng.random((n, 3))
        department = np.zeros((n, 3), dtype=np.int64)
        for d in range(len(CATALOGUE) - 1):
            department += u > cumulative[:, d, None]
        del cumulative

        items = np.empty((n, 3), dtype=np.int64)
        for d in range(len(CATALOGUE)):
            members = np.flatnonzero(catalogue.department == d)
            weights = catalogue.popularity[members] / catalogue.popularity[members].sum()
            chosen = department == d
            items[chosen] = rng.choice(members, size=int(chosen.sum()), p=weights)
        companion = catalogue.companions[items, rng.integers(0, catalogue.companion_count[items])]
        companion[rng.random((n, 3)) >= COMPANION_PROBABILITY] = -1
        items[np.arange(3) >= items_wanted[:, None]] = -1
        companion[items < 0] = -1

        # Each item followed by its companion; repeats dropped, at most MAX_LINES kept.
        candidates = np.stack([column for i in range(3) for column in (items[:, i], companion[:, i])], axis=1)
        for j in range(1, candidates.shape[1]):
            for i in range(j):
                candidates[candidates[:, j] == candidates[:, i], j] = -1
        valid = candidates >= 0
        keep = valid & (np.cumsum(valid, axis=1) <= MAX_LINES)
        line_order = np.nonzero(keep)[0]
        line_product = candidates[keep]

        quantity = np.minimum(1 + rng.poisson(table["extra_quantity"][persona_of[line_order]]), 4)
        quantity[catalogue.price_cents[line_product] > 300_00] = 1  # one sound bar is enough
        return line_order, line_product, quantity

    def plan_guest_checkouts(self, customers, customer, position):
        """A few registered customers who once checked out as guests, typing their e-mail differently."""
        rng = self.rng
        merge_personas = [i for i, p in enumerate(PERSONAS) if p.name in MERGE_PERSONAS]
        registered = ~customers.is_guest[customer]
        candidates = np.flatnonzero(
            (position > 0) & registered & np.isin(customers.persona[customer], merge_personas)
        )
        _, one_each = np.unique(customer[candidates], return_index=True)
        candidates = candidates[one_each]
        wanted = min(len(candidates), max(3, round(0.01 * (~customers.is_guest).sum())))
        chosen = np.sort(rng.choice(candidates, size=wanted, replace=False)).tolist()
        retyped = (str.upper, lambda e: f"  {e} ", lambda e: e[0].upper() + e[1:], lambda e: f" {e.upper()}")
        return {order: retyped[k % 4](customers.emails[customer[order]]) for k, order in enumerate(chosen)}

    def create_orders(self, plan, customers, user_ids, writer):
        """Orders on the shop's own site and on the app; returns their ids."""
        app, _ = Site.objects.update_or_create(domain=APP_SITE_DOMAIN, defaults={"name": "App"})
        site_ids = (settings.SITE_ID, app.pk)
        currency = settings.OSCAR_DEFAULT_CURRENCY
        n = len(plan.customer)
        order_ids = writer.next_id(Order) + np.arange(n)
        emails = np.where(customers.is_guest, np.array(customers.emails, dtype=object), "")[plan.customer]
        for order, email in plan.guest_emails.items():
            emails[order] = email
        users = np.where(emails == "", user_ids[plan.customer], 0)

        def rows():
            columns = chunked_rows(
                order_ids, plan.site_is_app, users, emails, plan.total_incl, plan.total_excl, plan.shipping,
                plan.status, plan.timestamp,
            )
            for i, (order_id, app, user, email, incl, excl, shipping, status, placed) in enumerate(columns):
                if i and i % 100_000 == 0:
                    self.log(f"  ... {i} of {n} orders")
                # Oscar numbers checkout orders 100000 + basket id: the "D" keeps demo numbers clear of them.
                yield (
                    order_id, f"D{i + 1:07d}", site_ids[app], user or None, email, currency,
                    money(incl), money(excl), money(shipping), money(shipping),
                    "Entrega padrão" if shipping else "Frete grátis", "standard" if shipping else "free",
                    STATUSES[status], datetime.fromtimestamp(placed, dt_timezone.utc),
                )

        columns = (
            "id", "number", "site_id", "user_id", "guest_email", "currency", "total_incl_tax",
            "total_excl_tax", "shipping_incl_tax", "shipping_excl_tax", "shipping_method", "shipping_code",
            "status", "date_placed",
        )
        writer.write(Order, columns, rows())
        return order_ids

    def create_lines(self, plan, order_ids, line_products, writer):
        """The orders' lines, with the status of their order."""
        rows = (
            (line_id, order_id, *line_products[product], quantity, money(unit_incl), money(unit_excl),
             money(before_incl), money(before_excl), money(incl), money(excl), STATUSES[status], quantity)
            for (line_id, order_id, product, quantity, unit_incl, unit_excl, before_incl, before_excl, incl,
                 excl, status) in chunked_rows(
                writer.next_id(Line) + np.arange(len(plan.line_order)), order_ids[plan.line_order],
                plan.line_product, plan.line_quantity, plan.line_unit_incl, plan.line_unit_excl,
                plan.line_before_incl, plan.line_before_excl, plan.line_incl, plan.line_excl,
                plan.status[plan.line_order],
            )
        )
        columns = (
            "id", "order_id", "partner_id", "partner_name", "partner_sku", "stockrecord_id", "product_id",
            "title", "upc", "quantity", "unit_price_incl_tax", "unit_price_excl_tax",
            "line_price_before_discounts_incl_tax", "line_price_before_discounts_excl_tax",
            "line_price_incl_tax", "line_price_excl_tax", "status", "num_allocated",
        )
        writer.write(Line, columns, rows)

    def create_discounts(self, plan, order_ids, writer):
        """The discounted orders' OrderDiscount rows, and usage counters on the offers and vouchers."""
        offer_ids = self.create_offers()
        discounted = np.flatnonzero(plan.offer >= 0)
        rows = (
            (discount_id, order_id, "Basket", *offer_ids[offer], OFFERS[offer].name,
             OFFERS[offer].voucher_code, 1, money(amount))
            for discount_id, order_id, offer, amount in chunked_rows(
                writer.next_id(OrderDiscount) + np.arange(len(discounted)), order_ids[discounted],
                plan.offer[discounted], plan.discount[discounted],
            )
        )
        columns = (
            "id", "order_id", "category", "offer_id", "voucher_id", "offer_name", "voucher_code", "frequency",
            "amount",
        )
        writer.write(OrderDiscount, columns, rows)

        for index, (offer_id, voucher_id) in enumerate(offer_ids):
            used = plan.offer == index
            total = money(int(plan.discount[used].sum()))
            counters = {"num_orders": int(used.sum()), "total_discount": total}
            ConditionalOffer.objects.filter(pk=offer_id).update(
                num_applications=counters["num_orders"], **counters
            )
            if voucher_id:
                Voucher.objects.filter(pk=voucher_id).update(**counters)

    def create_offers(self):
        """The offers behind the demo discounts: two vouchers and two suspended site offers.

        Returns ``(offer id, voucher id or None)`` for each of OFFERS.
        """
        whole_shop, _ = Range.objects.update_or_create(
            name="Toda a loja (demo)", defaults={"includes_all_products": True}
        )
        ids = []
        for offer in OFFERS:
            conditional = ConditionalOffer.objects.filter(name=offer.name).first()
            if conditional is None:
                conditional = ConditionalOffer.objects.create(
                    name=offer.name,
                    condition=Condition.objects.create(range=whole_shop, type=Condition.COUNT, value=1),
                    benefit=Benefit.objects.create(
                        range=whole_shop, type=Benefit.PERCENTAGE, value=Decimal(round(offer.percent * 100))
                    ),
                    offer_type=ConditionalOffer.VOUCHER if offer.voucher_code else ConditionalOffer.SITE,
                    # Site offers only explain past discounts: suspended, they leave live baskets alone.
                    status=ConditionalOffer.OPEN if offer.voucher_code else ConditionalOffer.SUSPENDED,
                )
            voucher = None
            if offer.voucher_code:
                voucher, _ = Voucher.objects.update_or_create(
                    code=offer.voucher_code,
                    defaults={
                        "name": offer.name,
                        "usage": Voucher.MULTI_USE,
                        "start_datetime": timezone.make_aware(datetime(2020, 1, 1)),
                        "end_datetime": timezone.make_aware(datetime(2100, 1, 1)),
                    },
                )
                voucher.offers.add(conditional)
            ids.append((conditional.pk, voucher and voucher.pk))
        return ids

    # --- staff ----------------------------------------------------------------------------------------

    @staticmethod
    def reset_admin():
        """The staff superuser a newcomer logs into the dashboard with."""
        admin, _ = get_user_model().objects.get_or_create(username=ADMIN_USERNAME)
        admin.email = ADMIN_EMAIL
        admin.is_staff = admin.is_superuser = admin.is_active = True
        admin.set_password(ADMIN_PASSWORD)
        admin.save()
        return admin
