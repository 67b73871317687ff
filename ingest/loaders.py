"""Loaders: a file on disk -> clean text in sections, structure kept.

One function per format. Each returns ``Section``s (heading or page kept as
metadata, tables kept as ``| a | b |`` rows, list items as ``- item``) or raises
``LoadError`` with a reason a person can act on. Nothing here touches the index.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Callable

from ingest.models import LoadedDocument, Section

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a .docx is a zip: refuse zip bombs before parsing
MAX_PDF_PAGES = 2000


class LoadError(Exception):
    """A file that cannot be indexed; ``str(error)`` is the reason."""


def supported_suffixes() -> list[str]:
    return sorted(LOADERS)


def load_file(path: Path, document_id: str, source: str | None = None) -> LoadedDocument:
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise LoadError(
            f"unsupported file type {suffix or '(no extension)'!r}; supported: "
            + ", ".join(supported_suffixes())
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from None
    if size == 0:
        raise LoadError("empty file")
    if size > MAX_FILE_BYTES:
        raise LoadError(f"file is {size / 2**20:.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
    try:
        sections, title = loader(path)
    except LoadError:
        raise
    except Exception as exc:  # parsers raise anything on corrupt input
        raise LoadError(f"corrupt or unreadable {suffix[1:]} file ({type(exc).__name__}: {exc})") from None
    sections = [s for s in (_clean_section(s) for s in sections) if s.text]
    if not sections:
        raise LoadError("no text found in the file")
    return LoadedDocument(document_id=document_id, source=source or str(path), sections=sections, title=title)


def _clean_section(section: Section) -> Section:
    text = section.text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return Section(text=text, heading=section.heading, page=section.page)


# -- text formats ---------------------------------------------------------------

def _decode(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > max(8, len(text) // 100):
            raise LoadError("not UTF-8 text (too many invalid byte sequences)") from None
        return text


_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")


def table_row(cells: list[str]) -> str:
    """A table row as every loader writes it, ``| a | b |`` (what ``tenor.evidence`` reads as a row)."""
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


_TEXT_TABLE_RULE = re.compile(r"^\s*-{3,}(?:\s+-{3,})+\s*$")  # "-------  -----  -----": a fixed-width table's rule


def _text_table(lines: list[str], start: int) -> tuple[list[str], int]:
    """The fixed-width table whose header is ``lines[start]`` (its rule below it) as
    rows, and the index after it. Columns start where the rule's dash groups start
    (a cut inside a word moves to the space before it: a right-aligned "$13,899"
    wider than its dashes stays whole), or at tabs when the rule has them. Rows run
    to a blank line or a line of prose (no gap of two spaces or tab, and a word
    across a column's start); a row
    filling only one column other than the first continues the row above, and a
    row with an empty first column shares its first cell."""
    tabbed = "\t" in lines[start + 1]  # columns apart by tabs: cut at the tabs
    starts = [m.start() for m in re.finditer(r"-+", lines[start + 1])]
    gap = re.compile(r"\t" if tabbed else r"\S {2,}\S")

    def cells(line: str) -> list[str]:
        if tabbed:
            return ([c.strip() for c in line.rstrip().split("\t")] + [""] * len(starts))[:len(starts)]
        cuts = [0]
        for cut in starts[1:]:
            cut = min(cut, len(line))
            while cut > cuts[-1] and cut < len(line) and line[cut - 1] != " " and line[cut] != " ":
                cut -= 1
            cuts.append(cut)
        return [line[a:b].strip() for a, b in zip(cuts, cuts[1:] + [len(line)])]

    def lined_up(line: str) -> bool:  # no word runs across a column's start
        return tabbed or all(cut >= len(line) or line[cut - 1] == " " or line[cut] == " " for cut in starts[1:])

    rows = [cells(lines[start])]
    end = start + 2
    while end < len(lines) and lines[end].strip():
        row = cells(lines[end])
        if row[0] and not gap.search(lines[end].strip()) and not lined_up(lines[end]):  # prose after the table
            break
        filled = [i for i, cell in enumerate(row) if cell]
        if len(rows) > 1 and len(filled) == 1 and filled[0] > 0:
            rows[-1] = [f"{above} {more}".strip() for above, more in zip(rows[-1], row)]
        else:
            rows.append([row[0] or (rows[-1][0] if len(rows) > 1 else ""), *row[1:]])
        end += 1
    return [table_row(row) for row in rows] + [""], end


_ALIGNED = re.compile(r"^ +(\S.*?\S|\S) {2,}\S")  # "    A4 colour      20p per page" (tabs expanded)
_LIST_MARK = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s+")  # "* Hot Desk", "1. Hot Desk": the label is "Hot Desk"
_LABEL_LIKE = re.compile(r"^(?:\S+\s+){0,5}\S*[^\s.!?]$")  # six words at most, no sentence's end: prose is no row


def _aligned_items(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented lines from ``lines[start]`` whose second column starts at one place
    ("    Hot Desk        50 pages a month" over "    Dedicated Desk  150 pages a month":
    a fixed-width table with no header or rule) as "- label: value" list items, so each
    line is a unit of its own (joined, they made one paragraph of every price), and the
    index after them; none unless two or more line up (or are apart by tabs). A line indented to the second
    column goes on with the value above it; a table's header (a line over a rule), a
    heading (over an underline) or a line whose label reads as prose (over six words, or
    ending a sentence: two spaces after a full stop line up by chance) ends them."""
    column = None
    items: list[list[str]] = []
    end = start
    while end < len(lines):
        line = lines[end].expandtabs()
        after = lines[end + 1] if end + 1 < len(lines) else ""
        if _TEXT_TABLE_RULE.match(after) or _UNDERLINE.match(after) or _UNDERLINE.match(line):
            break
        match = _ALIGNED.match(line)
        tabbed = "\t" in lines[end].strip() and line[:1] == " "  # apart by tabs: wherever the tab stops fall
        cells = [c for c in (re.split(r"\t+", lines[end].strip()) if tabbed else re.split(r" {2,}", line.strip()))
                 if c.strip(" :")]
        label = _LIST_MARK.sub("", cells[0]) if cells else ""
        if (tabbed or match and column in (None, match.end() - 1)) and len(cells) > 1 and _LABEL_LIKE.match(label):
            column = column or (match.end() - 1 if match else None)
            items.append([label, *cells[1:]])
        elif items and line.strip() and len(line) - len(line.lstrip()) == column:
            items[-1][-1] += " " + line.strip()  # a value wrapped onto the next line
        else:
            break
        end += 1
    if len(items) < 2:
        return [], start
    return [f"- {label.rstrip(':')}: {'; '.join(values)}" for label, *values in items] + [""], end


# "MOVING IN: WHAT TO BRING", "OPTION 1: OUR COVER": no lower case, comma or figure but a numbered label's
_CAPITALS = re.compile(r"^(?:[A-Z][A-Z '&/:()-]*|\d{1,2}[.:)]\s*)(?:[A-Z '&/:()-]|(?<= )\d{1,2}[.:)])*$")
_TITLE = re.compile(r"^[A-Z][A-Za-z '&/()-]*$")  # "Who can drive": no figure and no sentence or clause end
_FAQ_LINE = re.compile(r"^[QA]\s*[:.]")


def _plain_heading(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` heads the text below it in plain text exported without underlines: on
    a line of its own after a blank one, at the margin, with text under it, and either in capitals
    (up to ten words, "MOVING DAY VAN") or a title (up to eight words, "Who can drive") right above a
    line that starts with a capital ("Drivers must be aged 25..."). Neither holds a figure, a comma
    or a double space (a notice, a price list's first line, a FAQ's "Q:"), nor stops where a wrapped
    line would (the next line's first word would have fitted on it). Joined to its text, "Who can
    drive Drivers must be..." was one sentence."""
    line = lines[i]
    text = line.strip()
    before = lines[i - 1] if i else ""
    after = lines[i + 1] if i + 1 < len(lines) else ""
    if (not text or before.strip() or line[:1].isspace() or "  " in text or _LIST_MARK.match(text)
            or _FAQ_LINE.match(text) or _UNDERLINE.match(after)):
        return False
    below = next((rest.strip() for rest in lines[i + 1:] if rest.strip()), "")
    if not below or _CAPITALS.match(below):  # a heading heads text, not the end or another heading
        return False
    wraps_on = after.strip() and not after[:1].isspace() and not _LIST_MARK.match(after)
    if wraps_on and len(text) + 1 + len(after.split()[0]) > len(after.rstrip()):
        return False  # where a wrapped paragraph breaks
    if _CAPITALS.match(text) and sum(c.isalpha() for c in text) >= 3:
        return len(text.split()) <= 10
    return bool(_TITLE.match(text)) and len(text.split()) <= 8 and after.strip()[:1].isupper()


def load_text(path: Path) -> tuple[list[Section], str | None]:
    """Plain text; a line underlined with === or --- (setext style), or a heading line without
    one (``_plain_heading``), starts a section, a
    fixed-width table (a header over a rule of dash groups) becomes ``| a | b |`` rows,
    and indented lines whose second column lines up become "- label: value" items."""
    lines = _decode(path).splitlines()
    sections: list[Section] = []
    heading: str | None = None
    title: str | None = None
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _TEXT_TABLE_RULE.match(nxt):
            rows, i = _text_table(lines, i)
            body.extend(rows)
            continue
        items, after = _aligned_items(lines, i)
        if items:
            body.extend(items)
            i = after
            continue
        if line.strip() and _UNDERLINE.match(nxt) and len(nxt.strip()) >= max(3, len(line.strip()) // 2):
            sections.append(Section(text="\n".join(body), heading=heading))
            body = []
            heading = line.strip()
            title = title or heading
            i += 2
            continue
        if _plain_heading(lines, i):
            sections.append(Section(text="\n".join(body), heading=heading))
            body = []
            heading = line.strip().rstrip(":").strip()
            i += 1
            continue
        body.append(line)
        i += 1
    sections.append(Section(text="\n".join(body), heading=heading))
    return sections, title


_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def load_markdown(path: Path) -> tuple[list[Section], str | None]:
    """Split at ATX headings (not inside code fences); the section is the heading path."""
    sections: list[Section] = []
    path_stack: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False
    title = None

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(text=body, heading=" > ".join(h for _, h in path_stack) or None))
        lines.clear()

    for line in _decode(path).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            title = title or (heading if level == 1 else None)
            path_stack = [(lvl, h) for lvl, h in path_stack if lvl < level] + [(level, heading)]
        else:
            lines.append(line)
    flush()
    return sections, title


# -- HTML -----------------------------------------------------------------------

_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "aside", "form",
              "iframe", "svg", "canvas", "button", "select", "input", "object", "embed"]
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {"p", "div", "section", "article", "main", "header", "ul", "ol", "dl", "dt", "dd",
           "blockquote", "pre", "figure", "figcaption", "address", "details", "summary", "hr", "body"}


def load_html(path: Path) -> tuple[list[Section], str | None]:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(_decode(path), "lxml")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    root = soup.body or soup

    sections: list[Section] = []
    heads: list[tuple[int, str]] = []
    parts: list[str] = []
    line: list[str] = []

    def end_line() -> None:
        text = " ".join("".join(line).split())
        if text == "-":  # a list item's marker waits for its text, which may be in a block: <li><p>...</p></li>
            return
        if text:
            parts.append(text)
        line.clear()

    def flush() -> None:
        end_line()
        body = "\n".join(parts).strip()
        if body:
            sections.append(Section(text=body, heading=" > ".join(h for _, h in heads) or None))
        parts.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # skip comments, doctype, CDATA
                    line.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                nonlocal heads
                flush()
                level = int(name[1])
                text = child.get_text(" ", strip=True)
                if text:
                    heads = [(lvl, h) for lvl, h in heads if lvl < level] + [(level, text)]
            elif name == "table":
                end_line()
                parts.extend([*_table_rows(child), ""])  # the blank line ends the table
            elif name == "li":
                end_line()
                line.append("- ")
                walk(child)
                end_line()
                line.clear()  # an empty item's marker
            elif name == "br":
                end_line()
            elif name in _BLOCKS:
                end_line()
                walk(child)
                end_line()
                if name in ("ul", "ol"):
                    parts.append("")  # the blank line ends the list: a <p> after it is no part of its last item
            else:
                walk(child)

    walk(root)
    flush()
    if title is None:
        first = root.find("h1")
        title = first.get_text(" ", strip=True) if first else None
    return sections, title


def _table_rows(table) -> list[str]:
    rows = []
    for tr in table.find_all("tr"):
        cells = [" ".join(c.get_text(" ", strip=True).split()) for c in tr.find_all(["th", "td"])]
        if any(cells):
            rows.append(table_row(cells))
    return rows


# -- PDF ------------------------------------------------------------------------

def load_pdf(path: Path) -> tuple[list[Section], str | None]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        try:
            reader.decrypt("")
        except Exception:
            raise LoadError("encrypted PDF (password protected)") from None
    if len(reader.pages) > MAX_PDF_PAGES:
        raise LoadError(f"PDF has {len(reader.pages)} pages; the limit is {MAX_PDF_PAGES}")
    pages = [(page.extract_text() or "").splitlines() for page in reader.pages]
    sections = [Section(text="\n".join(lines), page=number)
                for number, lines in enumerate(_without_furniture(pages), start=1)]
    title = None
    if reader.metadata and reader.metadata.title:
        title = str(reader.metadata.title)
    return sections, title


def _without_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Each page's lines without its page number ("Page 3", "3 of 12", "3/12", "- 3 -" in its
    first or last two lines) and, from three pages on, without a running header or
    footer (a first or last line the same on every page, kept where it first
    appears): a page number in a passage would be a figure the verifier takes for a fact."""
    def page_number(line: str, number: int) -> bool:
        return re.fullmatch(rf"[\s\-\u2013\u2014|.]*(?:page\s+)?{number}(?:\s*(?:of|/)\s*\d+)?[\s\-\u2013\u2014|.]*",
                            line, re.I) is not None

    pages = [[line for i, line in enumerate(lines)
              if not ((i < 2 or i >= len(lines) - 2) and page_number(line, number))]
             for number, lines in enumerate(pages, start=1)]
    if len(pages) >= 3:
        for end in (0, -1):
            running = {lines[end].strip() if lines else None for lines in pages}
            if len(running) == 1 and running != {None} and running != {""}:
                pages = pages[:1] + [lines[1:] if end == 0 else lines[:-1] for lines in pages[1:]]
    return pages


# -- DOCX -----------------------------------------------------------------------

def load_docx(path: Path) -> tuple[list[Section], str | None]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        with zipfile.ZipFile(path) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise LoadError("not a valid .docx (not a zip archive)") from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise LoadError(f"expands to {unzipped / 2**20:.0f} MiB (zip bomb?); refused")

    document = docx.Document(str(path))
    sections: list[Section] = []
    heads: list[tuple[int, str]] = []
    parts: list[str] = []
    title = document.core_properties.title or None

    def flush() -> None:
        body = "\n".join(parts).strip()
        if body:
            sections.append(Section(text=body, heading=" > ".join(h for _, h in heads) or None))
        parts.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                if any(cells):
                    parts.append(table_row(_dedupe_merged(cells)))
            parts.append("")  # the blank line ends the table
            continue
        if not isinstance(block, Paragraph):
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        level = _heading_level(style)
        if level is not None and text:
            flush()
            heads = [(lvl, h) for lvl, h in heads if lvl < level] + [(level, text)]
            title = title or text
        elif text:
            if "List" not in style and parts and parts[-1].startswith("- "):
                parts.append("")  # the blank line ends the list: the paragraph after it is no part of its last item
            parts.append(f"- {text}" if "List" in style else text)
    flush()
    return sections, title


def _heading_level(style: str) -> int | None:
    if style == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style)
    return int(match.group(1)) if match else None


def _dedupe_merged(cells: list[str]) -> list[str]:
    # python-docx repeats a horizontally merged cell's text in every grid column.
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1]:
            out.append(cell)
    return out


LOADERS: dict[str, Callable[[Path], tuple[list[Section], str | None]]] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
