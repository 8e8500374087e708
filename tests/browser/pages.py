"""What the browser tests share: the sandbox's URLs and logging in, as a person does it."""

from django.urls import reverse
from django.utils import translation

try:
    from playwright.sync_api import expect  # noqa: F401 - for the tests
except ImportError:  # the browser fixture skips (or fails, in CI) and says why
    expect = None


def url(name, **kwargs):
    """A path of the sandbox in English (its URLs carry the language)."""
    with translation.override("en-gb"):
        return reverse(name, kwargs=kwargs or None)


def log_in_to_the_dashboard(page, email, password):
    page.goto(url("dashboard:login"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("#dashboard_login_form [type=submit]")


def log_in_to_the_shop(page, email, password):
    page.goto(url("customer:login"))
    page.fill("input[name=login-username]", email)
    page.fill("input[name=login-password]", password)
    page.click("button[name=login_submit]")
