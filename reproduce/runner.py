"""The machinery behind ``.venv/bin/python -m reproduce.tableN``: check inputs, evaluate the released weights,
print paper vs ours vs delta, judge what can be judged, and write JSON and Markdown records under results/.

Precision: exact unless --precision asks for a fast mode; then every evaluation also runs its images in exact,
each row's verdict says it was measured in that mode with its agreement with exact, and a PASS is never called a
reproduction at exact.

Exit status: 0 when every check that applies passed (or the run was a smoke run), 1 when a check failed,
2 when weights or data are missing (the message lists each with the command that fetches it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data.cli import add_words_option, parse_with_words
from data.files import sha256_file, write_text
from data.layout import kit_command

from . import distributed, options, tables
from .datasets import MissingInputs, weights_missing
from .records import REPO, environment, write_json
from .tables import COLUMNS, SCORES, Row, Table, Verdict

RESULTS = REPO / "results"
SMOKE_SEED = 0


@dataclass
class Outcome:
    """One row of a table as the kit measured it."""

    method: str
    status: str
    net: str | None
    paper: dict[str, float | None]
    ours: dict[str, float | None] = field(default_factory=dict)
    extra: dict[str, float | str] = field(default_factory=dict)  # other variants and facts worth printing
    verdict: str = ""  # PASS / FAIL / informational / not released / baseline / not judged (...)
    checks: list[dict] = field(default_factory=list)  # the pass/fail comparisons that apply
    note: str = ""
    # Per output blob, class name -> IU in percent (None: a class the scorer skips); drawn by reproduce.audit.report.
    per_class_iu: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # What the kit can run for the row: the released weights' fetch command, or the commands that train it.
    how: list[str] = field(default_factory=list)


@dataclass
class Context:
    """Everything a table run shares: options, device, where inputs are, what was measured."""

    table: Table
    args: argparse.Namespace
    device: object = None
    world: distributed.World = distributed.SINGLE  # under torchrun: this rank (reproduce.distributed)
    smoke_root: Path | None = None
    inputs: dict = field(default_factory=dict)  # check_inputs: weights paths and readers
    test_reader: object = None  # Table 3: the VOC2012 test images, when present
    evaluations: dict[str, object] = field(default_factory=dict)  # net -> evaluate.Evaluation
    nets: dict[str, object] = field(default_factory=dict)  # net -> the module evaluated (kept for reuse)
    provenance: dict[str, dict] = field(default_factory=dict)  # net -> weights file, SHA-256, split record
    notes: list[str] = field(default_factory=list)
    record_extra: dict = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)  # the arguments the run was given, for its record

    @property
    def smoke(self) -> bool:
        return bool(self.args.smoke)

    @property
    def precision(self) -> str:
        """--precision (exact for a namespace made without it)."""
        return getattr(self.args, "precision", "exact")

    @property
    def out_dir(self) -> Path:
        return self.args.out / "smoke" if self.smoke else self.args.out


# ---- command line ---------------------------------------------------------------------------------------


def parser(table: Table, doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=kit_command(f"reproduce.table{table.number}"),
                                description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[1:]))
    p.add_argument("--smoke", action="store_true",
                   help="run the pipeline on a generated miniature dataset with random weights (numbers "
                        "MEANINGLESS): checks the wiring in seconds")
    p.add_argument("--data-root", type=Path,
                   help="the datasets' root folder ($FCN_DATA layout; default $FCN_DATA); with --smoke, a miniature "
                        "tree to use instead of a generated one (a smoke retraining's)")
    p.add_argument("--weights-dir", type=Path, help="folder of NET.h5 files (default: $FCN_WEIGHTS)")
    p.add_argument("--weights", action="append", default=[], metavar="NET=FILE",
                   help="use FILE for NET instead of the released weights (repeatable); an unreleased row runs "
                        "only with weights given so; a training variant's row is NET:VARIANT=FILE "
                        "(voc-fcn32s:fixed=FILE is Table 2's FCN-32s-fixed); a FILE alone is the weights of a "
                        "table that evaluates one net")
    p.add_argument("--retrained", action="store_true",
                   help="the weights come from the kit's own training run: judge each row against its paper "
                        f"row at {tables.RETRAIN_TOLERANCE} mean IU instead of the releases' scores")
    p.add_argument("--nets", nargs="+", metavar="NET",
                   help="only these nets (NET or NET:VARIANT; default: every released row and every row given "
                        "--weights)")
    p.add_argument("--limit", type=int, help="score only the first N images of each split (a quick look; "
                                             "nothing is judged)")
    options.add_common(p)
    p.add_argument("--out", type=Path, default=RESULTS, help="records folder (default: results/)")
    p.add_argument("--no-cache", action="store_true",
                   help="evaluate again even when results/evaluations holds a record for the same weights, "
                        "split and code revision")
    add_words_option(p)
    return p


def parse_args(p: argparse.ArgumentParser, table: Table, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, with those --args carries (make's ARGS=), then every --weights FILE without a NET= named
    after the table's one net (make's WEIGHTS=FILE)."""
    args = parse_with_words(p, argv)
    args.weights = [named_weights(table, item) for item in args.weights]
    return args


