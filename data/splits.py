"""Split lists: reading them, deriving the ones the reference did not ship with the datasets, and checking
them against the reference's published lists.

Two hashes describe a list:
- the *set hash*: MD5 of the ids sorted, one per line, newline-terminated. Order-free, so a derived list can
  be checked even where the reference's file has another order. For seg11valid it is the published MD5 itself
  (that file is sorted and newline-terminated).
- the *file hash*: MD5 of the ids in the given order, in the published file's format (one per line; a final
  newline only where the published file has one). Equal to the published MD5 when the order is the
  reference's, which matters for training: the reference's sampler draws positions in its list (ledger:
  train.sampler).

Set hashes other than seg11valid's were computed from the reference's published lists, after checking that
those lists reproduce the published file MD5s of the ledger's data.splits.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingDataError, SplitMismatchError, SplitMismatchWarning


@dataclass(frozen=True)
class ReferenceSplit:
    """What is known of one of the reference's split lists."""

    count: int
    set_md5: str | None  # None: only the count is known
    file_md5: str | None = None  # the published file's MD5 (ledger: data.splits), None where none is published
    final_newline: bool = False  # the published file ends in a newline


_S = ReferenceSplit
_SEG11VALID = "7984b6ce736bd3666d8b7ee70b5401da"
REFERENCE_SPLITS: dict[tuple[str, str], ReferenceSplit] = {
    # (reader, split): _S(count, set MD5, published file MD5, published file ends in a newline)
    ("voc", "seg11valid"): _S(736, _SEG11VALID, _SEG11VALID, True),  # sorted, so both hashes agree
    ("sbd", "train"): _S(8498, None),
    ("sbd", "val"): _S(2857, None),
    ("nyud", "train"): _S(381, "125f66a3866abc9f0755fc528a48b394", "cdfe948a71d2f9b45f1d28584919560a"),
    ("nyud", "val"): _S(414, "26aba6757016772024862d67d9844ef8", "26aba6757016772024862d67d9844ef8", True),
    ("nyud", "test"): _S(654, "7fe23fefecd7a46a78607c2032d86b7b", "e310e298307628c9bc1ebded4ea39ed5"),
    # train + val; the reference trained on a trainval.txt it did not publish, so only the set is known.
    ("nyud", "trainval"): _S(795, "1188b88348171bbefec10908e134117a"),
    ("siftflow", "trainval"): _S(2486, "54b9d957f96c4fb1838945ac8d66e37a",
                                 "c804fd212beeec26629642783275d090"),
    ("siftflow", "test"): _S(200, "3ba366c3a3a7fb4602604f5cd09fb019", "edbdae48f6fbdb3b2664f2b11191201e"),
    ("pascalcontext", "val"): _S(5105, None),
}

# Sentinel for "check against REFERENCE_SPLITS".
REFERENCE = "reference"
Expectation = tuple[int, str | None] | str | None


def read_list(path: Path) -> list[str]:
    """One id per line; surrounding whitespace (and CR of CRLF files) stripped, blank lines dropped."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def set_md5(ids: Sequence[str]) -> str:
    """MD5 of the ids sorted, one per line, newline-terminated (order-free)."""
    return hashlib.md5("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()


def file_md5(ids: Sequence[str], final_newline: bool) -> str:
    """MD5 of the ids in order, one per line, in the published file's newline convention."""
    text = "\n".join(ids) + ("\n" if final_newline and ids else "")
    return hashlib.md5(text.encode()).hexdigest()


@dataclass(frozen=True)
class SplitInfo:
    """Where a reader's ids came from and how they compare with the reference's list (for run records)."""

    dataset: str
    split: str
    source: str  # a list file's path, or "derived: ..."
    derived: bool
    count: int
    set_md5: str
    expected_count: int | None
    expected_set_md5: str | None
    matches_reference: bool | None  # None: nothing to compare with
    same_order_as_reference: bool | None  # None: the reference's file hash is unknown
    images_from: str | None = None  # the folder whose images (and labels) feed the split, e.g. "VOC2012"
    list_md5: str | None = None  # MD5 of the list file as read (None for a derived list)
    provenance: dict | None = None  # how the kit got the folder, where it says (NYUD: the archive or a build)

    def describe(self) -> str:
        verdict = {True: "matches the reference's list", False: "DIFFERS from the reference's list",
                   None: "no reference list to compare with"}[self.matches_reference]
        order = {True: ", same order", False: ", other order", None: ""}[self.same_order_as_reference]
        fed = f"; files from {self.images_from}" if self.images_from else ""
        return f"{self.dataset} {self.split}: {self.count} ids from {self.source}; {verdict}{order}{fed}"


