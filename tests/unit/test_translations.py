"""The Brazilian Portuguese catalogue is complete, compiled, and covers every string of the package."""

import shutil
import subprocess
from pathlib import Path

import polib
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "oscar_champions"
CATALOGUE = PACKAGE / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"


def test_every_entry_is_translated():
    catalogue = polib.pofile(str(CATALOGUE))
    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []


def test_the_compiled_catalogue_matches_the_source():
    compiled = {(entry.msgctxt, entry.msgid): entry.msgstr for entry in polib.mofile(str(CATALOGUE.with_suffix(".mo")))}
    for entry in polib.pofile(str(CATALOGUE)):
        if not entry.msgid_plural:
            assert compiled.get((entry.msgctxt, entry.msgid)) == entry.msgstr, "run `make messages`"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext's xgettext")
def test_every_string_of_the_package_is_in_the_catalogue(tmp_path):
    from django.utils.translation.template import templatize

    extracted = tmp_path / "extracted.pot"
    sources = sorted(str(p) for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
    # Templates (pages, PDF, SVG charts) are turned into Python the way makemessages does it.
    for number, template in enumerate(sorted((PACKAGE / "templates").rglob("*.*"))):
        converted = tmp_path / f"template_{number}.py"
        converted.write_text(templatize(template.read_text(encoding="utf-8"), origin=str(template)), encoding="utf-8")
        sources.append(str(converted))
    subprocess.run(
        ["xgettext", "--language=Python", "--from-code=UTF-8", "--keyword=gettext_lazy", "--keyword=_",
         "--keyword=gettext", "--keyword=pgettext_lazy:1c,2", "--keyword=pgettext:1c,2", "--keyword=ngettext:1,2",
         "--keyword=ngettext_lazy:1,2", "--keyword=npgettext:1c,2,3", "-o", str(extracted), *sources],
        check=True,
    )
    translated = {(e.msgctxt, e.msgid) for e in polib.pofile(str(CATALOGUE))}
    missing = [e.msgid for e in polib.pofile(str(extracted)) if (e.msgctxt, e.msgid) not in translated]
    assert missing == [], "run `make messages` and translate the new strings"
