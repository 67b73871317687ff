"""Small real documents of every supported format, written on demand for tests."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.splitlines():
            pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], table: list[list[str]] | None = None,
              subheading: str | None = None, bullets: list[str] | None = None) -> Path:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if subheading:
        document.add_heading(subheading, level=2)
    for item in bullets or []:
        document.add_paragraph(item, style="List Bullet")
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(path))
    return path


HTML_PAGE = """<!doctype html>
<html><head><title>Shipping | Acme</title>
<style>body { color: red; } .secret-css-rule { display: none }</style>
<script>var trackingSecret = "analytics-id-123"; console.log("tracking");</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/shop">Shop menu link</a></nav>
<main>
<h1>Shipping policy</h1>
<p>We ship <b>every weekday</b> from our warehouse.</p>
<h2>Rates</h2>
<table>
<tr><th>Option</th><th>Price</th><th>Days</th></tr>
<tr><td>Standard</td><td>Free</td><td>5-8</td></tr>
<tr><td>Express</td><td>$149</td><td>2-3</td></tr>
</table>
<h2>Returns</h2>
<ul><li>30 days to return</li><li>Under 100 km ridden</li></ul>
<!-- a comment that must not be indexed -->
</main>
<footer>Copyright footer text</footer>
</body></html>
"""

MARKDOWN_PAGE = """# Products

Our lineup for this year.

## Fold F1

The Fold F1 folds in 15 seconds.

| Model | Price |
|---|---|
| Fold F1 | $1,799 |

```
# not a heading inside a code fence
```

## Cargo K1

- carries 180 kg
- two child seats
"""