def find_list(candidates: Sequence[Path]) -> Path | None:
    """The first existing list among ``candidates`` (a root's own {split}.txt first), else None."""
    for path in candidates:
        if path.is_file():
            return path
    return None


def require_list(dataset: str, split: str, candidates: Sequence[Path], fetch: str, hint: str = "") -> Path:
    """Like find_list, but a missing list is an error naming the expected path."""
    found = find_list(candidates)
    if found is None:
        where = candidates[-1]
        also = f" (or {', '.join(str(c) for c in candidates[:-1])})" if len(candidates) > 1 else ""
        raise MissingDataError(f"{dataset} split list {split!r}{also}", where, fetch, hint)
    return found


def check(dataset: str, split: str, ids: Sequence[str], source: str, derived: bool,
          expect: Expectation = REFERENCE, strict: bool = False) -> SplitInfo:
    """Compare ids with the expected (count, set MD5). A derived list that differs is an error (the derivation
    or the dataset copy is wrong); a list read from a file that differs is used as given, with a warning,
    since a root's {split}.txt is how users and tests pin a split on purpose, unless ``strict`` (the list is
    the split's only definition, as seg11valid's over VOC2012's files). ``expect``: REFERENCE (the table
    above), None (no check), or (count, set_md5 or None) to check against other values."""
    ref = REFERENCE_SPLITS.get((dataset, split)) if expect == REFERENCE else None
    if expect == REFERENCE:
        expected_count, expected_md5 = (ref.count, ref.set_md5) if ref else (None, None)
    elif expect is None:
        expected_count, expected_md5 = None, None
    else:
        expected_count, expected_md5 = expect
    digest = set_md5(ids)
    problems = []
    if expected_count is not None and len(ids) != expected_count:
        problems.append(f"expected {expected_count} ids, found {len(ids)}")
    if expected_md5 is not None and digest != expected_md5:
        problems.append(f"expected set MD5 {expected_md5}, found {digest}")
    matches = None if expected_count is None and expected_md5 is None else not problems
    same_order = None
    if ref is not None and ref.file_md5 is not None:
        same_order = file_md5(ids, ref.final_newline) == ref.file_md5
    info = SplitInfo(dataset, split, source, derived, len(ids), digest, expected_count, expected_md5, matches,
                     same_order)
    if problems:
        detail = "; ".join(problems)
        if derived:
            raise SplitMismatchError(
                f"{dataset} split {split!r} derived from {source} does not match the reference's list: "
                f"{detail}. Check that the dataset copy is complete and is the release the reference used; "
                "pass expect_split=None to use the derived list anyway.")
        if strict:
            raise SplitMismatchError(
                f"{dataset} split {split!r} read from {source} is not the reference's list: {detail}. Fetch the "
                "reference's list again (make data DATASET=voc checks its MD5), or pass expect_split=None to use "
                "this list anyway.")
        warnings.warn(f"{dataset} split {split!r} read from {source} differs from the reference's list: "
                      f"{detail}. It is used as given (pass expect_split=None to silence this).",
                      SplitMismatchWarning, stacklevel=6)  # points at the caller of data.load
    return info


def seg11valid(voc2011_val: Sequence[str], sbd_train: Sequence[str]) -> list[str]:
    """The paper's VOC2011 validation subset: VOC2011 segmentation val minus SBD train, sorted (as the
    reference's seg11valid.txt)."""
    return sorted(set(voc2011_val) - set(sbd_train))


def siftflow_test_ids(testset_lines: Sequence[str]) -> list[str]:
    """Ids of SIFT Flow's TestSet1.txt, whose lines read `spatial_envelope_256x256_static_8outdoorcategories\\
    <id>.jpg` (a Windows backslash), in file order."""
    ids = []
    for line in testset_lines:
        name = line.replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith(".jpg"):
            raise ValueError(f"TestSet1.txt line {line!r} does not name a .jpg image")
        ids.append(name[: -len(".jpg")])
    return ids


# SIFT Flow images whose labels are all zero (unannotated); the reference left them out of its lists.
SIFTFLOW_UNANNOTATED = ("highway_bost181", "street_urb506")


def siftflow_trainval_ids(all_ids: Sequence[str], test_ids: Sequence[str]) -> list[str]:
    """Every image not in the test split and not unannotated, sorted (the reference's own order is not
    recoverable; put its trainval.txt in the root to replay its training order exactly)."""
    leave_out = set(test_ids) | set(SIFTFLOW_UNANNOTATED)
    return sorted(i for i in all_ids if i not in leave_out)