def named_weights(table: Table, item: str) -> str:
    """``--weights`` as NET=FILE: a FILE alone (no '=', or a file of that name) belongs to the table's one
    evaluated net; in a table of several it is an error naming them."""
    if "=" in item and not Path(item).is_file():
        return item
    keys = list(dict.fromkeys(r.key for r in table.rows if r.key and r.status == "released"))
    if len(keys) != 1:
        example = keys[0] if keys else "NET"
        raise SystemExit(f"--weights {item}: Table {table.number} evaluates {len(keys)} nets ({', '.join(keys)}); "
                         f"say which these weights are, as --weights NET=FILE (make: WEIGHTS={example}={item})")
    return f"{keys[0]}={item}"


def weights_overrides(args: argparse.Namespace) -> dict[str, Path]:
    """--weights KEY=FILE by row key: NET, or NET:VARIANT for a training variant's row."""
    out = {}
    for item in args.weights:
        key, sep, path = item.partition("=")
        if not sep or not path:
            raise SystemExit(f"--weights takes NET=FILE (or NET:VARIANT=FILE), got {item!r}")
        out[row_key(key)] = Path(path)
    return out


def row_key(key: str) -> str:
    """A row key as the user typed it (NET or NET:VARIANT) with the net in the kit's spelling: PyTorch Hub's
    ``voc_fcn8s`` is voc-fcn8s (nets.canonical_name); an unknown net stays as typed, for the row check to name."""
    import nets

    net, sep, variant = key.partition(":")
    try:
        return nets.canonical_name(net) + sep + variant
    except KeyError:
        return key


# ---- inputs ---------------------------------------------------------------------------------------------


def evaluated_rows(ctx: Context) -> list[Row]:
    """The table's rows (releases without a paper row included), checking --nets and --weights against them."""
    import difflib

    rows = list(ctx.table.rows)
    known = {r.key for r in rows if r.key}
    if ctx.args.nets:
        ctx.args.nets = [row_key(k) for k in ctx.args.nets]
    for option, keys in (("--nets", ctx.args.nets or ()), ("--weights", weights_overrides(ctx.args))):
        unknown = sorted(set(keys) - known)
        if unknown:
            close = list(dict.fromkeys(c for k in unknown for c in difflib.get_close_matches(k, sorted(known), n=2)))
            guess = f"; did you mean {' or '.join(close)}?" if close else "."
            raise SystemExit(f"{option} {unknown} name no row of Table {ctx.table.number}{guess} Its rows' nets are "
                             f"{sorted(known)} (a training variant's row is NET:VARIANT)")
    untrained = [r for r in rows if r.key in (ctx.args.nets or ()) and not runs(ctx, r)]
    if untrained:
        raise SystemExit("--nets " + "; ".join(
            f"{r.key}: {r.method} was never released, so it runs only on weights the kit trained, given as "
            f"--weights {r.key}=FILE ({how_to_run(ctx.table, r)[1]})" for r in untrained))
    return rows


