"""The latency benchmark's outputs: bench.md / bench.png from bench.json, and its join with the factory's
validation results (report.json / report.md / report.png). Charts are 900 px wide: the README's width."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.settings import init_ultralytics
from runtime.bench import STAGES, cpu_label
from runtime.engines import ENGINE_NAMES

REFERENCE_FRAME = "1280x720"  # the frame size the report uses when it was measured
WIDTH_IN, DPI = 9.0, 100  # 900 px
STAGE_COLOURS = ("#8da0cb", "#fc8d62", "#66c2a5")


def reference_frame(bench: dict) -> str:
    frames = bench["settings"]["frames"]
    return REFERENCE_FRAME if REFERENCE_FRAME in frames else frames[0]


def _ms(fig: dict | None) -> str:
    return "" if not fig else f"{fig['median']:.2f} ({fig['p90']:.2f})"


def bench_markdown(bench: dict) -> str:
    env, s = bench["environment"], bench["settings"]
    compared = s.get("reference", False)
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    head = ["model", "engine", "precision", "threads", "frame", "bare engine", "pre", "infer", "post", "predict",
            "FPS", "peak RSS MB"] + (["ultralytics predict", "speed-up vs ultralytics", "ours at its engine settings",
                                      "speed-up there"] if compared else [])
    lines = [f"Latency, ms, median (p90) of {s['reps']} repetitions after {s['warmup']} warm-up, "
             f"{env['date']}, {cpu_label(env)}, {env['cores']} logical / {env['physical_cores']} physical cores; "
             f"each step after an idle gap of {s['gap_ms']:g} ms and until the process's threads are quiet, "
             f"steps interleaved and rotated; {versions}.", "",
             "| " + " | ".join(head) + " |", "|---|---|---|---:|---|" + "---:|" * (len(head) - 5)]
    for r in bench["results"]:
        for size, f in r["frames"].items():
            cells = [r["model"], r["engine"], r["precision"], r["threads"], size, _ms(r["bare"]),
                     f"{f['preprocess']['median']:.2f}", f"{f['inference']['median']:.2f}",
                     f"{f['postprocess']['median']:.2f}", _ms(f["predict"]), f"{f['fps']:.1f}",
                     f"{r['memory']['peak_rss_mb']:.0f}"]
            if compared:
                ul, at = f.get("ultralytics"), f.get("at_reference_settings")
                cells += [_ms(ul["predict"]) if ul else "",
                          f"{f['speedup_vs_ultralytics']['paired_median']:.2f}x" if ul else "",
                          _ms(at["predict"]) if at else "",
                          f"{at['speedup_vs_ultralytics']['paired_median']:.2f}x" if at else ""]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [f"{x['model']} on {x['engine']}: {x['why']}" for x in bench.get("skipped", [])]
    if compared:
        notes += [f"{r['model']} [{r['engine']}]: no ultralytics comparison ({r['ultralytics']})"
                  for r in bench["results"] if isinstance(r.get("ultralytics"), str)]
        options = {r["engine"]: f["at_reference_settings"]["options"] for r in bench["results"]
                   for f in r["frames"].values() if f.get("at_reference_settings")}
        lines += ["", "Speed-up vs ultralytics: median of per-repetition ratios (its predict / ours), measured "
                      "alternately in the same run. Ours at its engine settings: a second Detector given the engine "
                      "configuration ultralytics uses (" + "; ".join(f"{e}: {o}" for e, o in options.items()) +
                      "). Peak RSS is the process peak so far (grows across blocks; includes torch)."]
    return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def model_stem(r: dict) -> str:
    return r["model"].split("-shapes")[0] if "-shapes" in r["model"] else Path(r["model"]).stem


def short_label(r: dict) -> str:
    return f"{model_stem(r)} {r['imgsz']} {r['precision']}, {r['engine']}, {r['threads']} thr"


def fastest_per_stem(rows: list[dict]) -> dict[str, dict]:
    fastest = {}
    for r in sorted((r for r in rows if r["map50_95"] is not None), key=lambda r: -r["latency_ms"]["median"]):
        fastest[model_stem(r)] = r
    return fastest


def plot_bench(bench: dict, out: Path) -> Path:
    """Horizontal stacked bars (pre / infer / post) per model x engine x threads, one panel per frame size."""
    plt = pyplot()
    sizes, rows = bench["settings"]["frames"], bench["results"]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(len(sizes), 1, figsize=(WIDTH_IN, 1.0 + len(sizes) * (0.7 + 0.3 * len(rows))),
                             sharex=True, squeeze=False, layout="constrained")
    for ax, size in zip(axes[:, 0], sizes):
        frames = [r["frames"][size] for r in rows]
        left = np.zeros(len(rows))
        for stage, colour in zip(STAGES, STAGE_COLOURS):
            values = np.array([f[stage]["median"] for f in frames])
            ax.barh(y, values, left=left, height=0.7, color=colour, label=stage)
            left += values
        median = np.array([f["predict"]["median"] for f in frames])
        p90 = np.array([f["predict"]["p90"] for f in frames])
        ax.errorbar(median, y, xerr=[np.zeros_like(median), p90 - median], fmt="none", ecolor="k", capsize=2, lw=1)
        theirs = [(i, f["ultralytics"]["predict"]["median"]) for i, f in enumerate(frames) if f.get("ultralytics")]
        if theirs:
            ax.scatter([t for _, t in theirs], [i for i, _ in theirs], marker="D", s=18, color="k", zorder=3,
                       label="ultralytics predict")
        for i, (m, p) in enumerate(zip(median, p90)):
            ax.annotate(f"{m:.1f}", (max([p, *(t for j, t in theirs if j == i)]), i), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=8)
        ax.set_yticks(y, [short_label(r) for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"Detector.predict on a {size} frame, ms: median (whisker to p90)", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("ms per frame")
    axes[-1, 0].set_xlim(right=axes[-1, 0].get_xlim()[1] * 1.08)  # room for the value labels
    env = bench["environment"]
    fig.suptitle(f"{cpu_label(env)}, {env['cores']} cores, {env['date'][:10]}", fontsize=9)
    return _save(fig, plt, out)


def _save(fig, plt, out: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def write_bench(bench: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(bench, indent=1))
    (out / "bench.md").write_text(bench_markdown(bench))
    return [out / "bench.json", out / "bench.md", plot_bench(bench, out / "bench.png")]


def load_validation(path: Path | None) -> dict[str, dict]:
    """The factory's report rows keyed by artifact file name ({} when the file is absent)."""
    if path is None or not Path(path).exists():
        return {}
    return {row["artifact"]: row for row in json.loads(Path(path).read_text()).get("rows", [])}


