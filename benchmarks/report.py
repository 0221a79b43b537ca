"""Markdown tables from benchmark records, so that no measured figure in the docs is typed by hand.

    .venv/bin/python -m benchmarks.report RECORD [RECORD ...]     print each record's table
    .venv/bin/python -m benchmarks.report --update DOC [DOC ...]  rewrite the generated blocks of DOC
    .venv/bin/python -m benchmarks.report --check DOC [DOC ...]   exit 1 if a block differs from its record

A generated block in a Markdown file sits between ``<!-- benchmarks.report: PATH -->`` and
``<!-- end of benchmarks.report -->``, PATH being the record (relative to the checkout) it is rendered from.
``make bench`` writes records to results/; the ones the docs quote are copies kept in benchmarks/records/
(``make bench-docs`` renders them into the docs, and a test holds the docs to them).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"<!-- benchmarks\.report: (?P<path>\S+) -->\n")
END = "<!-- end of benchmarks.report -->"


def _num(v, fmt: str, none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def _percent(row: dict) -> str:
    return _num(row.get("peak_fraction") and 100 * row["peak_fraction"], ".0f")


def _ratio(v, bold: bool) -> str:
    """A speed ratio; the kit's own in bold."""
    return "-" if v is None else (f"**{v:.2f}**" if bold else f"{v:.2f}")


def _where(record: dict) -> str:
    """The sentence that says where, when and how a record was measured."""
    m = record.get("machine", {})
    load = m.get("load_average_before") or record.get("load_average_before")
    after = record.get("load_average_after")
    cores = f"{m['cores']}-core " if m.get("cores") else ""
    parts = [f"Measured on a {cores}{m.get('cpu', record.get('device', 'unknown machine'))}"
             + (f" ({m['cpu_capability']})" if m.get("cpu_capability") else "")
             + f" with torch {m.get('torch', record.get('torch', '?'))}, {m.get('threads', record.get('threads'))} "
               f"threads, {m.get('date', record.get('date', '?'))}"]
    if load:
        parts.append(f"load average {load[0]:.1f} before the run" + (f" and {after[0]:.1f} after" if after else ""))
    return "; ".join(parts) + f": `{record['command']}`." if "command" in record else "; ".join(parts) + "."


def _peaks(record: dict) -> str:
    """The measured peak per mode, with the two kernels it is the better of."""
    peaks = []
    for mode, v in record.get("peak", {}).items():
        if v.get("gflops"):
            parts = [f"{label} {v[key]:.0f}" for key, label in (("matmul_gflops", "matrix product"),
                                                                 ("conv_gflops", "3x3 convolution")) if v.get(key)]
            peaks.append(f"{mode} {v['gflops']:.0f} GFLOP/s" + (f" ({', '.join(parts)})" if parts else ""))
    return f"Measured peak, in the same rounds: {'; '.join(peaks)}." if peaks else ""


