"""The claims ledger's reader: ``.venv/bin/python -m reproduce.audit.ledger`` (run by ``make audit``).

The ledger itself is data, ``reproduce/audit/claims.py``: one entry per claim of the two FCN papers and of the
reference release that the kit implements or checks, with its source, the claim in the kit's words, the code
that implements it (``module:symbol``) and the tests that check it (pytest node ids). This module checks the
ledger against the tree and prints its summary:

- every ``module:symbol`` must import, and every test id must be collected by pytest (``tests/x.py::test_name``;
  a parametrized test is cited by its name);
- a claim whose status says it is checked (``checked``, ``caffe``) must cite at least one test;
  ``informational`` and ``not-checkable`` claims may cite none; ``deviation`` and ``not-checkable`` claims must
  say why (``note``: the kit's choice and its reason, or what would check it);
- every citation ``ledger: ID`` in the code and the docs must name a claim.

Exit status 0 when the ledger holds, 1 with one line per problem naming the claim.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .claims import CLAIMS, KINDS, STATUSES, Claim

REPO = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"ledger[:\s]+([a-z0-9]+(?:[.-][a-z0-9]+)+)")
# Where citations of the ledger may stand: the library, the experiments, the tests, the docs.
CITED_IN = ("nets", "weights", "data", "reproduce", "tests", "README.md", "hubconf.py")


def collected_tests() -> set[str]:
    """Every test id pytest collects (all markers), parameters stripped: ``tests/x.py::test_name``."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "", "-p", "no:cacheprovider",
                           "tests"], cwd=REPO, capture_output=True, text=True, timeout=600)
    ids = {line.split("[", 1)[0].strip() for line in done.stdout.splitlines() if "::" in line}
    if not ids:
        raise RuntimeError(f"pytest collected no tests (exit {done.returncode}):\n{done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    return ids


def resolve(reference: str) -> bool:
    """Whether ``module:symbol`` (symbol may be dotted: ``Class.method``) names something in the tree."""
    module, _, symbol = reference.partition(":")
    try:
        obj = importlib.import_module(module)
    except ImportError:
        return False
    for part in filter(None, symbol.split(".")):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


OUTSIDE = "FACTS" + ".md"  # the document the kit was first audited against, which a clone does not have


def citations(root: Path = REPO) -> dict[str, list[str]]:
    """Claim id -> the places (``file:line``) that cite it as ``ledger: ID``. A citation of a document outside
    the repository is listed under its name, so that it fails as an unknown claim."""
    found: dict[str, list[str]] = {}
    paths: list[Path] = []
    for name in CITED_IN:
        path = root / name
        paths += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for path in paths:
        if path.name in ("claims.py", "ledger.py") or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CITATION.finditer(line):
                found.setdefault(match.group(1), []).append(f"{path.relative_to(root)}:{n}")
            if OUTSIDE in line:
                found.setdefault(OUTSIDE, []).append(f"{path.relative_to(root)}:{n}")
    return found


def problems(claims: Iterable[Claim] | None = None, tests: set[str] | None = None,
             cited: dict[str, list[str]] | None = None) -> list[str]:
    """Every way the ledger (default: CLAIMS) and the tree disagree, one line each naming the claim."""
    claims = list(CLAIMS if claims is None else claims)
    tests = collected_tests() if tests is None else tests
    cited = citations() if cited is None else cited
    out = []
    ids = Counter(c.id for c in claims)
    out += [f"{i}: the id is used by {n} claims" for i, n in ids.items() if n > 1]
    for c in claims:
        if c.status not in STATUSES:
            out.append(f"{c.id}: status {c.status!r} is not one of {', '.join(STATUSES)}")
        if c.kind not in KINDS:
            out.append(f"{c.id}: kind {c.kind!r} is not one of {', '.join(KINDS)}")
        out += [f"{c.id}: code {ref} does not exist" for ref in c.code if not resolve(ref)]
        out += [f"{c.id}: test {t} is not collected (removed or renamed?)" for t in c.tests if t not in tests]
        if c.status in ("checked", "caffe") and not c.tests:
            out.append(f"{c.id}: status {c.status} but no test checks it; cite the test or mark it informational "
                       "or not-checkable")
        if c.status in ("deviation", "not-checkable") and not c.note:
            out.append(f"{c.id}: a {c.status} claim must say why in its note")
    known = set(ids)
    for claim_id, places in sorted(cited.items()):
        if claim_id == OUTSIDE:
            out.append(f"{OUTSIDE}: cited at {', '.join(places)}, a document a clone does not have; cite the "
                       "ledger's claim instead (ledger" + ": ID)")
        elif claim_id not in known:
            out.append(f"{claim_id}: cited at {', '.join(places)} but there is no such claim")
    return out


def table_records(results: Path | None = None) -> list[dict]:
    """The table records on this machine (results/tableN.json from make reproduce-tableN or make
    retrain-tableN; results/smoke/tableN.json from a smoke run), each with its rows' verdicts."""
    import json

    results = REPO / "results" if results is None else results
    found = []
    for path in [*sorted(results.glob("table[0-9].json")), *sorted(results.glob("smoke/table[0-9].json"))]:
        try:
            record = json.loads(path.read_text())
            rows = [(r["method"], r.get("net"), r.get("verdict", "")) for r in record["rows"]]
        except (OSError, ValueError, KeyError, TypeError):
            found.append({"path": path, "unreadable": True})
            continue
        found.append({"path": path, "table": record.get("table"), "smoke": bool(record.get("smoke")),
                      "device": record.get("device", "?"), "finished": record.get("finished"), "rows": rows})
    return found


def records_lines(records: list[dict]) -> list[str]:
    """What the table records on this machine say, one line per evaluated row: the checks behind the
    not-checkable table claims, where the weights and data were here."""
    import time

    if not records:
        return ["table records on this machine: none yet (make reproduce-tableN with the weights and data, or make "
                "retrain-tableN for the rows whose weights are gone, writes results/tableN.json)"]
    lines = [f"table records on this machine: {len(records)}"]
    for rec in records:
        where = rec["path"].relative_to(REPO) if rec["path"].is_relative_to(REPO) else rec["path"]
        if rec.get("unreadable"):
            lines.append(f"  {where}: unreadable (rerun the table to write it again)")
            continue
        when = time.strftime("%Y-%m-%d", time.gmtime(rec["finished"])) if rec.get("finished") is not None else "?"
        lines.append(f"  {where} (Table {rec['table']}, {when}, {rec['device']}"
                     + (", SMOKE RUN: numbers MEANINGLESS" if rec["smoke"] else "") + ")")
        lines += [f"    {method} [{net}]: {verdict}" for method, net, verdict in rec["rows"]
                  if net and not verdict.startswith(("not released", "not evaluated", "baseline"))]
    return lines


def summary(claims: Iterable[Claim] | None = None) -> str:
    """Counts by status and kind, then every deviation and every claim the tests do not check with what checks
    it, one line each."""
    claims = list(CLAIMS if claims is None else claims)
    by_status = Counter(c.status for c in claims)
    lines = [f"claims ledger: {len(claims)} claims of the two papers and the reference release "
             "(reproduce/audit/claims.py)",
             "  by status: " + ", ".join(f"{s} {by_status[s]}" for s in STATUSES),
             "  by kind:   " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(c.kind for c in claims).items()))]
    for status, title in (("deviation", "deviations (the kit's choice, and why)"),
                          ("not-checkable", "not checked by the tests (and what checks it)")):
        chosen = [c for c in claims if c.status == status]
        lines.append(f"{title}: {len(chosen)}")
        lines += [f"  {c.id}: {c.claim} -- {c.note}" for c in chosen]
    return "\n".join(lines)


