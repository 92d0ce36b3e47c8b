"""The accuracy-latency front: which model to deploy at a latency budget, per engine (issue: pruning and
distillation).

    python -m benchmarks.front build/front --out benchmarks/results/front

Reads FOLDER/<candidate>[-seed<N>]/report.json, yolo-edge-optimize runs scored on one split: each candidate's
mAP50-95 per engine and precision is the mean of its seeds (each seed listed). Latency is measured again here, one
file per candidate, engine and precision, all in one alternated loop per thread count (predict at the model's size
on a 1280x720 frame; each run timed only its own files). Writes OUT.json, OUT.md and OUT.png (a panel per engine and
thread count), and per engine the candidates that are both faster and more accurate than each baseline.
`--redraw` rewrites OUT.md and OUT.png from OUT.json without timing anything.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from models.optimize_report import FRAME, labelled_latencies, thread_counts
from runtime.bench import cpu_label, environment

SEED = re.compile(r"-seed(\d+)$")
BASELINES = ("yolov8n-288", "yolov8n-256")  # the same weights exported smaller: the cheapest lighter models
TIE = 0.03  # latencies this close are one speed: medians of one alternated loop still move ~3% between runs


def load(folder: Path) -> dict[str, dict]:
    """{candidate: {"seeds": {name: report}}} from FOLDER/*/report.json."""
    candidates: dict[str, dict] = {}
    for path in sorted(folder.glob("*/report.json")):
        run = path.parent.name
        candidates.setdefault(SEED.sub("", run), {"seeds": {}})["seeds"][run] = json.loads(path.read_text())
    if not candidates:
        raise SystemExit(f"{folder}: no <run>/report.json")
    return candidates


def points(folder: Path, candidates: dict[str, dict]) -> list[dict]:
    """One point per candidate, engine and precision: mean mAP50-95 over its seeds and the first seed's file."""
    out = []
    for name, candidate in candidates.items():
        reports = candidate["seeds"]
        first = next(iter(reports))
        for row in reports[first]["rows"]:
            precision = "int8" if row["drop"] is not None else "fp32"
            seeds = {run: next(r["map50_95"] for r in rep["rows"] if r["engine"] == row["engine"]
                               and (r["drop"] is not None) == (precision == "int8")) for run, rep in reports.items()}
            out.append({"candidate": name, "engine": row["engine"], "precision": precision,
                        "file": str(folder / first / row["file"]), "imgsz": reports[first]["imgsz"],
                        "pruning": reports[first].get("pruning"), "remedy": row.get("remedy"),
                        "map50_95_seeds": seeds,
                        "map50_95": round(statistics.mean(seeds.values()), 4)})
    return out


def seed_label(run: str) -> str:
    found = SEED.search(run)
    return f"seed {found.group(1)}: " if found else ""


def verdicts(rows: list[dict]) -> list[str]:
    """Per engine and thread count: the candidates more accurate than each baseline's int8 file and faster than it,
    or as fast (within TIE)."""
    lines = []
    for engine in dict.fromkeys(r["engine"] for r in rows):
        for threads in map(str, thread_counts()):
            mine = [r for r in rows if r["engine"] == engine]
            for base_name in BASELINES:
                base = next((r for r in mine if r["candidate"] == base_name and r["precision"] == "int8"), None)
                if base is None:
                    continue
                ms = base["latency_ms"][threads]["predict"]
                rivals = [r for r in mine if r["candidate"] not in (base_name, *BASELINES)
                          and r["map50_95"] > base["map50_95"]]
                faster = [r for r in rivals if r["latency_ms"][threads]["predict"] < ms * (1 - TIE)]
                level = [r for r in rivals if r not in faster and r["latency_ms"][threads]["predict"] <= ms * (1 + TIE)]
                lines.append(f"- {engine}, {threads} thread(s), against {base_name} int8 ({base['map50_95']:.3f}, "
                             f"{ms:.1f} ms): faster and more accurate: {listed(faster, threads)}; as fast (within "
                             f"{TIE:.0%}) and more accurate: {listed(level, threads)}")
    return lines


def listed(rows: list[dict], threads: str) -> str:
    return ", ".join(f"{r['candidate']} {r['precision']} ({r['map50_95']:.3f}, "
                     f"{r['latency_ms'][threads]['predict']:.1f} ms)" for r in rows) or "none"


