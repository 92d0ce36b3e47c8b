"""The benchmark's outputs: Markdown table, PNG chart (matplotlib, optional) and the validation results they join.

Split from runtime/bench.py (the measuring) so that each reads at once; `bench.json` is the raw record.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from runtime.bench import REFERENCE_FRAME, STAGES


def reference_frame(bench: dict) -> str:
    frames = bench["settings"]["frames"]
    return REFERENCE_FRAME if REFERENCE_FRAME in frames else frames[0]


def _ms(fig: dict | None) -> str:
    return "" if not fig else f"{fig['median']:.2f} ({fig['p90']:.2f})"


def markdown(bench: dict) -> str:
    env, s = bench["environment"], bench["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = [f"Latency, ms, median (p90) of {s['reps']} repetitions after {s['warmup']} warm-up, "
             f"{env['date']}, {env['cpu']}, {env['cores']} logical / {env['physical_cores']} physical cores; "
             f"each step after an idle gap of {s['gap_ms']:g} ms and until the process's threads are quiet, "
             f"steps interleaved and rotated; {versions}.", "",
             "| model | engine | precision | threads | frame | bare engine | pre | infer | post | predict | FPS | "
             "ultralytics predict | speed-up vs ultralytics | ours at its engine settings | speed-up there | "
             "peak RSS MB |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in bench["results"]:
        for size, f in r["frames"].items():
            ul, at = f.get("ultralytics"), f.get("at_reference_settings")
            speedup = f"{f['speedup_vs_ultralytics']['paired_median']:.2f}x" if ul else ""
            matched = (_ms(at["predict"]), f"{at['speedup_vs_ultralytics']['paired_median']:.2f}x") if at else ("", "")
            lines.append(f"| {r['model']} | {r['engine']} | {r['precision']} | {r['threads']} | {size} | "
                         f"{_ms(r['bare'])} | {f['preprocess']['median']:.2f} | {f['inference']['median']:.2f} | "
                         f"{f['postprocess']['median']:.2f} | {_ms(f['predict'])} | {f['fps']:.1f} | "
                         f"{_ms(ul['predict'] if ul else None)} | {speedup} | {matched[0]} | {matched[1]} | "
                         f"{r['memory']['peak_rss_mb']:.0f} |")
    matched_options = {r["engine"]: f["at_reference_settings"]["options"] for r in bench["results"]
                       for f in r["frames"].values() if f.get("at_reference_settings")}
    notes = [f"{x['model']} on {x['engine']}: {x['why']}" for x in bench.get("skipped", [])]
    notes += [f"{r['model']} [{r['engine']}]: no ultralytics comparison ({r['ultralytics']})"
              for r in bench["results"] if isinstance(r["ultralytics"], str) and r["ultralytics"] != "not asked"]
    lines += ["", "Speed-up vs ultralytics: median of per-repetition ratios (its predict / ours), measured "
                  "alternately in the same run. Peak RSS is the process peak so far (grows across blocks; includes "
                  "torch when ultralytics is compared)."]
    if matched_options:
        lines += ["", "Ours at its engine settings: a second Detector given the engine configuration ultralytics "
                      "uses (" + "; ".join(f"{e}: {o}" for e, o in matched_options.items()) + "), so that the "
                      "ratio isolates the runtime's own work from engine defaults."]
    lines += [""] + [f"- {n}" for n in notes] if notes else []
    return "\n".join(lines) + "\n"


def _pyplot():
    os.environ.setdefault("MPLCONFIGDIR", str(Path(__file__).resolve().parents[1] / "build" / "mpl"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_of(r: dict) -> str:
    stem = r["model"].split("-shapes")[0] if "-shapes" in r["model"] else Path(r["model"]).stem
    return f"{stem}\n{r['engine']}\n{r['precision']} {r['imgsz']}px\n{r['threads']} thr"


def plot(bench: dict, out: Path, validation: dict[str, dict] | None = None, title: str = "") -> Path | None:
    """Stacked pre/infer/post bars per engine x precision, and accuracy vs latency (marker size = file size)."""
    try:
        plt = _pyplot()
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return None
    size = reference_frame(bench)
    rows = [r for r in bench["results"] if size in r["frames"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, 2.2 * len(rows) + 5), 5.5))
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for stage, color in zip(STAGES, ("#8da0cb", "#fc8d62", "#66c2a5")):
        values = np.array([r["frames"][size][stage]["median"] for r in rows])
        left.bar(x, values, bottom=bottom, label=stage, color=color)
        bottom += values
    for xi, r in zip(x, rows):
        left.errorbar(xi, r["frames"][size]["predict"]["median"],
                      yerr=[[0], [r["frames"][size]["predict"]["p90"] - r["frames"][size]["predict"]["median"]]],
                      color="k", capsize=3)
    left.set_xticks(x, [label_of(r) for r in rows], fontsize=8)
    left.set_ylabel(f"ms per {size} frame (median, whisker to p90)")
    left.set_title("Detector.predict latency by engine x precision")
    left.legend()
    points = [(r, validation[r["model"]]) for r in rows if validation and r["model"] in validation]
    if points:
        for r, v in points:
            s = 40 + 25 * float(v.get("size_mb") or r["size_mb"])
            right.scatter(r["frames"][size]["predict"]["median"], v["map50_95"], s=s, alpha=0.6)
            right.annotate(label_of(r).replace("\n", " "), (r["frames"][size]["predict"]["median"],
                           v["map50_95"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        right.set_xlabel(f"predict latency, ms ({size}, median)")
        right.set_ylabel("mAP50-95")
        right.set_title("accuracy vs latency (marker area ~ size on disk)")
        right.grid(alpha=0.3)
    else:
        right.text(0.5, 0.5, "no validation results for these models", ha="center", va="center")
        right.set_axis_off()
    env = bench["environment"]
    fig.suptitle(title or f"{env['cpu']}, {env['cores']} cores, {env['date']}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def load_validation(path: Path | None) -> dict[str, dict]:
    """models/report.json rows keyed by artifact file name ({} when absent)."""
    if path is None or not Path(path).exists():
        return {}
    data = json.loads(Path(path).read_text())
    return {row["artifact"]: row for row in data.get("rows", [])}


def write_outputs(bench: dict, out: Path, validation: dict[str, dict] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "md": out / "bench.md"}
    paths["json"].write_text(json.dumps(bench, indent=1))
    paths["md"].write_text(markdown(bench))
    png = plot(bench, out / "bench.png", validation)
    if png is not None:
        paths["png"] = png
    return paths
