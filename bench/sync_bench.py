"""Web sync on a local help-centre site: pages/s, and what an unchanged re-sync costs.

    python -m bench.sync_bench [--pages 200]

Serves ``--pages`` articles (a sitemap, robots.txt, ETags; tests/ingest/helpsite.py)
on loopback and syncs them into an embedded Chroma with the real embedder, with no
politeness delay so the figures measure Tenor, not the pause:

- the first sync (fetch, extract, chunk, embed, write): pages/s;
- an unchanged re-sync (one conditional request a page, every answer a 304):
  seconds, as a share of the first, and requests made;
- a re-sync after one page changed.
"""

from __future__ import annotations

import argparse
import tempfile

from ingest.sync import sync_source
from tenor.config import Settings
from tests.ingest.helpsite import HelpSite, page

TOPICS = ["warranty", "returns", "shipping", "battery care", "financing", "service plans", "the app", "stores"]


def article(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    body = (f"Article {i} explains {topic} for model M{i}. Customers who ask about {topic} for the M{i} "
            f"should know that the answer depends on the purchase date and on the plan they chose. " * 4)
    return page(f"{topic.title()} for the M{i}", body, links=(f"/help/{(i + 1)}",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    with HelpSite() as site, tempfile.TemporaryDirectory() as home:
        site.pages.update({f"/help/{i}": article(i) for i in range(args.pages)})
        settings = Settings.model_validate({
            "home": home, "default_profile": "bench",
            "profiles": {"bench": {"sources": [{"name": "site", "type": "web", "delay_s": 0, "max_pages": args.pages,
                                                "sitemap": f"{site.url}/sitemap.xml"}]}},
        })
        profile, config = settings.sources(["site"])[0]
        first = sync_source(settings, profile, config)
        again = sync_source(settings, profile, config)
        site.pages["/help/0"] = article(0).replace("purchase date", "delivery date")
        one_changed = sync_source(settings, profile, config)
    assert first.added == args.pages and again.unchanged == args.pages and one_changed.updated == 1
    print(f"first sync:        {args.pages} pages in {first.seconds:.2f} s = {args.pages / first.seconds:.1f} pages/s "
          f"({first.requests} requests, {first.chunks} chunks)")
    print(f"unchanged re-sync: {again.seconds:.2f} s = {again.seconds / first.seconds:.3f} of the first "
          f"({again.requests} requests, all 304)")
    print(f"one page changed:  {one_changed.seconds:.2f} s ({one_changed.updated} updated)")


if __name__ == "__main__":
    main()