def markdown(report: dict) -> str:
    env, threads = report["environment"], thread_counts()
    lines = [f"# Accuracy against latency ({report['split']} split, {report['images']} images)", "",
             f"Measured {env['date']} on {cpu_label(env)}, {env['cores']} cores; "
             + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ". Latency: median ms of Detector.predict "
             f"on a {FRAME} frame, every file in one alternated loop ({report['reps']} runs). mAP50-95: mean of the "
             "seeds (each in brackets).", "",
             "| candidate | engine | precision | imgsz | mAP50-95 (seeds) | "
             + " | ".join(f"ms, {t} thread{'s' * (t > 1)}" for t in threads) + " |",
             "|---|---|---|---:|---:|" + "---:|" * len(threads)]
    for r in sorted(report["rows"], key=lambda r: (r["engine"], r["precision"], -r["map50_95"])):
        seeds = " / ".join(f"{seed_label(run)}{v:.3f}" for run, v in r["map50_95_seeds"].items())
        # the timed file (the first seed's) may carry the accuracy guard's remedy: float layers, slower than int8
        precision = r["precision"] + (f" ({r['remedy']})" if r.get("remedy") else "")
        lines.append(f"| {r['candidate']} | {r['engine']} | {precision} | {r['imgsz']} | {r['map50_95']:.3f} "
                     f"({seeds}) | " + " | ".join(f"{r['latency_ms'][str(t)]['predict']:.1f}" for t in threads) + " |")
    return "\n".join(lines + ["", *report["verdicts"]]) + "\n"


def plot(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401
    from matplotlib.lines import Line2D

    rows, threads = report["rows"], thread_counts()
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20").colors
    colours = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    fig, axes = plt.subplots(len(threads), len(engines), figsize=(12, 4 * len(threads)), squeeze=False)
    for i, t in enumerate(threads):
        for j, engine in enumerate(engines):
            ax = axes[i][j]
            for r in (r for r in rows if r["engine"] == engine):
                colour = colours[r["candidate"]]
                # hollow: the timed int8 file kept float layers (the accuracy guard's remedy), so it is slower
                ax.scatter(r["latency_ms"][str(t)]["predict"], r["map50_95"], edgecolors=colour,
                           facecolors="none" if r.get("remedy") else colour,
                           marker="o" if r["precision"] == "int8" else "s", s=36)
            ax.set_title(f"{engine}, {t} thread{'s' * (t > 1)}", fontsize=10)
            ax.set_xlabel(f"predict ms ({FRAME} frame)")
            ax.set_ylabel("mAP50-95")
            ax.grid(alpha=0.3)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3f"))
    # one filled entry per candidate and precision, whatever a panel's file did
    keys = list(dict.fromkeys((r["candidate"], r["precision"]) for r in rows))
    handles = [Line2D([], [], linestyle="none", marker="o" if precision == "int8" else "s", color=colours[name])
               for name, precision in keys]
    labels = [f"{name} {precision}" for name, precision in keys]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    env = report["environment"]
    fig.suptitle(f"circles int8 (hollow: some layers kept float), squares fp32 — {cpu_label(env)}, "
                 f"{env['cores']} cores, {env['date'][:10]}", fontsize=9)
    legend_rows = -(-len(labels) // 4)
    fig.tight_layout(rect=(0, (0.25 + 0.13 * legend_rows) / fig.get_figheight(), 1, 0.97))  # room for the legend
    fig.savefig(out, dpi=75)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, nargs="?", help="the runs to time (not with --redraw)")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json, OUT.md and OUT.png")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--redraw", action="store_true", help="only rewrite OUT.md and OUT.png from OUT.json (no timing)")
    args = ap.parse_args(argv)
    if args.redraw:
        record = args.out.with_suffix(".json")
        if not record.is_file():
            raise SystemExit(f"--redraw: no {record}")
        report = json.loads(record.read_text())
        report["verdicts"] = verdicts(report["rows"])
        write(report, args.out)
        return 0
    if args.folder is None:
        ap.error("FOLDER is needed unless --redraw")
    candidates = load(args.folder)
    rows = points(args.folder, candidates)
    files = {f"{r['candidate']} {r['engine']} {r['precision']}": Path(r["file"]) for r in rows}
    measured = labelled_latencies(files, args.reps, args.warmup)
    for r in rows:
        r["latency_ms"] = measured[f"{r['candidate']} {r['engine']} {r['precision']}"]
    first = next(iter(next(iter(candidates.values()))["seeds"].values()))
    report = {"split": first["split"], "images": first["scoring_images"], "reps": args.reps,
              "environment": environment(sorted({r["engine"] for r in rows})), "rows": rows}
    report["verdicts"] = verdicts(rows)
    write(report, args.out)
    return 0


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    plot(report, out.with_suffix(".png"))
    print(markdown(report))


if __name__ == "__main__":
    raise SystemExit(main())
