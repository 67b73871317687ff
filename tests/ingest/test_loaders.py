import os
import subprocess
import sys
import time
import zipfile

import pytest

from ingest.loaders import LoadError, load_file
from tests.ingest.files import HTML_PAGE, MARKDOWN_PAGE, make_docx, make_pdf


def load(path):
    return load_file(path, path.name)


def test_text_file_is_one_section(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Battery care\n\nStore at 40-60% charge.\n")
    doc = load(path)
    assert [s.text for s in doc.sections] == ["Battery care\n\nStore at 40-60% charge."]
    assert doc.document_id == "note.txt"


def test_text_file_with_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffline one\r\nline two\r\n".encode("utf-8"))
    assert load(path).text == "line one\nline two"


def test_markdown_sections_follow_heading_path(tmp_path):
    path = tmp_path / "products.md"
    path.write_text(MARKDOWN_PAGE)
    doc = load(path)
    by_heading = {s.heading: s.text for s in doc.sections}
    assert doc.title == "Products"
    assert set(by_heading) == {"Products", "Products > Fold F1", "Products > Cargo K1"}
    assert "| Fold F1 | $1,799 |" in by_heading["Products > Fold F1"]
    assert "# not a heading inside a code fence" in by_heading["Products > Fold F1"]
    assert "- carries 180 kg" in by_heading["Products > Cargo K1"]


def test_html_drops_scripts_styles_navigation_and_keeps_tables(tmp_path):
    path = tmp_path / "shipping.html"
    path.write_text(HTML_PAGE)
    doc = load(path)
    text = doc.text
    for noise in ("trackingSecret", "secret-css-rule", "Shop menu link", "Copyright footer", "a comment"):
        assert noise not in text
    sections = {s.heading: s.text for s in doc.sections}
    assert doc.title == "Shipping | Acme"
    assert "We ship every weekday from our warehouse." in sections["Shipping policy"]
    assert "Express | $149 | 2-3" in sections["Shipping policy > Rates"]
    assert "- 30 days to return" in sections["Shipping policy > Returns"]


def test_pdf_text_per_page_with_page_numbers(tmp_path):
    path = make_pdf(tmp_path / "warranty.pdf", ["Frame: lifetime warranty.", "Claims: email us photos."])
    doc = load(path)
    assert [s.page for s in doc.sections] == [1, 2]
    assert "lifetime" in doc.sections[0].text and "Claims" in doc.sections[1].text


def test_docx_headings_lists_and_tables(tmp_path):
    path = make_docx(
        tmp_path / "service.docx", "Service plans", ["We tune bikes."],
        table=[["Plan", "Price"], ["Basic Tune", "$89"]], subheading="What is included",
        bullets=["brake adjustment", "safety check"],
    )
    doc = load(path)
    sections = {s.heading: s.text for s in doc.sections}
    assert "We tune bikes." in sections["Service plans"]
    assert "- brake adjustment" in sections["Service plans > What is included"]
    assert "Basic Tune | $89" in sections["Service plans > What is included"]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"   \n\n  \n", "no text found"),
        ("binary.txt", b"\x00\x01\x02\x03" * 100, "binary content"),
        ("latin.txt", bytes(range(128, 256)) * 50, "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj garbage", "corrupt or unreadable pdf"),
        ("notzip.docx", b"this is not a zip archive", "not a valid .docx"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported file type '.png'"),
        ("noext", b"hello", "unsupported file type '(no extension)'"),
    ],
)
def test_bad_files_raise_a_clear_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        load(path)


def test_truncated_pdf_is_reported_not_crashing(tmp_path):
    good = make_pdf(tmp_path / "good.pdf", ["Some text on a page."] * 3)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    try:
        doc = load(truncated)
    except LoadError as exc:
        assert "pdf" in str(exc).lower() or "no text" in str(exc)
    else:  # pypdf may recover some pages; then what it returns must be real text
        assert "Some text" in doc.text


def test_zip_bomb_docx_is_refused_before_parsing(tmp_path):
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (210 * 1024 * 1024))
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(LoadError, match="zip bomb"):
        load(path)


def test_oversize_file_is_refused(tmp_path, monkeypatch):
    import ingest.loaders as loaders

    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    with pytest.raises(LoadError, match="limit is"):
        load(path)