def as_rows(claims: Iterable[Claim] | None = None) -> list[dict]:
    """The ledger as plain dicts, for the audit report."""
    claims = CLAIMS if claims is None else claims
    return [{"id": c.id, "source": c.source, "claim": c.claim, "kind": c.kind, "status": c.status,
             "code": list(c.code), "tests": list(c.tests), "note": c.note} for c in claims]


def main(argv: list[str] | None = None) -> int:
    from data.files import FORCE_HELP, DestinationExists, refuse_existing

    parser = argparse.ArgumentParser(prog=".venv/bin/python -m reproduce.audit.ledger",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the ledger as JSON (for the report)")
    parser.add_argument("--force", action="store_true", help="with --json: " + FORCE_HELP)
    args = parser.parse_args(argv)
    if args.json:  # checked before any work: a file the user named is kept unless --force
        try:
            refuse_existing(args.json, args.force)
        except DestinationExists as e:
            raise SystemExit(f"reproduce.audit.ledger: --json: {e}") from None
    print(summary())
    print("\n".join(records_lines(table_records())))
    found = problems()
    if args.json:
        import json

        from data.files import write_text

        write_text(args.json, json.dumps(as_rows(), indent=1) + "\n")
    if found:
        print(f"LEDGER FAILED: {len(found)} problem(s):\n  " + "\n  ".join(found))
        return 1
    print("ledger holds: every claim's code exists, every cited test is collected, every checked claim has a test")
    return 0


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