def runs(ctx: Context, row: Row) -> bool:
    """Whether this run evaluates the row: a release, or weights given with --weights (an unreleased net or
    variant, trained by the kit), or any row of a net on a smoke run (random weights); --nets narrows."""
    if row.key is None or (ctx.args.nets and row.key not in ctx.args.nets):
        return False
    return row.status == "released" or ctx.smoke or row.key in weights_overrides(ctx.args)


def nets_to_run(ctx: Context, rows: Sequence[Row]) -> list[str]:
    """The row keys (NET, NET:VARIANT) this run evaluates, in row order."""
    return list(dict.fromkeys(r.key for r in rows if runs(ctx, r)))


def net_of(key: str) -> str:
    """The kit net of a row key (NET:VARIANT evaluates NET: a variant changes only what trains)."""
    return key.partition(":")[0]


def check_variant(key: str, path: Path) -> None:
    """A kit training snapshot records its variant (weights attribute ``variant``): refuse to judge it as the
    row of another one (FCN-32s-fixed weights as FCN-32s, or the other way round)."""
    if path.suffix != ".h5" or not path.is_file():
        return
    from weights.errors import HDF5FileError
    from weights.h5 import open_h5

    try:
        with open_h5(path) as f:
            trained = str(f.attrs.get("variant", ""))
    except HDF5FileError as e:
        raise SystemExit(f"--weights {key}={path}: {e}") from None
    want = key.partition(":")[2]
    if trained != want:
        right = f"{net_of(key)}:{trained}" if trained else net_of(key)
        raise SystemExit(f"--weights {key}={path}: the file was trained as "
                         f"{f'variant {trained!r}' if trained else 'the net itself (no variant)'} of {net_of(key)}; "
                         f"pass --weights {right}={path} to judge it against its own row")


def check_smoke_weights(key: str, path: Path) -> None:
    """A smoke run uses random weights, but weights given for a row must still be that row's net's: another
    net's file is named as such (what a real run would refuse), one that fits is said to be unused."""
    import weights
    from weights.loader import match_kit_nets

    net = net_of(key)
    try:
        model = weights.read_weights(path)
    except (ValueError, OSError) as e:
        raise SystemExit(f"--weights {key}={path}: {e}") from None
    fits, _ = match_kit_nets({layer.name: layer.shapes for layer in model.layers if layer.blobs})
    if net not in fits:
        what = f"the weights of {' or '.join(fits)}" if fits else "no kit net's weights"
        raise SystemExit(f"--weights {key}={path}: the file holds {what}, not {net}'s; a real run would refuse "
                         f"it. Give {net}'s weights (a smoke run itself uses random weights)")
    print(f"smoke run: random weights; {path} fits {net} but is not used")


def check_inputs(ctx: Context, nets: Sequence[str], splits: Sequence[tuple[str, str, str]]) -> dict:
    """Weights path per row key (``nets``: NET or NET:VARIANT) and a reader per (net, dataset, split); one
    MissingInputs listing everything absent. Cheap: no net is built and no image is read."""
    from .datasets import open_split, weights_path

    missing: list[tuple[str, str]] = []
    paths = {}
    overrides = weights_overrides(ctx.args)
    for key in nets:
        path = overrides.get(key) or weights_path(net_of(key), ctx.args.weights_dir)
        paths[key] = path
        # A smoke run uses random weights, or the weights given with --weights (a smoke retraining's).
        if (not ctx.smoke or key in overrides) and not path.is_file():
            # A file named with --weights is the user's (a training snapshot): no download makes it.
            missing.append((f"weights of {key} given with --weights: {path}",
                            "nothing to fetch: correct the path given to --weights (a training run writes "
                            "results/train/RUN/NET_iter_N.h5)")
                           if key in overrides else weights_missing(net_of(key), path))
        elif not ctx.smoke:
            check_variant(key, path)
        elif key in overrides:
            check_smoke_weights(key, path)
    readers = {}
    root = ctx.smoke_root if ctx.smoke else ctx.args.data_root
    options = {"expect_split": None} if ctx.smoke else {}
    for net, dataset, split in splits:
        try:
            readers[(net, dataset, split)] = open_split(net, dataset, split, root, **options)
        except MissingInputs as e:
            missing += [m for m in e.missing if m not in missing]
    if missing:
        raise MissingInputs(missing)
    return {"weights": paths, "readers": readers}


