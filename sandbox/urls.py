from django.apps import apps
from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
content = []
if settings.WAGTAIL_INSTALLED:
    from wagtail import urls as wagtail_urls
    from wagtail.admin import urls as wagtailadmin_urls
    from wagtail.documents import urls as wagtaildocs_urls

    urlpatterns += [path("cms/", include(wagtailadmin_urls)), path("documents/", include(wagtaildocs_urls))]
    # Wagtail's pages under their own prefix, so its catch-all never hides Oscar's pages (nor Oscar's home
    # the Wagtail home page): /en-gb/content/ is the Wagtail home, /en-gb/content/<slug>/ its children.
    content = [path("content/", include(wagtail_urls))]

urlpatterns += i18n_patterns(
    path("dashboard/champions/", apps.get_app_config("oscar_champions_dashboard").urls),
    *content,
    path("", include(apps.get_app_config("oscar").urls[0])),
)

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