def test_text_file_underlined_headings_become_sections(tmp_path):
    path = tmp_path / "guide.txt"
    path.write_text("BATTERY GUIDE\n=============\n\nIntro.\n\nCHARGING\n--------\n\nCharge at 0-40 C.\n\na - b\n")
    doc = load(path)
    assert doc.title == "BATTERY GUIDE"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("BATTERY GUIDE", "Intro."), ("CHARGING", "Charge at 0-40 C.\n\na - b"),
    ]


def test_text_file_headings_without_underlines_become_sections(tmp_path):
    """Help pages exported as plain text often mark headings only by capitals or by a short line
    right above its text; joined to the text they made "Who can drive Drivers must be..."."""
    path = tmp_path / "vans.txt"
    path.write_text(
        "Van hire\n\nMOVING DAY VAN\n\nOur van has a tail lift.\n\n"
        "Who can drive\nDrivers must be aged 25 to 75 and hold a full licence.\n\n"
        "OPTION 1: WHAT TO BRING\n- Photo ID\n- A padlock\n\n"
        "Our Banbury and Bicester sites each have a\nFord Transit van you can hire by the day.\n\n"
        "You can return\nany item within 30 days.\n\n"
        "Q: CAN I HIRE IT FOR A WEEK\nA: Yes, call us.\n\n"
        "CALL 0800 123 4567\nLines open daily.\n\n"
        "IMPORTANT NOTICE\n\nCLOSED ON SUNDAYS\n")
    doc = load(path)
    assert [(s.heading, s.text) for s in doc.sections] == [
        (None, "Van hire"),  # a short line above a blank one is not known to head anything
        ("MOVING DAY VAN", "Our van has a tail lift."),
        ("Who can drive", "Drivers must be aged 25 to 75 and hold a full licence."),
        ("OPTION 1: WHAT TO BRING", "- Photo ID\n- A padlock\n\n"
         # a wrapped line breaks where the next word would not fit; a sentence goes on in lower case;
         # a FAQ's question, a figure and a heading over no text (or over another heading) stay text
         "Our Banbury and Bicester sites each have a\nFord Transit van you can hire by the day.\n\n"
         "You can return\nany item within 30 days.\n\nQ: CAN I HIRE IT FOR A WEEK\nA: Yes, call us.\n\n"
         "CALL 0800 123 4567\nLines open daily.\n\nIMPORTANT NOTICE\n\nCLOSED ON SUNDAYS"),
    ]


# -- hostile files: every loader either returns text or raises LoadError, in bounded time and memory --

def _mutations(data: bytes, rng) -> list[bytes]:
    """Truncations and byte flips of a valid file, plus pure noise."""
    out = [data[: rng.randrange(1, len(data))] for _ in range(4)]
    for _ in range(4):
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 40)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        out.append(bytes(flipped))
    out += [rng.randbytes(rng.choice([1, 17, 4096, 65536])) for _ in range(4)]
    return out


def _valid_sample(suffix: str, tmp_path) -> bytes:
    if suffix == ".pdf":
        return make_pdf(tmp_path / "v.pdf", ["Frame: lifetime warranty.", "Claims: email us."]).read_bytes()
    if suffix == ".docx":
        return make_docx(tmp_path / "v.docx", "Plans", ["We tune bikes."], table=[["a", "b"]]).read_bytes()
    if suffix in (".html", ".htm"):
        return HTML_PAGE.encode()
    return MARKDOWN_PAGE.encode()


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".pdf", ".docx"])
def test_fuzzed_files_load_or_raise_a_clear_load_error(tmp_path, suffix):
    import random

    rng = random.Random(suffix)
    for i, data in enumerate(_mutations(_valid_sample(suffix, tmp_path), rng)):
        path = tmp_path / f"fuzz{i}{suffix}"
        path.write_bytes(data)
        started = time.monotonic()
        try:
            doc = load(path)
        except LoadError as exc:
            assert str(exc) and "Traceback" not in str(exc)
        else:
            assert doc.sections and all(s.text for s in doc.sections)
        assert time.monotonic() - started < 30, f"{path.name} took too long"  # a hang guard, not a speed test


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_invalid_utf8_in_markup_files(tmp_path, suffix):
    mostly_bad = tmp_path / f"bad{suffix}"
    mostly_bad.write_bytes(b"<p>" + bytes(range(128, 256)) * 40 + b"</p>")
    with pytest.raises(LoadError, match="not UTF-8"):
        load(mostly_bad)
    a_few_bad = tmp_path / f"few{suffix}"
    a_few_bad.write_bytes(b"<p>Caf\xe9 opening hours: nine to five, every day of the week.</p>\n")
    assert "opening hours" in load(a_few_bad).text  # a stray byte is replaced, not fatal