# ---- evaluation -----------------------------------------------------------------------------------------


def load_net(ctx: Context, net_name: str):
    """The evaluated module of row key ``net_name`` (NET or NET:VARIANT) if this run built one, else a fresh
    one with its weights."""
    import nets

    if net_name in ctx.nets:
        return ctx.nets[net_name]
    net = nets.build(net_of(net_name))
    if ctx.smoke and net_name not in weights_overrides(ctx.args):
        # meaningless weights by design: a smoke run exercises only the wiring
        from nets.seeded import seeded_weights

        seeded_weights(net, SMOKE_SEED)
    else:
        import weights

        weights.load(net, ctx.inputs["weights"][net_name])
    options.set_precision(net, ctx.args, ctx.device)
    ctx.nets[net_name] = net
    return net


def _cache_path(ctx: Context, net: str, dataset: str, split: str) -> Path:
    return ctx.out_dir / "evaluations" / f"{net.replace(':', '-')}_{dataset}_{split}.json"


def _cache_key(net: str, dataset: str, split: str, sha: str, split_md5: str, limit: int | None,
               device, world_size: int, precision: str = "exact") -> dict:
    from .records import device_name, git_revision

    # The device and the number of ranks are part of the key: the record's timings belong to them; the
    # precision too: a fast mode's scores are not exact's.
    return {"net": net, "dataset": dataset, "split": split, "weights_sha256": sha, "split_md5": split_md5,
            "limit": limit, "git_revision": git_revision(), "device": device_name(device),
            "world_size": world_size, "precision": precision}


def evaluate_net(ctx: Context, net_name: str, weights: Path, reader, dataset: str, split: str,
                 on_prediction: Callable | None = None):
    """Evaluate one net (or reuse results/evaluations/... for the same weights, split and revision). Under
    torchrun rank 0 alone hashes the weights, decides on the cache and writes it; every rank gets its
    decision and the whole split's evaluation."""
    from . import datasets
    from .evaluate import counts_record, evaluate_reader, from_record

    world, limit = ctx.world, ctx.args.limit
    if ctx.smoke and net_name not in weights_overrides(ctx.args):
        sha, source = f"random (seed {SMOKE_SEED}, smoke run)", "random"
    else:
        if world.main:
            print(f"hashing {weights} ...", flush=True)
        sha, source = distributed.broadcast(sha256_file(weights) if world.main else None, world), str(weights)
    md5 = datasets.split_md5(reader)
    key = _cache_key(net_name, dataset, split, sha, md5, limit, ctx.device, world.size, ctx.precision)
    ctx.provenance[net_name] = {"weights": source, "weights_sha256": sha, "dataset": dataset, "split": split,
                                "split_md5": md5, "split_info": datasets.split_record(reader)}
    cache = _cache_path(ctx, net_name, dataset, split)
    saved = None
    if world.main and not ctx.smoke and not ctx.args.no_cache and on_prediction is None and cache.is_file():
        saved = json.loads(cache.read_text())
        outputs = saved.get("scores") or {}  # an entry without confusion matrices predates them: stale
        fresh = saved.get("key") == key and not key["git_revision"].endswith("+dirty") and bool(outputs) \
            and all("confusion_matrix" in o for o in outputs.values())
        saved = saved if fresh else None
    saved = distributed.broadcast(saved, world)
    if saved is not None:
        distributed.say(f"{net_name}: reusing {cache} (same weights, split and revision; --no-cache to evaluate "
                        "again)")
        ev = from_record(saved)
        ctx.evaluations[net_name] = ev
        return ev
    net = load_net(ctx, net_name)
    count = len(reader) if limit is None else min(limit, len(reader))
    distributed.say(f"evaluating {net_name} on {dataset} {split} ({count} images)", flush=True)
    ev = evaluate_reader(net, reader, ctx.device, present_only=datasets.present_only(net_of(net_name)),
                         on_prediction=on_prediction, limit=limit, progress=not ctx.smoke, world=world)
    ctx.evaluations[net_name] = ev
    ctx.nets[net_name] = net
    if not ctx.smoke and world.main:
        write_json(cache, {"key": key, **counts_record(ev)})
    return ev


