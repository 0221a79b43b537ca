"""How long the port audit takes on a VGG16 port: torchfcn 1.9.7's FCN8s against voc-fcn8s at the default sizes.

``.venv/bin/python -m benchmarks.port_audit`` (part of ``make bench``) times ``reproduce.audit.port.audit_port``
from the mapping to the verdict (the weights mapped into the port, both nets at 500x500, 375x500 and
507x507, every blob compared), each size on its own, the CPU time it used (all threads) and the process's
peak memory. Building the two nets is timed apart: it is the same for every audit. Writes
results/bench-port-audit.json (or --json), which ``.venv/bin/python -m benchmarks.report`` renders as Markdown.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import nets
from nets.seeded import seeded_weights
from reproduce.audit.port import audit_port
from reproduce.audit.port_localise import size_text

from . import records
from .torchfcn_import import torchfcn_model


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m benchmarks.port_audit",
                                     description=__doc__.split("\n")[0])
    records.add_json_option(parser, "bench-port-audit.json")
    args = parser.parse_args(argv)
    path = records.output(args, "bench-port-audit.json", "benchmarks.port_audit")
    record = {"benchmark": "port-audit", "machine": records.machine(), "port": "torchfcn 1.9.7 FCN8s",
              "net": "voc-fcn8s"}
    start = time.perf_counter()
    net = seeded_weights(nets.build("voc-fcn8s"), 0)
    port = torchfcn_model("voc-fcn8s")
    record["build_seconds"] = time.perf_counter() - start
    print(f"port audit of torchfcn's FCN8s against voc-fcn8s, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; the two nets built in {record['build_seconds']:.1f} s")
    cpu = _cpu_seconds()
    audit = audit_port(port, net, name="torchfcn FCN8s")
    # The CPU time the audit used, all threads together: on a shared machine the wall time grows with the load,
    # this much less; over the thread count it is what a quiet machine's wall time would be.
    record |= {"verdict": audit.verdict, "seconds": audit.seconds, "cpu_seconds": _cpu_seconds() - cpu,
               "sizes": [{"size": size_text(r.size), "seconds": r.seconds} for r in audit.runs],
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"  {audit.verdict} at {len(audit.runs)} sizes in {audit.seconds:.1f} s ("
          + ", ".join(f"{s['size']} {s['seconds']:.1f} s" for s in record["sizes"])
          + f"); {record['cpu_seconds']:.1f} s of CPU time; peak RSS {record['peak_rss_mib']:.0f} MiB")
    records.write(record, path, argv, "benchmarks.port_audit")


if __name__ == "__main__":
    from data.cli import run

    raise SystemExit(run(main))
