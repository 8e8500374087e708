"""Customer intelligence for django-oscar shops: who the best customers are, who is slipping away."""

__version__ = "0.1.0"