def test_docx_with_an_xml_entity_bomb_does_not_expand(tmp_path):
    """'Billion laughs' inside word/document.xml: python-docx's parser does not resolve entities."""
    good = make_docx(tmp_path / "good.docx", "Plans", ["We tune bikes."])
    bomb = tmp_path / "laughs.docx"
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"?>", f"?><!DOCTYPE w:document [{entities}]>".encode(), 1)
                data = data.replace(b"We tune bikes.", b"&a9;")
            dst.writestr(item, data)
    started = time.monotonic()
    try:
        doc = load(bomb)
    except LoadError:
        pass
    else:
        assert len(doc.text) < 10_000  # 10^9 "lol"s would be 3 GB
    assert time.monotonic() - started < 30


def test_file_just_over_the_limit_is_refused_without_reading_it(tmp_path):
    import ingest.loaders as loaders

    path = tmp_path / "huge.txt"
    with path.open("wb") as f:  # sparse: costs no disk
        f.truncate(loaders.MAX_FILE_BYTES + 1)
    started = time.monotonic()
    with pytest.raises(LoadError, match="limit is 50 MiB"):
        load(path)
    assert time.monotonic() - started < 5


LOAD_50MB = """
import sys, time
from pathlib import Path
from ingest.loaders import load_file
path = Path(sys.argv[1])
started = time.monotonic()
doc = load_file(path, path.name)
# VmHWM is this process image's own peak; ru_maxrss would carry over the forking parent's size.
peak_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
print(len(doc.sections), sum(len(s.text) for s in doc.sections), round(time.monotonic() - started, 2),
      peak_kb // 1024)
"""


