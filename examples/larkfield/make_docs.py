"""Regenerate the binary sample documents for Larkfield Cycles.

Writes into ``docs/`` next to this script:

* ``warranty.pdf`` and ``about-larkfield.pdf`` (reportlab: real text, heading
  paragraphs and tables; the warranty's claims process starts on page 2)
* ``service-plans.docx`` and ``cargo-k1-owners-guide.docx`` (python-docx: the
  built-in "Heading 1"/"Heading 2" styles, real Word tables and bullet lists)

The text of every document lives in this file, so edit it here and re-run:

    .venv/bin/python examples/larkfield/make_docs.py

The output is deterministic (fixed metadata dates), so re-running without
changes gives identical text and the ingest skips unchanged documents.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

DOCS = Path(__file__).resolve().parent / "docs"

# ---------------------------------------------------------------------------
# Document sources. Blocks are ("h1"|"h2"|"p"|"bullets"|"numbers"|"table"|"pagebreak", content).
# ---------------------------------------------------------------------------

WARRANTY = [
    ("h1", "Larkfield Cycles Warranty Policy"),
    ("p", "We build our e-bikes to last, and we stand behind them. This policy explains "
          "what our warranty covers, for how long, what it does not cover, and how to make "
          "a claim if something goes wrong with your bike."),
    ("h2", "Coverage at a Glance"),
    ("p", "All coverage periods start on the date your bike is delivered to you."),
    ("table", [
        ["Part", "Coverage period", "Notes"],
        ["Frame", "Lifetime", "Original owner only"],
        ["Motor", "2 years", "From delivery"],
        ["Battery", "2 years", "At least 80% capacity for 800 full charge cycles"],
        ["Other components (brakes, drivetrain, lights)", "1 year", "From delivery"],
        ["Wear parts (tyres, brake pads, chain or belt)", "Not covered", "Replace as they wear"],
    ]),
    ("h2", "Frame"),
    ("p", "Every Larkfield frame is covered for life against defects in materials and "
          "workmanship. The lifetime frame warranty belongs to the original owner of the "
          "bike and does not pass to a new owner if the bike is sold or given away."),
    ("h2", "Motor and Battery"),
    ("p", "The motor and the battery are each covered for 2 years from delivery. Within "
          "those 2 years, we also guarantee that your battery keeps at least 80% of its "
          "original capacity for 800 full charge cycles. If the battery falls below 80% "
          "capacity before it has completed 800 full charge cycles, and the 2 years are "
          "not yet up, that is covered under this warranty."),
    ("h2", "Other Components"),
    ("p", "Components such as brakes, the drivetrain and lights are covered for 1 year "
          "from delivery."),
    ("h2", "Wear Parts"),
    ("p", "Some parts wear out through normal riding and need replacing from time to "
          "time. These wear parts are not covered by the warranty:"),
    ("bullets", ["Tyres", "Brake pads", "Chain or belt"]),
    ("h2", "What the Warranty Does Not Cover"),
    ("p", "The warranty covers defects. It does not cover damage or failures caused by:"),
    ("bullets", [
        "Crashes and accidents",
        "Racing",
        "Commercial rental use",
        "Modifications to the bike, for example tuning the motor's speed limit",
    ]),
    ("pagebreak", None),
    ("h2", "How to Make a Warranty Claim"),
    ("p", "If you think a part of your bike is covered, claiming is simple. Send an email "
          "to warranty@larkfieldcycles.example and include:"),
    ("numbers", [
        "Your order number.",
        "Photos that clearly show the problem.",
        "A description of the problem: what happens, when it started, and anything "
        "that seems to trigger it.",
    ]),
    ("p", "Our warranty team answers every claim within 2 business days. We will tell "
          "you whether the problem is covered and what the next steps are."),
    ("h2", "Tips for a Smooth Claim"),
    ("bullets", [
        "Use the email address of the warranty team above rather than the general "
        "support address, so your claim goes straight to the right people.",
        "Send everything in one email: order number, photos and description together.",
        "Take photos in good light, with one close-up of the problem and one of the "
        "whole bike.",
        "Stop riding the bike if the problem affects braking, steering or the battery.",
    ]),
    ("h2", "Keeping Your Bike in Good Shape"),
    ("p", "Regular servicing and following our battery care guidance help your bike last "
          "and make problems easier to spot early. Details are in our Service Plans and "
          "Battery Care Guide documents."),
]

ABOUT = [
    ("h1", "About Larkfield Cycles"),
    ("p", "Larkfield Cycles designs and sells electric bikes, and services them in our own "
          "workshop. We believe a good e-bike can replace a surprising number of car "
          "trips, and we build ours to be simple to own and a pleasure to ride."),
    ("h2", "Larkfield at a Glance"),
    ("table", [
        ["Founded", "2014"],
        ["Founders", "Maya Okafor and Dev Lindqvist"],
        ["Home town", "Millbrook, Oregon"],
        ["Team", "About 60 employees"],
        ["Frames", "Made from recycled aluminium"],
        ["Giving", "1% of revenue to local trail building"],
    ]),
    ("h2", "Our Story"),
    ("p", "Maya Okafor and Dev Lindqvist founded Larkfield Cycles in 2014 in Millbrook, "
          "Oregon. They shared a simple idea: electric bikes should be dependable, "
          "everyday machines, designed by people who ride them and backed by people who "
          "can fix them."),
    ("p", "That idea still shapes how we work. We design our bikes ourselves, we sell "
          "them, and we look after them for as long as our riders own them. "
          "Today Larkfield is a team of about 60 people, and our lineup has grown to four "
          "models: the Commuter C2, the Cargo K1, the Trail T3 and the Fold F1."),
    ("h2", "Our Founders"),
    ("p", "Maya Okafor and Dev Lindqvist started Larkfield together and built the company "
          "from Millbrook outwards. Their belief that the people who design a bike should "
          "also stand behind it is why design, sales and service all sit under one roof "
          "at Larkfield."),
    ("h2", "Sustainability"),
    ("p", "Riding an e-bike instead of driving is already a step toward cleaner streets, "
          "and we try to make the bikes themselves part of that story."),
    ("bullets", [
        "Recycled frames: our frames are made from recycled aluminium.",
        "Giving back to the trails: we give 1% of our revenue to local trail building, "
        "so that there are more good places to ride close to home.",
    ]),
    ("h2", "What We Care About"),
    ("bullets", [
        "Bikes that are built to last and easy to keep running.",
        "Straight answers for our riders, before and after they buy.",
        "A workshop that treats every bike as if it were our own.",
        "A community that rides more and drives less.",
    ]),
]

SERVICE = [
    ("h1", "Service Plans and Workshop Services"),
    ("p", "A well-maintained e-bike is safer, quieter and more fun to ride. Our workshop "
          "offers two one-off services and a monthly subscription that keeps your bike "
          "in top shape all year."),
    ("h2", "Our Service Options"),
    ("table", [
        ["Plan", "Price", "What is included"],
        ["Basic Tune", "$89", "Brake and gear adjustment, safety check, firmware update"],
        ["Full Service", "$179", "Everything in the Basic Tune, plus drivetrain clean, "
                                 "wheel truing, bearing check and battery health report"],
        ["Larkfield Care", "$15 per month", "Two Full Services a year, 20% off parts, "
                                            "free pickup within 15 km of the Millbrook store"],
    ]),
    ("h2", "Basic Tune"),
    ("p", "The Basic Tune ($89) is a quick check-up to keep your bike riding smoothly. It "
          "includes:"),
    ("bullets", [
        "Brake adjustment",
        "Gear adjustment",
        "A full safety check",
        "A firmware update for your bike",
    ]),
    ("h2", "Full Service"),
    ("p", "The Full Service ($179) is our most thorough workshop service. It includes "
          "everything in the Basic Tune, plus:"),
    ("bullets", [
        "Drivetrain clean",
        "Wheel truing",
        "Bearing check",
        "A battery health report, so you know how your battery is doing",
    ]),
    ("h2", "Larkfield Care Subscription"),
    ("p", "Larkfield Care is a subscription for riders who want their bike looked after "
          "without thinking about it. For $15 a month you get:"),
    ("bullets", [
        "Two Full Services every year",
        "20% off parts",
        "Free pickup of your bike from anywhere within 15 km of our Millbrook store",
    ]),
    ("h2", "Booking and Turnaround"),
    ("p", "You can book any service online or by phone. Service turnaround is usually 3 "
          "business days from when we receive your bike."),
    ("h2", "When Should I Book a Service?"),
    ("bullets", [
        "Your brakes feel soft, squeal, or take longer to stop you.",
        "Gear changes are noisy or slow.",
        "Your wheels wobble or rub.",
        "You notice your range dropping and want to know why.",
        "You are about to start riding more after a long break.",
    ]),
]

CARGO = [
    ("h1", "Cargo K1 Owner's Guide"),
    ("p", "Congratulations on your Cargo K1, the longtail e-bike built for carrying the "
          "people and things in your life. This guide covers how much the bike can carry, "
          "the optional child seats, and how to ride safely with a load."),
    ("h2", "Load Limits"),
    ("p", "The Cargo K1 carries up to 180 kg in total. That limit covers the rider and "
          "everything being carried together: passengers, bags, boxes and accessories."),
    ("bullets", [
        "Add up the weight of the rider, any passengers and all cargo before you set off.",
        "Example: a rider weighing 80 kg can carry up to 100 kg of passengers and cargo.",
        "Never exceed the 180 kg total, even for a short trip.",
    ]),
    ("h2", "Child Seats"),
    ("p", "You can fit up to two child seats to the Cargo K1. The child seats are an "
          "option and cost $149 each."),
    ("bullets", [
        "Children's weight counts toward the 180 kg total load limit.",
        "Make sure every child wears a properly fitted helmet.",
        "Check that the seat straps are fastened before every ride.",
        "Follow the instructions that come with each child seat.",
    ]),
    ("h2", "Loading the Bike"),
    ("bullets", [
        "Park the bike on level ground before you load it.",
        "Keep heavy items low and close to the centre of the bike.",
        "Balance the load evenly between the left and right sides.",
        "Strap everything down so nothing can shift or fall into the wheels.",
        "Load passengers last and unload them first.",
    ]),
    ("h2", "Riding Tips"),
    ("p", "A loaded cargo bike handles differently from an everyday bike. Take time to get "
          "used to it."),
    ("bullets", [
        "Practise on a quiet street without a load before carrying passengers.",
        "Start off in a low assist level so the bike pulls away gently.",
        "Allow more distance to stop: a loaded bike needs longer to brake.",
        "Take corners wider and slower than you would on a lighter bike.",
        "Look well ahead so you can plan for kerbs, potholes and junctions.",
    ]),
    ("h2", "Range with a Load"),
    ("p", "Carrying heavy loads, climbing hills and using high assist levels all use more "
          "battery. Plan longer trips with this in mind and charge before a big day of "
          "hauling."),
    ("h2", "Looking After Your Cargo K1"),
    ("bullets", [
        "Check tyre pressure often: heavy loads need well-inflated tyres.",
        "Inspect your brake pads regularly, as they wear faster when you carry weight.",
        "Book regular workshop services to keep the bike safe and reliable.",
    ]),
]

# ---------------------------------------------------------------------------
# PDF (reportlab)
# ---------------------------------------------------------------------------

_FIXED_DATE = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)


def _pdf(path: Path, title: str, blocks: list) -> None:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import LETTER
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import (
        ListFlowable, ListItem, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table,
        TableStyle,
    )
    from reportlab import rl_config

    rl_config.invariant = 1  # deterministic output (no timestamps/random ids)

    styles = getSampleStyleSheet()
    body = ParagraphStyle("LfBody", parent=styles["BodyText"], fontSize=10, leading=13,
                          spaceBefore=3, spaceAfter=3)
    h1 = ParagraphStyle("LfH1", parent=styles["Heading1"], fontSize=18, leading=22,
                        spaceAfter=8)
    h2 = ParagraphStyle("LfH2", parent=styles["Heading2"], fontSize=13, leading=16,
                        spaceBefore=10, spaceAfter=4)
    cell = ParagraphStyle("LfCell", parent=body, fontSize=9.5, leading=12, alignment=TA_LEFT)
    cell_head = ParagraphStyle("LfCellHead", parent=cell, fontName="Helvetica-Bold")

    story = []
    for kind, content in blocks:
        if kind == "h1":
            story.append(Paragraph(content, h1))
        elif kind == "h2":
            story.append(Paragraph(content, h2))
        elif kind == "p":
            story.append(Paragraph(content, body))
        elif kind in ("bullets", "numbers"):
            story.append(ListFlowable(
                [ListItem(Paragraph(item, body), leftIndent=12) for item in content],
                bulletType="bullet" if kind == "bullets" else "1",
                start="\u2013" if kind == "bullets" else None,  # en dash: pypdf reads it back cleanly
                bulletFontName="Helvetica",
                bulletFontSize=9.5,
                leftIndent=16,
            ))
        elif kind == "table":
            header_row = len(content[0]) == 3  # 3-column tables have a header row
            rows = [
                [Paragraph(c, cell_head if (header_row and r == 0) or (not header_row and i == 0)
                           else cell) for i, c in enumerate(row)]
                for r, row in enumerate(content)
            ]
            widths = [2.3 * inch, 1.4 * inch, 2.8 * inch] if header_row else [1.6 * inch, 4.9 * inch]
            table = Table(rows, colWidths=widths, hAlign="LEFT")
            style = [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
            if header_row:
                style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9dfc9")))
            table.setStyle(TableStyle(style))
            story.append(table)
            story.append(Spacer(1, 6))
        elif kind == "pagebreak":
            story.append(PageBreak())
        else:
            raise ValueError(f"unknown block kind {kind!r}")

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(doc.leftMargin, 0.5 * inch, f"Larkfield Cycles - {title}")
        canvas.drawRightString(LETTER[0] - doc.rightMargin, 0.5 * inch, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path), pagesize=LETTER, title=title, author="Larkfield Cycles",
        subject=title, creator="examples/larkfield/make_docs.py",
        leftMargin=inch, rightMargin=inch, topMargin=0.75 * inch, bottomMargin=0.8 * inch,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


# ---------------------------------------------------------------------------
# DOCX (python-docx)
# ---------------------------------------------------------------------------

def _docx(path: Path, title: str, blocks: list) -> None:
    from docx import Document

    document = Document()
    props = document.core_properties
    props.title = title
    props.author = "Larkfield Cycles"
    props.created = props.modified = _FIXED_DATE.replace(tzinfo=None)
    props.last_modified_by = "Larkfield Cycles"
    props.revision = 1

    for kind, content in blocks:
        if kind == "h1":
            document.add_heading(content, level=1)
        elif kind == "h2":
            document.add_heading(content, level=2)
        elif kind == "p":
            document.add_paragraph(content)
        elif kind == "bullets":
            for item in content:
                document.add_paragraph(item, style="List Bullet")
        elif kind == "numbers":
            for item in content:
                document.add_paragraph(item, style="List Number")
        elif kind == "table":
            table = document.add_table(rows=len(content), cols=len(content[0]))
            table.style = "Table Grid"
            for r, row in enumerate(content):
                for c, text in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = text
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
        elif kind == "pagebreak":
            document.add_page_break()
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    document.save(str(path))
    _fix_zip_dates(path)


def _fix_zip_dates(path: Path) -> None:
    """Rewrite the .docx zip with fixed entry dates, so re-runs are byte-identical."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info.filename)) for info in src.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    path.write_bytes(buffer.getvalue())


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    _pdf(DOCS / "warranty.pdf", "Warranty Policy", WARRANTY)
    _pdf(DOCS / "about-larkfield.pdf", "About Larkfield Cycles", ABOUT)
    _docx(DOCS / "service-plans.docx", "Service Plans and Workshop Services", SERVICE)
    _docx(DOCS / "cargo-k1-owners-guide.docx", "Cargo K1 Owner's Guide", CARGO)
    for name in ("warranty.pdf", "about-larkfield.pdf", "service-plans.docx",
                 "cargo-k1-owners-guide.docx"):
        print(f"wrote {DOCS / name}")


if __name__ == "__main__":
    main()