def inference(record: dict) -> str:
    """The contestants of each net family, with the ratios to Caffe and torchfcn measured in the same run."""
    lines = [_where(record), "",
             f"{record['size']}x{record['size']} input, batch 1, median of {record['runs']} rounds after a warm-up, "
             f"contestants in turn. {_peaks(record)}", "",
             "| net | contestant | ms (median) | ms (min) | x Caffe | x torchfcn | GMAC | GMAC/s | % peak | peak MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for family in record["families"]:
        for r in family["rows"]:
            if r.get("ms") is None:
                lines.append(f"| {family['net']} | {r['contestant']} | not run: {r.get('unavailable') or 'no result'} "
                             "| | | | | | | |")
                continue
            kit = r["contestant"].startswith("kit ")
            lines.append(f"| {family['net']} | {r['contestant']} | {r['ms']:.0f} | {r['min_ms']:.0f} | "
                         f"{_ratio(r.get('vs_caffe'), kit)} | {_ratio(r.get('vs_torchfcn'), kit)} | "
                         f"{r['gmac']:.1f} | {r['gmac_per_s']:.1f} | {_percent(r)} | "
                         f"{_num(r.get('peak_mib'), '.0f')} |")
    choice = next((r["winograd"] for f in record["families"] for r in f["rows"] if r.get("winograd")), None)
    if choice:
        lines += ["", f"Winograd F(2x2, 3x3) in the kit's exact path on this machine: "
                      f"{'taken' if choice['pays'] else 'not taken'} (a conv5-sized layer measured "
                      f"{choice['direct_ms']:.1f} ms direct, {choice['winograd_ms']:.1f} ms as Winograd; "
                      "nets.inference.winograd_choice)."]
    from benchmarks.inference import paper_ratios

    ratios = paper_ratios(record)
    if ratios:
        lines += ["", "Time ratios of the kit's exact forward in this run beside the paper's Table 1 (a Tesla K40c; "
                      "ratios compare across machines, times do not): "
                  + "; ".join(f"{label} / FCN-AlexNet {ours:.2f} (paper {paper:.2f})" for label, ours, paper in ratios)
                  + "."]
    return "\n".join(lines)


def inference_steps(record: dict) -> str:
    """The exact path with its speed-ups switched on one after another: what each step buys."""
    lines = [_where(record), "",
             f"{record['size']}x{record['size']} input, batch 1, median of {record['runs']} rounds after a warm-up, "
             f"the steps in turn. {_peaks(record)}", "",
             "| step (each adds to the one above) | ms (median) | ms (min) | x previous (median) | GMAC | GMAC/s "
             "| % peak |", "|---|---:|---:|---:|---:|---:|---:|"]
    for family in record["families"]:
        prev = None
        for r in family["rows"]:
            if r.get("ms") is None:
                lines.append(f"| {r['contestant']} | not run: {r.get('unavailable') or 'no result'} | | | | | |")
                prev = None
                continue
            lines.append(f"| {r['contestant']} | {r['ms']:.0f} | {r['min_ms']:.0f} | "
                         f"{_num(prev and prev / r['ms'], '.2f')} | {r['gmac']:.1f} | {r['gmac_per_s']:.1f} | "
                         f"{_percent(r)} |")
            prev = r["ms"]
    return "\n".join(lines)


def loader(record: dict) -> str:
    lines = [_where(record), "",
             f"{record['images']} pictures of {record['picture']}, batch {record['batch']}, best of "
             f"{record['passes']} passes; a pass includes starting the workers.", "",
             "| loader workers | images/s |", "|---:|---:|"]
    lines += [f"| {r['workers']} | {r['images_per_s']:.1f} |" for r in record["rows"]]
    return "\n".join(lines)


def conversion(record: dict) -> str:
    size, base = record["file_mib"], record["baseline_mib"]
    lines = [_where(record), "",
             f"A {size:.0f} MiB caffemodel ({record['origin']}); each step in a fresh process, whose peak resident "
             f"memory is its own; the imports alone take {base:.0f} MiB.", "",
             "| step | seconds | peak RSS MiB | x the file | x the file, above the imports |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['step']} | {r['seconds']:.2f} | {r['peak_mib']:.0f} | {r['peak_mib'] / size:.2f} | "
              f"{(r['peak_mib'] - base) / size:.2f} |" for r in record["rows"]]
    return "\n".join(lines)


def tiled(record: dict) -> str:
    from nets.tiling import format_bytes

    return "\n".join([
        _where(record), "",
        "| net | picture | budget | untiled estimate | tiles | tiled estimate | process peak RSS | of it before "
        "the forward | seconds |", "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| {record['net']} | {record['width']}x{record['height']} | {format_bytes(record['budget'])} | "
        f"{format_bytes(record['untiled_estimate'])} | {record['tiles']} | {format_bytes(record['tiled_estimate'])} "
        f"| {format_bytes(record['peak_rss'])} | {format_bytes(record['rss_before'])} | {record['seconds']:.0f} |"])


def nyud_build(record: dict) -> str:
    n, target = record["nyu_images"], record["target_seconds"]
    lines = [_where(record), "",
             f"{record['images']} images of {record['picture']}; the image phase (workers spawned, every file "
             f"written), in wall seconds on this shared machine and in CPU seconds; peak resident memory of the "
             f"build's process plus each worker's. MD5 and SHA-256 of a file at "
             f"{record['hash_bytes_per_s'] / 2**20:.0f} MiB/s. The last column is an EXTRAPOLATION, not a "
             f"measurement: {n} images at the CPU time per image spread over the workers, as on that many idle "
             f"cores, plus hashing NYU's {record['nyu_mat_bytes']:,}-byte .mat (the issue's target: under "
             f"{target // 60} minutes on 2 cores, under {record['target_bytes'] // 2**30} GB).", "",
             "| workers | wall s per image | CPU s per image | peak RSS MiB (bound) | folder MiB per image | "
             f"extrapolated to {n} images on idle cores, minutes |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['seconds_per_image']:.2f} | {r['cpu_seconds_per_image']:.2f} | "
              f"{r['peak_rss_bound'] / 2**20:.0f} | {r['folder_bytes_per_image'] / 2**20:.2f} | "
              f"{r['extrapolated_seconds'] / 60:.1f} |" for r in record["rows"]]
    return "\n".join(lines)


def hha(record: dict) -> str:
    octave = record.get("octave")
    lines = [_where(record), "",
             f"A {record['image']} depth map, on one core, best of {record['repeats']} rounds per image (in each round "
             + ("Gupta's saveHHA under GNU Octave "
                f"{octave['octave']} on every image, then data.hha); seconds of the call, and CPU seconds. "
                if octave else "data.hha on every image); seconds of the call, and CPU seconds. ")
             + f"The kit's peak allocation in one call: {record['kit_peak_mib']:.0f} MiB.", ""]
    if octave:
        lines += ["| image | holes | kit s | kit CPU s | Octave s | Octave CPU s | x Octave | equal pixels (worst "
                  "channel) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['image']} | {r['holes']:.1%} | {r['kit_s']:.3f} | {r['kit_cpu_s']:.3f} | {r['octave_s']:.3f} "
                  f"| {r['octave_cpu_s']:.3f} | **{r['octave_s'] / r['kit_s']:.1f}** | {min(r['equal']):.4%} |"
                  for r in record["rows"]]
        lines += ["", f"Median: data.hha {record['median_kit_s']:.3f} s, Octave {record['median_octave_s']:.3f} s, "
                      f"**{record['speedup']:.1f}x** ({record['speedup_cpu']:.1f}x in CPU seconds)."]
    else:
        lines += ["| image | holes | kit s | kit CPU s |", "|---|---:|---:|---:|"]
        lines += [f"| {r['image']} | {r['holes']:.1%} | {r['kit_s']:.3f} | {r['kit_cpu_s']:.3f} |"
                  for r in record["rows"]]
    return "\n".join(lines)


def port_audit(record: dict) -> str:
    sizes = ", ".join(f"{s['size']} {s['seconds']:.1f} s" for s in record["sizes"])
    return "\n".join([
        _where(record), "",
        "| port | net | verdict | sizes | audit seconds (mapping to verdict) | of which per size | CPU seconds "
        "(all threads) | nets built in | process peak RSS |", "|---|---|---|---:|---:|---|---:|---:|---:|",
        f"| {record['port']} | {record['net']} | {record['verdict']} | {len(record['sizes'])} | "
        f"{record['seconds']:.1f} | {sizes} | {record['cpu_seconds']:.1f} | {record['build_seconds']:.1f} s | "
        f"{record['peak_rss_mib']:.0f} MiB |"])


def retrain_steps(record: dict) -> str:
    from reproduce.retrain import duration

    lines = [_where(record), "",
             f"One training step (forward, backward, update) of each stage's net on {record['device']}, seeded "
             f"weights, at a typical picture of its dataset: one warm-up step, then the median of {record['steps']}; "
             "a forward alone is what evaluation costs per image.", "",
             "| net | picture | s per training image | s per forward |", "|---|---|---:|---:|"]
    lines += [f"| {net} | {t['size'][1]}x{t['size'][0]} | {t['train_s_per_image']:.2f} | {t['forward_s']:.2f} |"
              for net, t in record["nets"].items()]
    lines += ["", "At that pace, the reference's iterations (evaluation not included):", "",
              "| table | stages (iterations x images per update) | one device, chains in turn | a device per chain |",
              "|---|---|---:|---:|"]
    for number, t in record["tables"].items():
        stages = ", ".join(f"{s['net']} ({s['iterations']:,} x {s['iter_size']})" for s in t["stages"])
        lines.append(f"| {number} | {stages} | {duration(t['one_device_seconds'])} | "
                     f"{duration(t['device_per_chain_seconds'])} ({len(t['chains'])} chain(s)) |")
    return "\n".join(lines)


RENDER: dict[str, Callable[[dict], str]] = {"inference": inference, "inference-steps": inference_steps,
                                            "loader": loader, "conversion": conversion, "tiled": tiled, "hha": hha,
                                            "nyud-build": nyud_build, "port-audit": port_audit,
                                            "retrain-steps": retrain_steps}


def render(path: Path) -> str:
    """The Markdown of one record file; a file that is not a benchmark record gets one clear error."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"benchmarks.report: no record at {path}: make bench writes them to results/") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"benchmarks.report: {path} is not a JSON benchmark record ({e})") from None
    kind = record.get("benchmark") if isinstance(record, dict) else None
    if kind not in RENDER:
        raise SystemExit(f"benchmarks.report: {path} is not a benchmark record: expected a 'benchmark' field, one of "
                         f"{', '.join(RENDER)}, found {kind!r}")
    return RENDER[kind](record)


def regenerate(text: str, root: Path = ROOT) -> str:
    """``text`` with every generated block rendered anew from the record it names."""
    out, pos = [], 0
    for m in BEGIN.finditer(text):
        end = text.find(END, m.end())
        if end < 0:
            raise SystemExit(f"benchmarks.report: the block for {m['path']} has no '{END}' line after it")
        out += [text[pos:m.end()], render(root / m["path"]), "\n"]
        pos = end
    return "".join(out) + text[pos:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="records, or docs with --update/--check")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--update", action="store_true", help="rewrite the generated blocks of each Markdown FILE")
    group.add_argument("--check", action="store_true", help="exit 1 if a generated block differs from its record")
    args = parser.parse_args(argv)
    if not (args.update or args.check):
        print("\n\n".join(render(p) for p in args.files))
        return 0
    from data.files import write_text

    stale = []
    for doc in args.files:
        text = doc.read_text(encoding="utf-8")
        if not BEGIN.search(text):
            raise SystemExit(f"benchmarks.report: {doc} has no generated block (<!-- benchmarks.report: RECORD -->)")
        new = regenerate(text)
        if new != text:
            stale.append(doc)
            if args.update:
                write_text(doc, new)
    if args.check and stale:
        print("benchmarks.report: out of date with their records: " + ", ".join(map(str, stale))
              + "; run make bench-docs", file=sys.stderr)
        return 1
    print(("updated " if args.update else "up to date: ") + (", ".join(map(str, stale if args.update else args.files))
                                                           or "nothing to change"))
    return 0


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
