import csv
import io
from decimal import Decimal

import pytest

from oscar_champions.exports import ROWS_PER_CHUNK, csv_lines, export_filename, neutralise


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"),
    ("+55 11 99999-0000", "'+55 11 99999-0000"),
    ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=cmd", "'\t=cmd"),
    ("Ana", "Ana"),
    (Decimal("-12.50"), "-12.50"),
    (-3, "-3"),
    (None, ""),
])
def test_text_that_starts_like_a_formula_is_neutralised_and_numbers_stay_numbers(value, cell):
    assert neutralise(value) == cell


def test_csv_lines_are_excel_friendly_utf8():
    lines = csv_lines(["Nome", "Receita"], iter([["João", Decimal("10.00")], ["=evil()", 1]]))
    text = "".join(lines)
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text[1:]))) == [["Nome", "Receita"], ["João", "10.00"], ["'=evil()", "1"]]


def test_csv_lines_stream_the_rows_in_chunks_as_they_are_read():
    read = []

    def rows():
        for number in range(2 * ROWS_PER_CHUNK + 1):
            read.append(number)
            yield [number]

    chunks = csv_lines(["Pedido"], rows())
    assert next(chunks) == "\ufeffPedido\r\n"
    assert read == []
    assert next(chunks).splitlines() == [str(number) for number in range(ROWS_PER_CHUNK)]
    assert len(read) == ROWS_PER_CHUNK
    assert [len(chunk.splitlines()) for chunk in chunks] == [ROWS_PER_CHUNK, 1]


def test_export_filename_says_what_and_when():
    from datetime import datetime, timezone

    moment = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert export_filename("Clientes em risco", moment=moment) == "clientes-em-risco-2026-11-22.csv"
