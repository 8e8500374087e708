import pytest


@pytest.fixture(autouse=True)
def _plain_storage(settings, tmp_path):
    """Keep media written by tests out of the sandbox."""
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True, scope="session")
def _search_index(tmp_path_factory):
    """Keep the search index written by tests out of the sandbox."""
    from haystack import connections

    connections.connections_info["default"]["PATH"] = str(tmp_path_factory.mktemp("whoosh_index"))


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Hashing passwords properly is slow by design; tests only need it to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    """What a test cached (the overview's KPIs, segment counts, recommendations) is keyed by rows the test's
    transaction rolls back; the next test's rows may get the same ids."""
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """A page requested in pt-BR leaves that language active in the thread (LocaleMiddleware activates it and
    nothing resets it); the next test starts from the default language again."""
    yield
    from django.utils import translation

    translation.deactivate()
