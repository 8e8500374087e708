import re
from pathlib import Path

import pytest

from oscar_champions.conf import DEFAULTS, champions_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme_and_nothing_else():
    documented = set(re.findall(r"^\| `OSCAR_CHAMPIONS_([A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert documented == set(DEFAULTS)


def test_settings_fall_back_to_their_defaults_and_follow_overrides(settings):
    assert champions_settings.LOST_DAYS == DEFAULTS["LOST_DAYS"]
    settings.OSCAR_CHAMPIONS_LOST_DAYS = 500
    assert champions_settings.LOST_DAYS == 500


def test_an_unknown_setting_is_an_error():
    with pytest.raises(AttributeError):
        champions_settings.NO_SUCH_SETTING
