"""Every Champions dashboard URL refuses anonymous users, customers and partner-only staff.

The URLs are read from the dashboard app itself, so a page added without an entry here fails.
"""

import pytest
from django.apps import apps
from django.urls import reverse

#: The URL arguments of each page that takes some, from the ``shop`` fixture.
URL_KWARGS = {
    "champions-segment-detail": {"pk": lambda shop: shop["segment"].pk},
    "champions-segment-update": {"pk": lambda shop: shop["segment"].pk},
    "champions-segment-duplicate": {"pk": lambda shop: shop["segment"].pk},
    "champions-segment-delete": {"pk": lambda shop: shop["segment"].pk},
    "champions-segment-export": {"pk": lambda shop: shop["segment"].pk},
    "champions-customer": {"pk": lambda shop: shop["ana"].pk},
    # Also answers at stages/<stage>/offer/; the segment's URL is the first of the name.
    "champions-segment-offer": {"pk": lambda shop: shop["segment"].pk},
    "champions-stage-offer": {"stage": lambda shop: "champions"},
}


def _named_urls():
    return [pattern.name for pattern in apps.get_app_config("oscar_champions_dashboard").urls[0]]


def _url(name, shop):
    kwargs = {key: value(shop) for key, value in URL_KWARGS.get(name, {}).items()}
    return reverse(f"champions-dashboard:{name}", kwargs=kwargs)


@pytest.mark.parametrize("name", _named_urls())
def test_anonymous_users_are_sent_to_the_login_page(client, shop, name):
    response = client.get(_url(name, shop))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("role", ["customer", "partner_user"])
@pytest.mark.parametrize("name", _named_urls())
def test_customers_and_partner_users_are_refused(client, shop, request, role, name):
    client.force_login(request.getfixturevalue(role))
    assert client.get(_url(name, shop)).status_code == 403
    assert client.post(_url(name, shop)).status_code == 403


@pytest.mark.parametrize("role", ["staff", "permitted_user"])
@pytest.mark.parametrize("name", _named_urls())
def test_staff_and_users_with_the_permission_get_in(client, shop, request, role, name):
    client.force_login(request.getfixturevalue(role))
    response = client.get(_url(name, shop))
    # Pages answer 200; action URLs that only take POST answer 405 to a GET, never 403.
    assert response.status_code in (200, 405), response


def test_every_url_with_arguments_has_them_here():
    for name in _named_urls():
        pattern = next(p for p in apps.get_app_config("oscar_champions_dashboard").urls[0] if p.name == name)
        assert set(pattern.pattern.converters) == set(URL_KWARGS.get(name, {})), name