def per_class_iu(ev, net: str, dataset: str) -> dict[str, dict[str, float | None]]:
    """Per output blob, class name -> IU in percent (None for a class with neither labels nor predictions)."""
    import nets
    from data import CLASSES

    labels = {score: label for _, score, label in nets.spec(net_of(net)).losses}
    out = {}
    for blob in ev.hists:
        names = CLASSES.get((dataset, labels.get(blob, "")), ())
        ious = ev.scores(blob)["per_class_iu"]
        out[blob] = {(names[c] if c < len(names) else str(c)): None if math.isnan(v) else 100 * v
                     for c, v in enumerate(ious)}
    return out


def score_columns(ev) -> dict[str, float]:
    """The paper's score columns (percent) from an evaluation: the first output's four scores as they are
    (``mean_iu`` ...), every further output's under its label top (SIFT Flow's ``geo_pixel_accuracy``)."""
    out = {}
    for i, blob in enumerate(ev.hists):
        s = ev.scores(blob)
        prefix = "" if i == 0 else f"{ev.label_tops[blob]}_"
        out.update({prefix + k: 100 * s[k] for k in SCORES})
    return out


def how_to_run(table: Table, row: Row) -> list[str]:
    """The road that is open for a row: the fetch command of a release that survives; for a row whose weights
    are gone or were never released, its retraining command (reproduce.retrain: the init it starts from and
    where that comes from, the estimated time); for a net or variant the reference never released, also the
    commands that make its starting weights (the record's init, weights.zoo.init_command), train it with its
    record's recipe (a variant in the regime the paper trained it with) and judge the result against the paper
    row."""
    if row.key is None:
        return []
    from weights.zoo import retrain_table, survives

    if row.status == "released" and survives(row.net):
        return [f"released weights: make weights NET={row.net}"]
    from .retrain import road

    retrain = road(table.number, row.net) if not row.variant and retrain_table(row.net) == table.number else []
    if row.status == "released":
        return retrain
    import nets
    from weights.zoo import init_command

    from .records import run_name

    rec = nets.record(row.net)
    recipe = rec.recipe(rec.variant(row.variant).regime) if row.variant else rec.solver
    run = run_name(row.net, row.variant or None)
    variant = f" VARIANT={row.variant}" if row.variant else ""
    snapshot = f"results/train/{run}/{row.net}_iter_{recipe.max_iter}.h5"
    return [*retrain, f"starting weights: {init_command(row.net, f'{run}-init.h5')}",
            f"train: make train NET={row.net}{variant} INIT={run}-init.h5",
            "judge: " + kit_command(f"reproduce.table{table.number}", f"--retrained --weights {row.key}={snapshot}")]


def roads(ctx: Context, rows: Sequence[Row], missing: MissingInputs) -> str:
    """For a run that cannot start, the road of each row whose weights are missing or were never released
    (how_to_run: fetch, or retrain with where it starts from and the estimated time), after the list of what is
    missing."""
    lacking = {what.split(":", 1)[0].removeprefix("weights of ").split(" ", 1)[0] for what, _ in missing.missing
               if what.startswith("weights of ")}
    given = weights_overrides(ctx.args)
    lines = [f"  {r.method} ({r.key}):\n" + "\n".join(f"      {h}" for h in how_to_run(ctx.table, r))
             for r in rows if r.key and (r.key in lacking or (r.status == "not released" and r.key not in given))]
    return "\nThe road open for each row without weights:\n" + "\n".join(lines) if lines else ""


# ---- judging --------------------------------------------------------------------------------------------


