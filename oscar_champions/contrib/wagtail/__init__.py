"""oscar-champions for shops whose content runs on Wagtail (``pip install oscar-champions[wagtail]``).

* ``blocks``: StreamField blocks for personal picks, products bought together and content shown only to
  chosen lifecycle stages or saved segments; they render with the storefront's tags and templates.
* ``views``: the best-customers report in Wagtail's admin, built on Wagtail's reports framework.
* ``wagtail_hooks``: the report's URLs and menu item, the Champions dashboard pages in Wagtail's menu and
  the product chooser the blocks use.
"""
