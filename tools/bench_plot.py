#!/usr/bin/env python3
"""Draws `make bench`'s ratios per depth as an SVG, from the rows benches/run.sh appends to
build/bench.csv (run,metric,variant,k,repeat,value; see benches/bench.c and py_bench.py).

Usage: bench_plot.py CSV OUT.svg [RUN]

RUN is a run label (the CSV's first column, "date/commit"); by default the last run in the
file. Each panel is one reference: every libaopen variant's median over the run's repeats,
divided by the reference's median at the same depth K (synchronous calls have no depth: the
one-thread loop is the reference at every K). libuv and io_uring panels are drawn only where
the run has their rows. A panel of issue 30's targets draws, per workload (open+close, a 4 KiB
pread, stat by path), libaopen default x io_uring and pool only x libuv. Needs matplotlib (benches/run.sh installs it into a venv in build/).
"""

import csv
import statistics
import sys
from collections import defaultdict

SYNC = "sync, 1 thread"
KS = ["1", "16", "256"]


def read_rows(path):
    """Rows as (run, metric, variant, k, repeat, value). bench.c writes variant names with
    commas in them ("epoll, NO_INLINE") unquoted, so the variant is everything between the
    second field and the last three."""
    rows = []
    with open(path, newline="") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split(",")
            if n == 0 and parts[0] == "run" or len(parts) < 6:
                continue
            try:
                value = float(parts[-1])
            except ValueError:
                continue
            rows.append((parts[0], parts[1], ",".join(parts[2:-3]), parts[-3], parts[-2], value))
    return rows


def medians(rows, run, metric):
    """{(variant, k, repeat-or-column): median} of one metric of one run. The pairs rows
    carry a repeat number (folded); the file-call rows carry which implementation they
    measured in that column (kept)."""
    vals = defaultdict(list)
    for r, m, variant, k, rep, v in rows:
        if r == run and m == metric:
            col = "" if rep.isdigit() else rep
            vals[(variant, k, col)].append(v)
    return {key: statistics.median(v) for key, v in vals.items()}


def pairs_panels(med):
    """Open+close pairs: per reference, {variant: [ratio per K]}."""
    variants = []
    for (variant, k, _), _v in med.items():
        if k in KS and variant not in variants:
            variants.append(variant)
    sync = med.get((SYNC, "-", ""))
    refs = []
    if sync:
        refs.append(("synchronous open+close, 1 thread", None, lambda k: sync))
    for name in ("libuv", "io_uring"):
        ref = next((v for v in variants if name in v), None)
        if ref:
            refs.append((ref, ref, lambda k, ref=ref: med.get((ref, k, ""))))
    panels = []
    for title, ref, ref_at in refs:
        series = {}
        for v in variants:
            if v == ref:
                continue
            ratios = []
            for k in KS:
                a, b = med.get((v, k, "")), ref_at(k)
                ratios.append(a / b if a and b else None)
            if any(r is not None for r in ratios):
                series[v] = ratios
        panels.append((f"open+close pairs of a cached file, x {title}", series))
    return panels


def file_call_panels(med):
    """File calls (pread 4 KiB / 1 MiB, stat, readlink): libaopen against each column."""
    calls = []
    for (call, k, col) in med:
        if col == "libaopen" and call not in calls:
            calls.append(call)
    panels = []
    for ref in ("sync", "libuv", "io_uring"):
        series = {}
        for call in calls:
            ratios = []
            for k in KS:
                a, b = med.get((call, k, "libaopen")), med.get((call, k, ref))
                ratios.append(a / b if a and b else None)
            if any(r is not None for r in ratios):
                series[call] = ratios
        if series:
            name = "synchronous calls" if ref == "sync" else ref
            panels.append((f"file calls on a cached file, libaopen x {name}", series))
    return panels


# Issue 30's targets (bench.c's target tables): per workload, the ratio each target names.
TARGET_WORKLOADS = [("openclose", "open+close"), ("read4k", "4 KiB pread"), ("stat", "stat by path")]
TARGET_RATIOS = [("aopen_default", "io_uring", 0.9), ("aopen_pool", "libuv", 1.25)]