def judge(ctx: Context, row: Row, outcome: Outcome) -> None:
    """Pass/fail for the five VOC releases (reference README, 0.1) or a re-training run (paper row, 1.0);
    everything else is informational."""
    iu = outcome.ours.get("mean_iu")
    if row.status == "baseline":
        outcome.verdict = "baseline (another method; nothing to run)"
        return
    if iu is None:
        outcome.verdict = ("not released: train it (the commands below), then judge it with --retrained "
                           "--weights" if row.status == "not released" else "not evaluated")
        return
    if ctx.smoke:  # a fast mode's row still says its agreement with exact, as the table's header promises
        outcome.verdict = "smoke run: MEANINGLESS, not judged" + fast_mode_note(ctx, row)
        return
    if ctx.args.limit is not None:
        outcome.verdict = f"partial split (--limit {ctx.args.limit}): not judged" + fast_mode_note(ctx, row)
        return
    if ctx.args.retrained and row.paper.get("mean_iu") is not None:
        add_check(outcome, "mean IU, re-training vs paper row", tables.check_retrained(row, iu))
    elif not ctx.args.retrained and row.release is not None and row.release.checked and \
            row.key not in weights_overrides(ctx.args):
        add_check(outcome, f"mean IU on {row.release.split}, release vs reference README",
                  tables.check_release(row.net, iu))
    if not outcome.checks:
        outcome.verdict = "informational (no published score for these weights)"
    else:
        outcome.verdict = "PASS" if all(c["passed"] for c in outcome.checks) else "FAIL"
    outcome.verdict += fast_mode_note(ctx, row)


def fast_mode_note(ctx: Context, row: Row) -> str:
    """What a verdict made in a fast mode must say: the mode and its measured agreement with exact; "" in
    exact."""
    if ctx.precision == "exact":
        return ""
    ev = ctx.evaluations.get(row.key)
    agreement = getattr(ev, "agreement", None)
    measured = (agreement.line(ev) if agreement is not None
                else f"measured in {ctx.precision}, its agreement with exact not measured")
    return f" ({measured}; not a reproduction at exact precision)"


def add_check(outcome: Outcome, kind: str, verdict: Verdict) -> None:
    outcome.checks.append({"kind": kind, "target": verdict.target, "ours": round(verdict.ours, 4),
                           "delta": round(verdict.delta, 4), "tolerance": verdict.tolerance,
                           "passed": verdict.passed})


# ---- output ---------------------------------------------------------------------------------------------


