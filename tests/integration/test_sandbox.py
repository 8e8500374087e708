import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_sandbox_has_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
