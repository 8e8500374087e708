from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The sandbox's demo store builder (``manage.py champions_demo``)."""

    name = "sandbox.demo"
    label = "champions_demo"
