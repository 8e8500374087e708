import pytest


@pytest.fixture(autouse=True)
def _plain_storage(settings, tmp_path):
    """Keep media written by tests out of the sandbox."""
    settings.MEDIA_ROOT = tmp_path
