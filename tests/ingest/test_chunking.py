"""Chunking: a table cut between chunks keeps its header in every chunk."""

from ingest.chunking import chunk_document
from ingest.models import LoadedDocument, Section
from tenor.evidence import split_units


class Lines:
    """A splitter that cuts after every ``size`` lines (the real one cuts by tokens)."""

    def __init__(self, size: int):
        self.size = size

    def split_text(self, text: str) -> list[str]:
        lines = text.splitlines()
        return ["\n".join(lines[i:i + self.size]) for i in range(0, len(lines), self.size)]


def test_a_chunk_starting_inside_a_table_starts_with_its_header():
    rows = [f"| Model {n} | ${1000 + n} |" for n in range(6)]
    text = "Our prices:\n| Model | Price |\n|---|---|\n" + "\n".join(rows) + "\nPrices include tax."
    document = LoadedDocument(document_id="prices.md", source="prices.md", sections=[Section(text=text, heading="Prices")])
    chunks = chunk_document(document, Lines(4))
    units = [u for c in chunks for u in split_units(c.text) if u.is_row]
    assert [u.plain() for u in units] == [f"Model: Model {n}; Price: ${1000 + n}" for n in range(6)]
    assert chunks[-1].text.endswith("Prices include tax.")


def test_a_repeated_row_gets_its_own_tables_header():
    text = ("| Fold F1 | Spec |\n| Warranty | 2 years |\n| Weight | 17 kg |\n\n"
            "| Cargo K1 | Spec |\n| Warranty | 2 years |\n| Weight | 34 kg |")
    document = LoadedDocument(document_id="specs.md", source="specs.md", sections=[Section(text=text)])
    chunks = chunk_document(document, Lines(5))
    assert chunks[-1].text.startswith("| Cargo K1 | Spec |") and "34 kg" in chunks[-1].text
