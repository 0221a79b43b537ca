"""The claims ledger (reproduce/audit/claims.py) holds against the tree, and its reader fails where it should: a removed
test, code that is gone, a checked claim without a test, a citation of a claim that does not exist."""

from __future__ import annotations

import dataclasses

import pytest

from reproduce.audit import ledger
from reproduce.audit.claims import CLAIMS, Claim


@pytest.fixture(scope="module")
def collected() -> set[str]:
    return ledger.collected_tests()


def test_the_ledger_holds_every_code_reference_imports_and_every_cited_test_is_collected(collected):
    assert ledger.problems(tests=collected) == []


def test_removing_a_test_the_ledger_cites_fails_the_audit_naming_the_claim(collected):
    claim = next(c for c in CLAIMS if c.id == "geometry.crop-offsets")
    gone = claim.tests[0]
    found = ledger.problems(tests=collected - {gone})
    assert found == [f"geometry.crop-offsets: test {gone} is not collected (removed or renamed?)"]


def test_code_that_is_gone_and_a_checked_claim_without_a_test_are_problems(collected):
    claims = [Claim("x.gone", "s", "c", "geometry", "informational", ("nets.geometry:no_such_function",)),
              Claim("x.untested", "s", "c", "geometry", "checked", ("nets.geometry:derive_crop_offsets",)),
              Claim("x.why", "s", "c", "data", "deviation", ("data.preprocess:preprocess_image",)),
              Claim("x.odd", "s", "c", "geometry", "verified")]
    found = ledger.problems(claims, tests=collected, cited={})
    assert found == ["x.gone: code nets.geometry:no_such_function does not exist",
                     "x.untested: status checked but no test checks it; cite the test or mark it informational or "
                     "not-checkable",
                     "x.why: a deviation claim must say why in its note",
                     "x.odd: status 'verified' is not one of checked, caffe, informational, deviation, not-checkable"]


def test_a_citation_of_an_unknown_claim_in_the_code_is_a_problem(tmp_path, collected):
    (tmp_path / "nets").mkdir()
    cite = "ledger" + ": "  # written apart, so that this file does not cite the slip itself
    (tmp_path / "nets" / "thing.py").write_text(f"# the offsets ({cite}geometry.crop-offsets)\n"
                                                f"# a slip ({cite}geometry.crop-ofsets)\n")
    cited = ledger.citations(tmp_path)
    assert cited == {"geometry.crop-offsets": ["nets/thing.py:1"], "geometry.crop-ofsets": ["nets/thing.py:2"]}
    assert ledger.problems(tests=collected, cited=cited) == [
        "geometry.crop-ofsets: cited at nets/thing.py:2 but there is no such claim"]


def test_every_status_of_the_issue_is_used_and_deviations_and_unknowns_say_why():
    statuses = {c.status for c in CLAIMS}
    assert statuses == {"checked", "caffe", "informational", "deviation", "not-checkable"}
    assert all(c.note for c in CLAIMS if c.status in ("deviation", "not-checkable"))
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)


def test_the_summary_counts_by_status_and_lists_each_deviation_and_unknown_in_one_line():
    text = ledger.summary()
    assert f"claims ledger: {len(CLAIMS)} claims" in text
    for c in CLAIMS:
        if c.status in ("deviation", "not-checkable"):
            assert f"  {c.id}: {c.claim} -- {c.note}" in text.splitlines()


def test_the_command_fails_with_the_claim_when_a_cited_test_is_renamed(collected, monkeypatch, capsys):
    """make audit's ledger step on a ledger that cites a test that does not exist: exit 1, the claim named."""
    broken = dataclasses.replace(CLAIMS[0], tests=("tests/test_nets.py::test_that_does_not_exist",))
    monkeypatch.setattr(ledger, "CLAIMS", (broken,))
    monkeypatch.setattr(ledger, "collected_tests", lambda: collected)
    assert ledger.main([]) == 1
    assert f"{broken.id}: test tests/test_nets.py::test_that_does_not_exist is not collected" in capsys.readouterr().out
