"""yolo-edge-optimize's measurements and report: latency of every file side by side, report.md and report.png."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.bench import cpu_label, detector_steps, interleave, summarize, synthetic_frames
from runtime.detector import Detector

FRAME = "1280x720"


def thread_counts() -> list[int]:
    """One thread (the smallest edge device) and every core of this machine."""
    return sorted({1, os.cpu_count() or 1})


def latencies(paths: list[Path], reps: int, warmup: int, gap_s: float = 0.01) -> dict[str, dict]:
    """{file name: {threads: {"bare": ms, "predict": ms}}}, medians (see labelled_latencies)."""
    return labelled_latencies({p.name: p for p in paths}, reps, warmup, gap_s)


def labelled_latencies(files: dict[str, Path], reps: int, warmup: int, gap_s: float = 0.01,
                       runs: dict | None = None) -> dict[str, dict]:
    """{label: {threads: {"bare": ms, "predict": ms}}}, medians; `runs`, when given, gets {label: {threads: each
    repetition's predict ms after the warm-up, in order}}. For each thread count every file is loaded and their
    steps (the bare engine run, predict on a 1280x720 frame) alternate in one loop, so the files compared share the
    machine's noise."""
    from tqdm import tqdm

    frames = synthetic_frames([FRAME])
    result = {label: {} for label in files}
    for threads in thread_counts():
        raws = {label: ({}, {}) for label in files}
        steps = [step for label, p in files.items()
                 for step in detector_steps(Detector(p, threads=threads), frames, *raws[label])]
        with tqdm(total=warmup + reps, desc=f"latency, {threads} thread(s)", leave=False) as bar:
            interleave(steps, reps, warmup, gap_s, tick=bar.update)
        for label, (raw, _) in raws.items():
            result[label][str(threads)] = {"bare": round(summarize(raw["bare"], warmup)["median"], 2),
                                           "predict": round(summarize(raw[f"{FRAME}/predict"], warmup)["median"], 2)}
            if runs is not None:
                runs.setdefault(label, {})[str(threads)] = raw[f"{FRAME}/predict"][warmup:]
    return result


def method_label(report: dict) -> str:
    """ptq / qat (N epochs), full int8 where the head's decoding is quantized too, and the pruning first."""
    epochs = f" ({report['qat_epochs']} epochs)" if report.get("qat_epochs") else ""
    pruning = report.get("pruning")
    pruned = f"pruned ({1 - pruning['macs_after'] / pruning['macs_before']:.0%} of the MACs), " if pruning else ""
    return f"{pruned}{report['method']}{epochs}{', full int8' if report.get('full_int8') else ''}"


def deploy_line(name: str) -> str:
    return f'Detector("{name}")'


def markdown(report: dict) -> str:
    threads = thread_counts()
    env = report["environment"]
    lines = [f"# {report['model']} at {report['imgsz']} px, {method_label(report)}",
             "", f"Scored on the {report['split']} split of {report['data']} ({report['scoring_images']} images); "
             f"latency: median ms of the bare engine run / Detector.predict on a {FRAME} frame, measured on "
             f"{cpu_label(env)} ({env['cores']} cores), {report['reps']} alternated runs. Drop: mAP50-95 points below "
             f"the fp32 file of the same engine (at most {report['max_drop']}).", "",
             *pruning_lines(report.get("pruning")),
             "| file | engine | precision | size MB | mAP50-95 | mAP50 | drop | "
             + " | ".join(f"ms, {t} thread{'s' * (t > 1)}" for t in threads) + " | status | deploy |",
             "|---|---|---|---:|---:|---:|---:|" + "---:|" * len(threads) + "---|---|"]
    for r in report["rows"]:
        drop = "" if r["drop"] is None else f"{r['drop']:.2f}"
        times = " | ".join(f"{r['latency_ms'][str(t)]['bare']:.1f} / {r['latency_ms'][str(t)]['predict']:.1f}"
                           for t in threads)
        lines.append(f"| {r['file']} | {r['engine']} | {r['precision']} | {r['size_mb']:.2f} | {r['map50_95']:.3f} | "
                     f"{r['map50']:.3f} | {drop} | {times} | {r['status']} | `{r['deploy']}` |")
    return "\n".join(lines) + "\n"


def pruning_lines(pruning: dict | None) -> list[str]:
    if not pruning:
        return []
    steps = ", ".join(f"{s['macs'] / 1e6:.0f} M (ratio {s['ratio']:.3f}, val mAP50-95 {s['map50_95']:.3f})"
                      for s in pruning["steps"])
    weight = pruning.get("distill_weight") or 1.0  # absent from records before --distill-weight
    scale = f" (terms x {weight:g})" if weight != 1.0 else ""
    teacher = f", distilled from {pruning['teacher']}{scale}" if pruning["teacher"] else ""
    return [f"Pruned first: {pruning['macs_before'] / 1e6:.0f} M MACs to {pruning['macs_after'] / 1e6:.0f} M "
            f"({1 - pruning['macs_after'] / pruning['macs_before']:.0%} fewer; asked {pruning['target']:.0%}) in "
            f"{len(pruning['steps'])} steps, {pruning['fine_tune_epochs']} fine-tuning epochs in all{teacher} "
            f"(seed {pruning['seed']}); after each step: {steps}.", ""]


def plot(report: dict, out: Path) -> None:
    """mAP50-95 against predict latency (one panel per thread count), a colour per engine, a marker per precision;
    900 px wide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = thread_counts()
    engines = list(dict.fromkeys(r["engine"] for r in report["rows"]))
    colours = dict(zip(engines, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, len(threads), figsize=(9, 4.2), dpi=100, sharey=True, squeeze=False)
    for ax, t in zip(axes[0], threads):
        for r in report["rows"]:
            int8 = r["precision"].startswith("int8")
            ax.scatter(r["latency_ms"][str(t)]["predict"], r["map50_95"], s=60, color=colours[r["engine"]],
                       marker="o" if int8 else "s", edgecolors="red" if r["status"] != "ok" else "none",
                       label=f"{r['engine']} {'int8' if int8 else 'fp32'}")
        ax.set_title(f"{t} thread{'s' * (t > 1)}", fontsize=10)
        ax.set_xlabel(f"Detector.predict ms ({FRAME} frame)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"mAP50-95 ({report['split']} split)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    fig.suptitle(f"{report['model']} at {report['imgsz']} px, {method_label(report)}: accuracy against latency",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out)
    plt.close(fig)