def _fmt(x: float | str | None, signed: bool = False, digits: int = 1) -> str:
    """Paper cells with one decimal as printed, the kit's with two (a 0.1 tolerance needs them)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if not isinstance(x, float):
        return str(x)
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def delta(paper: float | None, ours: float | None) -> float | None:
    return None if paper is None or ours is None else ours - paper


def format_text(ctx: Context, outcomes: Sequence[Outcome]) -> str:
    t = ctx.table
    lines = [f"Table {t.number}: {t.title} (paper: {t.paper_split}; kit: {t.dataset} {t.split})"]
    if ctx.smoke:
        lines.append("SMOKE RUN: miniature generated data, random weights. Every number below is MEANINGLESS.")
    lines.append(precision_line(ctx))
    for o in outcomes:
        head = f"{o.method}" + (f"  [{o.net}, {o.status}]" if o.net else f"  [{o.status}]")
        lines.append("")
        lines.append(head)
        cols = [c for c in t.columns if c in o.paper or c in o.ours]
        if cols:
            lines.append(f"  {'':<24} {'paper':>8} {'ours':>8} {'delta':>8}")
            for c in cols:
                p, u = o.paper.get(c), o.ours.get(c)
                lines.append(f"  {COLUMNS[c]:<24} {_fmt(p):>8} {_fmt(u, digits=2):>8} "
                             f"{_fmt(delta(p, u), True, 2):>8}")
        for k, v in o.extra.items():
            lines.append(f"  {k}: {_fmt(v, digits=2)}")
        for c in o.checks:
            lines.append(f"  check, {c['kind']}: {c['ours']:.2f} vs {c['target']} (delta {c['delta']:+.2f}, "
                         f"tolerance {c['tolerance']}): {'PASS' if c['passed'] else 'FAIL'}")
        lines.append(f"  verdict: {o.verdict}")
        if o.note:
            lines.append(f"  note: {o.note}")
        lines += [f"  {line}" for line in o.how]
    for n in (*t.notes, *ctx.notes):
        lines.append(f"* {n}")
    return "\n".join(lines)


def precision_line(ctx: Context) -> str:
    from nets import precision as P

    mode = P.get(ctx.precision)
    fast = ("" if mode.exact else
            " FAST MODE: the scores are not exact's; each row scored gives its agreement with exact.")
    return f"Precision {mode.name}: {mode.description}.{fast}"


def format_markdown(ctx: Context, outcomes: Sequence[Outcome], record: dict) -> str:
    t = ctx.table
    title = f"# Table {t.number}: {t.title}"
    lines = [title + (" (SMOKE RUN: numbers MEANINGLESS)" if ctx.smoke else ""), ""]
    lines.append(f"Paper: {t.paper_split}. Kit: {t.dataset} {t.split}. Revision {record['git_revision']}, "
                 f"device {record['device']}, {time.strftime('%Y-%m-%d', time.gmtime(record['finished']))}.")
    lines += ["", precision_line(ctx), ""]
    header = ["method", "net"] + [COLUMNS[c] + " (paper / ours / delta)" for c in t.columns] + ["verdict"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for o in outcomes:
        cells = [o.method, o.net or "-"]
        for c in t.columns:
            p, u = o.paper.get(c), o.ours.get(c)
            cells.append(f"{_fmt(p)} / {_fmt(u, digits=2)} / {_fmt(delta(p, u), True, 2)}")
        cells.append(o.verdict)
        lines.append("| " + " | ".join(cells) + " |")
    extras = [(o.method, k, v) for o in outcomes for k, v in o.extra.items()]
    if extras:
        lines += ["", "Also measured:", ""] + [f"- {m}: {k} = {_fmt(v, digits=2)}" for m, k, v in extras]
    runnable = [o for o in outcomes if o.how]
    if runnable:
        lines += ["", "What the kit runs for each row:", ""]
        lines += [f"- {o.method} ({o.net}): " + "; ".join(
            f"{what} {_code(text)}" for what, _, text in (h.partition(": ") for h in o.how)) for o in runnable]
    lines += ["", "Weights and splits:", ""]
    for net, prov in record["provenance"].items():
        fed = (prov.get("split_info") or {}).get("images_from")
        lines.append(f"- {net}: weights {prov['weights']} (SHA-256 {prov['weights_sha256']}); "
                     f"{prov['dataset']} {prov['split']} split MD5 {prov['split_md5']}"
                     + (f", images and labels from {fed}" if fed else ""))
    notes = [*t.notes, *ctx.notes]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """A command as Markdown code; words (where a row starts from, its estimated time) as they are."""
    return f"`{text}`" if text.startswith(("make ", ".venv/", "/")) or " -m " in text.split(" (")[0] else text


def write_records(ctx: Context, outcomes: Sequence[Outcome], started: float) -> dict:
    """results/tableN.json and .md (rank 0 writes them)."""
    from .evaluate import counts_record

    record = {
        "table": ctx.table.number,
        "title": ctx.table.title,
        "smoke": ctx.smoke,
        "meaningless": ctx.smoke,
        "seed": SMOKE_SEED if ctx.smoke else None,
        "command": kit_command(f"reproduce.table{ctx.table.number}", *ctx.argv),
        **environment(ctx.device),
        "started": started,
        "finished": time.time(),
        "limit": ctx.args.limit,
        "precision": ctx.precision,
        "precision_reason": _reason(ctx.precision),
        "world_size": ctx.world.size,
        "backend": ctx.world.backend,
        "provenance": ctx.provenance,
        "rows": [asdict(o) for o in outcomes],
        # Each net's confusion matrices: any row can be re-scored (evaluate.from_record) and merged.
        "evaluations": {net: {"dataset": ctx.provenance.get(net, {}).get("dataset"),
                              "split": ctx.provenance.get(net, {}).get("split"), **counts_record(ev)}
                        for net, ev in ctx.evaluations.items()},
        "notes": [*ctx.table.notes, *ctx.notes],
        **ctx.record_extra,
    }
    name = f"table{ctx.table.number}"
    write_json(ctx.out_dir / f"{name}.json", record)
    write_text(ctx.out_dir / f"{name}.md", format_markdown(ctx, outcomes, record))
    return record


def _reason(mode: str) -> str:
    from nets import precision as P

    return P.get(mode).description


# ---- the whole run --------------------------------------------------------------------------------------


Measure = Callable[[Context, Row, Outcome], None]


def run_table(table: Table, doc: str, argv: Sequence[str] | None = None, *, measure: Measure | None = None,
              prepare: Callable[[Context], None] | None = None,
              finish: Callable[[Context, list[Outcome]], None] | None = None,
              add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
              smoke_data: Callable[[Path], None] | None = None, keep_nets: Sequence[str] = ()) -> int:
    """Evaluate every released row of ``table`` and report. Hooks: ``add_arguments`` (extra options),
    ``prepare(ctx)`` after the inputs check, ``measure(ctx, row, outcome)`` per row after the scores,
    ``finish(ctx, outcomes)`` before the records are written, ``smoke_data(root)`` builds the miniature
    datasets for --smoke; ``keep_nets`` stay in memory for ``finish`` (others are freed after their row)."""
    p = parser(table, doc)
    if add_arguments:
        add_arguments(p)
    args = parse_args(p, table, argv)
    # The arguments as given: sys.argv is another command's when a retraining runs the table in its process.
    ctx = Context(table, args, argv=list(sys.argv[1:] if argv is None else argv))
    started = time.time()
    rows = evaluated_rows(ctx)
    keys = nets_to_run(ctx, rows)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fcn-smoke-") as tmp:
        if ctx.smoke and args.data_root is not None:
            ctx.smoke_root = args.data_root  # a miniature tree made by its caller (a smoke retraining's)
        elif ctx.smoke:
            ctx.smoke_root = Path(tmp) / "data"
            (smoke_data or default_smoke_data(table))(ctx.smoke_root)
        try:
            splits = list(dict.fromkeys((net_of(k), table.dataset, table.split) for k in keys))
            found = check_inputs(ctx, keys, splits)
            ctx.inputs = found
            ctx.world, ctx.device = options.start(args)
            if prepare:
                prepare(ctx)
        except MissingInputs as e:
            return distributed.refuse(f"Table {table.number} cannot run.\n{e}{roads(ctx, rows, e)}", args.device,
                                      args.dist_timeout)
        outcomes = []
        for row in rows:
            o = Outcome(row.method, row.status, row.net, dict(row.paper), note=row.note, how=how_to_run(table, row))
            if row.key in keys:
                reader = found["readers"][(row.net, table.dataset, table.split)]
                ev = evaluate_net(ctx, row.key, found["weights"][row.key], reader, table.dataset, table.split)
                o.ours.update(score_columns(ev))
                o.per_class_iu = per_class_iu(ev, row.net, table.dataset)
            if measure:
                measure(ctx, row, o)
            judge(ctx, row, o)
            outcomes.append(o)
            if row.key not in keep_nets:
                ctx.nets.pop(row.key, None)
        if finish:
            finish(ctx, outcomes)
    failed = [o for o in outcomes if o.verdict == "FAIL"]
    if ctx.world.main:  # every rank holds the same outcomes; rank 0 reports them
        print()
        print(format_text(ctx, outcomes))
        write_records(ctx, outcomes, started)
        print(f"\nrecords: {ctx.out_dir / f'table{table.number}.json'} and .md")
        if failed:
            print(f"FAILED: {', '.join(o.method for o in failed)}")
    return 1 if failed else 0


def default_smoke_data(table: Table) -> Callable[[Path], None]:
    from .smoke import build_for

    return lambda root: build_for(table.dataset, root)
