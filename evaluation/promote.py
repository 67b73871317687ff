"""Promotion through the eval gate, and rollback: the improvement loop's last step.

A candidate version (``NAME@N``, see ``tenor.adapter_versions``) is loaded beside the
serving one on a running server, both answer the same question set (the candidate
through the admin-only ``adapter`` override), and the candidate serves only when it is
not worse beyond a tolerance on correctness, refusal, false refusal and voice. The
swap is the server's (``POST /v1/admin/adapters/promote``): no restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from evaluation.runner import Configuration, TenorClient, answer_all, records_as_dicts, score, summarise
from tenor.adapter_versions import AdapterVersions, split_ref
from tenor.config import Profile, Settings

# summary key -> higher is better (True) or lower is better (False)
GATED = {"correctness": True, "refusal_rate": True, "false_refusal_rate": False, "voice_adherence": True}


def compare(serving: dict, candidate: dict, tolerance: float) -> list[str]:
    """Why the candidate may not serve (empty: it may): a gated figure worse than the
    serving version's by more than ``tolerance``, or any failed request."""
    failures = []
    if candidate["errors"] or serving["errors"]:
        failures.append(f"failed requests: candidate {candidate['errors']}, serving {serving['errors']} "
                        "(a comparison with failures is not one)")
    for key, higher_is_better in GATED.items():
        before, after = serving.get(key), candidate.get(key)
        if before is None or after is None:  # e.g. a question set without unanswerable questions
            continue
        worse = after < before - tolerance if higher_is_better else after > before + tolerance
        if worse:
            failures.append(f"{key} {after:.2f}, serving {before:.2f} (tolerance {tolerance:.2f})")
    return failures


@dataclass
class Verdict:
    candidate: str
    serving: str
    summary: dict[str, dict]
    failures: list[str]
    records: list[dict]

    @property
    def passed(self) -> bool:
        return not self.failures

    def gate(self) -> dict:
        """What the history keeps about this decision."""
        figures = {name: {k: row.get(k) for k in GATED} for name, row in self.summary.items()}
        return {"serving": self.serving, "candidate": self.candidate, "figures": figures,
                "failures": self.failures, "questions": len(self.records) // 2}


def candidate_versions(settings: Settings, ref: str, profile: Profile) -> tuple[AdapterVersions, int, int]:
    """(versions, candidate, serving) for promoting ``ref`` on ``profile``, or a ValueError saying why not."""
    name, version = split_ref(ref)
    if version is None:
        raise ValueError(f"{ref}: name the version to promote, NAME@N (see `tenor adapters list`)")
    if not profile.adapter:
        raise ValueError(f"profile {profile.name!r} has no adapter to promote a version of")
    if split_ref(profile.adapter) != (name, None):
        raise ValueError(f"profile {profile.name!r} serves adapter {profile.adapter!r}, not the versions of "
                         f"{name!r}; promote a version of the adapter it names")
    versions = AdapterVersions(settings.adapters_dir, name)
    if version not in versions.versions():
        raise ValueError(f"no adapter {ref} in {versions.dir} (versions: "
                         f"{', '.join(map(versions.ref, versions.versions())) or 'none'})")
    serving = versions.serving()
    if serving is None:
        raise ValueError(f"no version of {name!r} serves yet; train one (the first version serves at once)")
    if serving == version:
        raise ValueError(f"{ref} already serves")
    return versions, version, serving


def judge(client: TenorClient, settings: Settings, profile: Profile, ref: str, items: list[dict], *,
          tolerance: float, max_tokens: int, concurrency: int,
          progress: Callable[[], None] = lambda: None) -> Verdict:
    """Load the candidate beside the serving version, answer the questions with both, compare."""
    versions, version, serving = candidate_versions(settings, ref, profile)
    candidate_ref, serving_ref = versions.ref(version), versions.ref(serving)
    # Under its own module name, so the serving version keeps answering the profile's traffic meanwhile.
    client.post("/v1/admin/adapters", {"name": candidate_ref, "path": str(versions.folder(version).resolve())})
    configs = [Configuration(f"serving {serving_ref}", profile.name, True),
               Configuration(f"candidate {candidate_ref}", profile.name, True, adapter=candidate_ref)]
    records = answer_all(client, items, configs, max_tokens=max_tokens, concurrency=concurrency,
                         progress=progress)
    score(records, items, profile)
    summary = summarise(records, items, configs, None)
    before, after = summary.values()
    return Verdict(candidate_ref, serving_ref, summary, compare(before, after, tolerance),
                   records_as_dicts(records))

