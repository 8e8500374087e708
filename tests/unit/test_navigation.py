from oscar.defaults import OSCAR_DASHBOARD_NAVIGATION

from oscar_champions.dashboard.navigation import with_champions_navigation


def test_the_pages_go_under_customers_without_touching_the_original():
    navigation = with_champions_navigation(OSCAR_DASHBOARD_NAVIGATION)
    customers = next(menu for menu in navigation if menu.get("icon") == "fas fa-users")
    names = [child["url_name"] for child in customers["children"]]
    assert names[0] == "dashboard:users-index"
    assert "champions-dashboard:champions-overview" in names
    original = next(menu for menu in OSCAR_DASHBOARD_NAVIGATION if menu.get("icon") == "fas fa-users")
    assert "champions-dashboard:champions-overview" not in [child["url_name"] for child in original["children"]]


def test_a_navigation_without_customers_gets_a_menu_of_its_own():
    navigation = with_champions_navigation([{"label": "Orders", "icon": "fas fa-shopping-cart", "children": []}])
    assert navigation[-1]["icon"] == "fas fa-users"
    assert navigation[-1]["children"][0]["url_name"] == "champions-dashboard:champions-overview"