def count_params(model_path: Path, cache: dict) -> int | None:
    """Parameters of the .pt the artifact was exported from (longest stem that prefixes its name), via ultralytics."""
    candidates = sorted((p for p in model_path.parent.glob("*.pt") if model_path.name.startswith(p.stem)),
                        key=lambda p: len(p.stem), reverse=True)
    if not candidates:
        return None
    pt = candidates[0]
    if pt not in cache:
        try:
            cache[pt] = int(sum(p.numel() for p in init_ultralytics().YOLO(str(pt)).model.parameters()))
        except Exception:  # noqa: BLE001 - ultralytics/torch missing or the file unreadable: leave it blank
            cache[pt] = None
    return cache[pt]


def join(bench: dict, validation: dict[str, dict]) -> dict:
    """One row per benchmarked model x engine x threads with its validation scores and the speed-up vs fp32 ONNX."""
    size = reference_frame(bench)
    params_cache: dict = {}
    rows = []
    for r in bench["results"]:
        v = validation.get(r["model"], {})
        f = r["frames"].get(size) or next(iter(r["frames"].values()))
        params = v.get("params")
        if params is None:
            params = count_params(Path(r["path"]), params_cache)
        rows.append({"model": r["model"], "engine": r["engine"], "precision": r["precision"], "imgsz": r["imgsz"],
                     "threads": r["threads"], "params": params, "size_mb": v.get("size_mb", r["size_mb"]),
                     "map50_95": v.get("map50_95"), "map50": v.get("map50"),
                     "latency_ms": {"median": f["predict"]["median"], "p90": f["predict"]["p90"]},
                     "bare_ms": {"median": r["bare"]["median"], "p90": r["bare"]["p90"]}, "fps": f["fps"]})
    for row in rows:  # baseline: the fp32 ONNX Runtime .onnx at the same input size and thread count
        base = next((b for b in rows if b["engine"] == "onnxruntime" and b["precision"] == "fp32"
                     and b["model"].endswith(".onnx") and b["imgsz"] == row["imgsz"]
                     and b["threads"] == row["threads"]), None)
        row["baseline"] = base["model"] if base else None
        row["speedup_vs_fp32_onnx"] = base["latency_ms"]["median"] / row["latency_ms"]["median"] if base else None
    return {"frame": size, "environment": bench["environment"], "settings": bench["settings"],
            "missing_validation": sorted({r["model"] for r in bench["results"]} - set(validation)), "rows": rows}


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def report_markdown(report: dict) -> str:
    env, s = report["environment"], report["settings"]
    lines = [f"Size / speed / accuracy. Latency: `Detector.predict` on a {report['frame']} frame, median (p90) of "
             f"{s['reps']} interleaved repetitions after {s['warmup']} warm-up ({env['date']}, {cpu_label(env)}, "
             f"{env['cores']} cores); mAP on the factory's test split; speed-up vs the fp32 ONNX Runtime model of "
             "the same input size and threads.", "",
             "| model | engine | precision | threads | params | size MB | mAP50-95 | mAP50 | latency ms | "
             "bare engine ms | FPS | speed-up vs fp32 ONNX |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        params = f"{r['params'] / 1e6:.2f} M" if r["params"] else ""
        lines.append(f"| {r['model']} | {r['engine']} | {r['precision']} | {r['threads']} | {params} | "
                     f"{r['size_mb']:.1f} | {_fmt(r['map50_95'], '.3f')} | {_fmt(r['map50'], '.3f')} | "
                     f"{r['latency_ms']['median']:.2f} ({r['latency_ms']['p90']:.2f}) | "
                     f"{r['bare_ms']['median']:.2f} | {r['fps']:.1f} | "
                     f"{_fmt(r['speedup_vs_fp32_onnx'], '.2f')}{'x' if r['speedup_vs_fp32_onnx'] else ''} |")
    if report["missing_validation"]:
        lines += ["", "No validation results for: " + ", ".join(report["missing_validation"]) + "."]
    return "\n".join(lines) + "\n"


def plot_report(report: dict, out: Path) -> Path:
    """mAP50-95 against latency: colour by engine, circle for float and square for int8 models, area by size on
    disk; each point gives its thread count, each model is named at its fastest point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 5.5))
    colours = dict(zip(ENGINE_NAMES, plt.get_cmap("tab10").colors))
    for r in (r for r in report["rows"] if r["map50_95"] is not None):
        int8 = r["precision"].startswith("int8")
        ax.scatter(r["latency_ms"]["median"], r["map50_95"], s=30 + 12 * r["size_mb"], alpha=0.7,
                   color=colours[r["engine"]], marker="s" if int8 else "o",
                   label=f"{r['engine']}, {'int8' if int8 else 'float'}")
        ax.annotate(f"{r['threads']}t", (r["latency_ms"]["median"], r["map50_95"]), fontsize=8, xytext=(6, 4),
                    textcoords="offset points")
    for stem, r in fastest_per_stem(report["rows"]).items():  # each model named once, at its fastest point
        ax.annotate(stem, (r["latency_ms"]["median"], r["map50_95"]), fontsize=9, xytext=(0, -16),
                    textcoords="offset points")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(sorted(zip(labels, handles), key=lambda pair: pair[0]))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=8, markerscale=0.6, loc="center right")
    else:
        ax.text(0.5, 0.5, "no validation results for these models", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"Detector.predict latency, ms ({report['frame']}, median)")
    ax.set_ylabel("mAP50-95 (test split)")
    ax.set_title("accuracy vs latency (marker area ~ size on disk; 1t, 2t: threads)", fontsize=10)
    ax.margins(x=0.06, y=0.12)
    ax.grid(alpha=0.3)
    return _save(fig, plt, out)


def write_report(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(report_markdown(report))
    return [out / "report.json", out / "report.md", plot_report(report, out / "report.png")]
