"""The promotion gate: a candidate serves only when no gated figure is worse beyond the tolerance."""

from evaluation.promote import compare


def row(correctness=0.8, refusal=0.8, false_refusal=0.05, voice=0.9, errors=0):
    return {"correctness": correctness, "refusal_rate": refusal, "false_refusal_rate": false_refusal,
            "voice_adherence": voice, "errors": errors}


def test_a_candidate_as_good_or_better_passes():
    assert compare(row(), row(), 0.05) == []
    assert compare(row(), row(correctness=0.9, false_refusal=0.0), 0.05) == []
    assert compare(row(), row(correctness=0.76, voice=0.86), 0.05) == []  # within the tolerance


def test_a_candidate_worse_beyond_the_tolerance_fails_on_each_figure():
    serving = row()
    assert compare(serving, row(correctness=0.7), 0.05)[0].startswith("correctness 0.70, serving 0.80")
    assert compare(serving, row(refusal=0.5), 0.05)[0].startswith("refusal_rate")
    assert compare(serving, row(false_refusal=0.5), 0.05)[0].startswith("false_refusal_rate 0.50")
    assert compare(serving, row(voice=0.1), 0.05)[0].startswith("voice_adherence")
    assert compare(serving, row(correctness=0.7), 0.2) == []


def test_failed_requests_fail_the_gate_and_a_missing_figure_is_not_compared():
    assert "failed requests" in compare(row(), row(errors=1), 0.05)[0]
    assert compare(row(refusal=None), row(refusal=None), 0.05) == []