def targets_panel(rows, run):
    """Issue 30's targets: per workload, libaopen default x io_uring and pool-only x libuv."""
    series = {}
    for metric, label in TARGET_WORKLOADS:
        med = medians(rows, run, f"{metric}_ops_per_s")
        for variant, ref, want in TARGET_RATIOS:
            ratios = []
            for k in KS:
                a, b = med.get((variant, k, "")), med.get((ref, k, ""))
                ratios.append(a / b if a and b else None)
            if any(r is not None for r in ratios):
                series[f"{label}: {variant} x {ref} (target {want:g}x)"] = ratios
    if not series:
        return None
    return ("issue 30's targets: libaopen default x io_uring, pool only x libuv", ["K=" + k for k in KS], series)


def python_panel(rows, run):
    """Python asyncio rows (one depth each): every variant x the built-in."""
    series = {}
    labels = {"py_files_per_s": "open+close", "py_stats_per_s": "os.stat",
              "py_reads_per_s_64k": "read 64 KiB", "py_reads_per_s_4k": "read 4 KiB"}
    metrics = [m for m in labels if any(r[0] == run and r[1] == m for r in rows)]
    if not metrics:
        return None
    names = []
    for m in metrics:
        med = medians(rows, run, m)
        base = next((v for (name, _k, _c), v in med.items() if name == "builtin open"), None)
        for (name, _k, _c), v in med.items():
            if name == "builtin open" or not base:
                continue
            if name not in names:
                names.append(name)
            series.setdefault(name, {})[labels[m]] = v / base
    groups = [labels[m] for m in metrics]
    return ("Python asyncio, 64 (reads: 16) in flight, x the built-in on the loop", groups,
            {n: [series[n].get(g) for g in groups] for n in names})


def draw(panels, out, run):
    import matplotlib

    matplotlib.use("agg")
    matplotlib.rcParams["svg.hashsalt"] = "libaopen-bench"  # stable ids across runs
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for ax, (title, groups, series) in zip(axes[:, 0], panels):
        n = max(len(series), 1)
        width = 0.8 / n
        cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
        for i, (name, ratios) in enumerate(series.items()):
            xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
            ys = [r if r is not None else 0 for r in ratios]
            ax.bar(xs, ys, width, label=name, color=cmap(i % cmap.N))
            for x, r in zip(xs, ratios):
                if r:
                    ax.text(x, r, f" {r:.2f}", rotation=90, ha="center", va="bottom", fontsize=6)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups)
        ax.set_ylabel("ratio (log scale; 1 = as fast)")
        ax.set_title(title, fontsize=10)
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(
            [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100]))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}x"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        top = max((r for rs in series.values() for r in rs if r), default=1)
        low = min((r for rs in series.values() for r in rs if r), default=1)
        ax.set_ylim(min(low, 1) / 1.6, max(top, 1) * 2.2)  # room for the labels
        ax.grid(axis="y", which="major", linewidth=0.3)
        ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"make bench, run {run}: medians of 5 alternating runs", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    if out.endswith(".png"):  # for a look at it
        fig.savefig(out, dpi=70)
    else:
        fig.savefig(out, format="svg", metadata={"Date": None})


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    rows = read_rows(argv[1])
    runs = [r[0] for r in rows]
    if not runs:
        sys.stderr.write(f"bench_plot: no rows in {argv[1]}\n")
        return 1
    run = argv[3] if len(argv) > 3 else runs[-1]
    panels = []
    for title, series in pairs_panels(medians(rows, run, "pairs_per_s")):
        panels.append((title, ["K=" + k for k in KS], series))
    for title, series in file_call_panels(medians(rows, run, "calls_per_s")):
        panels.append((title, ["K=" + k for k in KS], series))
    targets = targets_panel(rows, run)
    if targets:
        panels.append(targets)
    py = python_panel(rows, run)
    if py:
        panels.append(py)
    if not panels:
        sys.stderr.write(f"bench_plot: run {run} has no rows to plot\n")
        return 1
    draw(panels, argv[2], run)
    print(f"bench_plot: {argv[2]} ({len(panels)} panels, run {run})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
