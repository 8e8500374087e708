from django.apps import AppConfig


class CmsConfig(AppConfig):
    """The sandbox's Wagtail pages: a home page and campaign pages made of the Champions blocks."""

    name = "sandbox.cms"
    default_auto_field = "django.db.models.AutoField"