def test_50_mb_text_file_loads_in_bounded_time_and_memory(tmp_path):
    path = tmp_path / "big.md"
    paragraph = ("## Section\n\n" + "The Larkfield Fold F1 folds in fifteen seconds and weighs 17 kg. " * 12 + "\n\n")
    with path.open("w") as f:
        while f.tell() < 50_000_000:
            f.write(paragraph * 100)
    size_mb = path.stat().st_size / 1e6
    done = subprocess.run([sys.executable, "-c", LOAD_50MB, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, done.stderr[-2000:]
    sections, chars, seconds, peak_mb = (float(x) for x in done.stdout.split())
    print(f"\n[loaders] {size_mb:.0f} MB markdown: {int(sections)} sections in {seconds} s, peak RSS {peak_mb:.0f} MiB")
    assert chars > 45_000_000
    assert peak_mb < 2048  # bounded: a few copies of the text, not a blow-up


def test_pdf_page_numbers_and_running_headers_are_not_text(tmp_path):
    """A page number is a figure the verifier would take for a fact ("Page 1" answering
    "how many bikes did you sell?"); a running header repeats on every passage."""
    path = make_pdf(tmp_path / "about.pdf", [
        "Acme Cycles - About\nPage 1\nWe were founded in 2014.\n1 of 3",
        "Acme Cycles - About\nPage 2\nWe sell 4 models.\n- 2 -",
        "Acme Cycles - About\n3/3\nWe ride.",
    ])
    doc = load(path)
    assert [s.text for s in doc.sections] == ["Acme Cycles - About\nWe were founded in 2014.", "We sell 4 models.",
                                              "We ride."]
    one = load(make_pdf(tmp_path / "one.pdf", ["Acme Cycles - About\nPage 1\nOpen since 1998.\n3"]))
    assert one.sections[0].text == "Acme Cycles - About\nOpen since 1998.\n3"  # "3" is not this page's number


def test_every_format_writes_table_rows_that_the_evidence_reads_as_rows(tmp_path):
    """Rows written "a | b" (HTML, DOCX before) were joined into one paragraph by the
    evidence step, so a quote mixed the Express row with the Canada row."""
    from tenor.evidence import split_units

    html = tmp_path / "shipping.html"
    html.write_text(HTML_PAGE)
    docx_path = make_docx(tmp_path / "service.docx", "Service plans", ["We tune bikes."],
                          table=[["Plan", "Price"], ["Basic Tune", "$89"], ["Full Service", "$179"]])
    text = tmp_path / "battery.txt"
    text.write_text("Replacement batteries\n\n  Battery    Fits            Price\n"
                    "  -------    -------------   -----\n  360 Wh     Fold F1         $429\n"
                    "  700 Wh     Cargo K1        $699 (sold\n                             separately)\n\nDone.\n")
    rows = {}
    for path in (html, docx_path, text):
        for section in load(path).sections:
            rows.update({u.plain(): u.header for u in split_units(section.text) if u.is_row})
    assert "Option: Express; Price: $149; Days: 2-3" in rows
    assert "Plan: Full Service; Price: $179" in rows
    assert "Battery: 700 Wh; Fits: Cargo K1; Price: $699 (sold separately)" in rows
    assert "Battery: 360 Wh; Fits: Fold F1; Price: $429" in rows


def test_text_tables_keep_groups_wide_values_and_end_at_prose(tmp_path):
    from tenor.evidence import split_units

    path = tmp_path / "rates.txt"
    path.write_text("  Region   Option     Price\n  ------   --------   -----\n  US       Standard   $9\n"
                    "           Express    $19\n  Canada   Cargo K1 $13,899\n"
                    "Prices include labour and parts, not tyres.\n")
    units = split_units(load(path).sections[0].text)
    rows = [u.plain() for u in units if u.is_row]
    assert rows == ["Region: US; Option: Standard; Price: $9", "Region: US; Option: Express; Price: $19",
                    "Region: Canada; Option: Cargo K1; Price: $13,899"]
    assert units[-1].plain() == "Prices include labour and parts, not tyres." and not units[-1].is_row
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("Model\tPrice\n-----\t-----\nFold F1\t$1,799\n")
    assert [u.plain() for u in split_units(load(tabs).sections[0].text) if u.is_row] == [
        "Model: Fold F1; Price: $1,799"]


def test_indented_lines_whose_columns_line_up_are_items_of_their_own(tmp_path):
    """A headerless fixed-width block was one paragraph: every price of the list in one quote."""
    from tenor.evidence import split_units

    path = tmp_path / "printing.txt"
    path.write_text("After your allowance\n\n    A4 black and white   5p per page\n    A4 colour            20p per page\n"
                    "    A3                   double the A4 price\nExtra printing is added to your next invoice.\n\n"
                    "    Lines that merely    start indented\n  and do not line up   stay prose.\n\n"
                    "  Phone:    0113 496 0715\n  Email:    care@example.com\n")
    units = [u.plain() for u in split_units(load(path).sections[0].text)]
    assert units == ["After your allowance", "A4 black and white: 5p per page", "A4 colour: 20p per page",
                     "A3: double the A4 price", "Extra printing is added to your next invoice.",
                     "Lines that merely start indented and do not line up stay prose.",
                     "Phone: 0113 496 0715", "Email: care@example.com"]
    more = tmp_path / "more.txt"
    more.write_text("    A4 colour     20p per page after\n                  your allowance\n    A3            double\n"
                    "  Plan      Price\n  --------  -----\n  Hot Desk  \u00a3189\n\n"
                    "\tA4 black and white\t5p per page\n\tA4\t20p\n")
    units = split_units(load(more).sections[0].text)
    assert [u.plain() for u in units] == ["A4 colour: 20p per page after your allowance", "A3: double",
                                          "Plan: Hot Desk; Price: \u00a3189",  # a table's header is no item
                                          "A4 black and white: 5p per page", "A4: 20p"]  # apart by tabs
    assert units[2].is_row
    marked = tmp_path / "marked.txt"
    marked.write_text("  * Hot Desk    \u00a3189\n  * Day Pass    \u00a325\n\n  Meeting room  :  \u00a332\n  Phone booth   :  free\n\n"
                      "  The plan costs \u00a310.  It renews monthly and\n  you can stop it at.  Any time you like.\n")
    assert [u.plain() for u in split_units(load(marked).sections[0].text)] == [
        "Hot Desk: \u00a3189", "Day Pass: \u00a325", "Meeting room: \u00a332", "Phone booth: free",  # no marker, no lone colon
        "The plan costs \u00a310.", "It renews monthly and you can stop it at.", "Any time you like."]  # prose


def test_back_to_back_tables_stay_apart(tmp_path):
    from tenor.evidence import split_units

    path = tmp_path / "two.html"
    path.write_text("<body><table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>$89</td></tr></table>"
                    "<table><tr><th>Part</th><th>Price</th></tr><tr><td>Battery</td><td>$699</td></tr></table></body>")
    rows = [u.plain() for s in load(path).sections for u in split_units(s.text) if u.is_row]
    assert rows == ["Plan: Basic; Price: $89", "Part: Battery; Price: $699"]


def test_pdf_furniture_removal_keeps_prices_and_short_documents(tmp_path):
    prices = load(make_pdf(tmp_path / "prices.pdf", ["Basic tune\n$1", "Pedals\n$2", "Size\n1/2"]))
    assert [s.text for s in prices.sections] == ["Basic tune\n$1", "Pedals\n$2", "Size\n1/2"]
    two = load(make_pdf(tmp_path / "two.pdf", ["Returns\nWithin 30 days.", "Returns\nFree pickup."]))
    assert [s.text for s in two.sections] == ["Returns\nWithin 30 days.", "Returns\nFree pickup."]
    footer = "Questions? Call +1 555 010 2030"
    three = load(make_pdf(tmp_path / "three.pdf", [f"Page text {n}.\n{footer}" for n in "abc"]))
    assert [s.text for s in three.sections] == [f"Page text a.\n{footer}", "Page text b.", "Page text c."]


def test_text_table_rows_with_narrow_gaps_group_labels_and_empty_tab_cells(tmp_path):
    from tenor.evidence import split_units

    path = tmp_path / "models.txt"
    path.write_text("Model    Price\n-------- ------\nE-bikes\nFold F1  $1,799\nCargo K1 $3,499\n")
    rows = [u.plain() for u in split_units(load(path).sections[0].text) if u.is_row]
    assert rows == ["Model: E-bikes", "Model: Fold F1; Price: $1,799", "Model: Cargo K1; Price: $3,499"]
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("Model\tWeight\tPrice\n-----\t------\t-----\nFold F1\t\t$1,799\n")
    assert [u.plain() for u in split_units(load(tabs).sections[0].text) if u.is_row] == [
        "Model: Fold F1; Price: $1,799"]


def test_a_paragraph_after_a_list_is_no_part_of_its_last_item(tmp_path):
    from tenor.evidence import split_units

    page = tmp_path / "returns.html"
    page.write_text("<h1>Returns</h1><p>The bike must:</p><ul><li>be unused, and</li><li>have under 100 km on it</li>"
                    "</ul><p>A restocking fee of 10% applies.</p>")
    doc = make_docx(tmp_path / "returns.docx", "Returns", [], subheading="Rules",
                    bullets=["be unused", "have under 100 km on it"])
    import docx
    document = docx.Document(str(doc))
    document.add_paragraph("A restocking fee of 10% applies.")
    document.save(str(doc))
    for path in (page, doc):
        units = split_units(load(path).sections[-1].text)
        item = next(u for u in units if "100 km" in u.text)
        fee = next(u for u in units if "restocking" in u.text)
        assert item.text == "- have under 100 km on it" and fee.paragraph != item.paragraph, (path.name, units)


def test_html_list_items_whose_text_is_in_paragraphs_are_items_of_their_own(tmp_path):
    from tenor.evidence import split_units

    page = tmp_path / "steps.html"
    page.write_text("<h1>Steps</h1><ol><li><p>Charge it. Then unplug it.</p></li><li></li><li><p>Store it.</p></li></ol>")
    text = load(page).sections[-1].text
    assert text.splitlines()[:2] == ["- Charge it. Then unplug it.", "- Store it."], text  # no bare "-" line
    units = split_units(text)
    assert [u.paragraph for u in units] == [0, 0, 1]
