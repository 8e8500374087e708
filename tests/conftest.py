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
