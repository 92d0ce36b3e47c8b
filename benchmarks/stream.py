"""Detector.stream against the loops it replaces, on this machine (issue: live streams).

    python -m benchmarks.stream file MODEL... [--reps 3]     1280x720 H.264 file, policy all, engine on 1 thread
                                                             (one worker, and one worker per core)
    python -m benchmarks.stream live MODEL... [--seconds 20] a live 30 FPS RTSP stream on loopback, policy latest
    python -m benchmarks.stream paced MODEL... [--seconds 20] decoded frames fed at 30 FPS: inference at camera pace
    python -m benchmarks.stream soak MODEL [--minutes 10]    the live stream for minutes: memory, threads, files
    python -m benchmarks.stream workers MODEL... [--reps 3]  the file, every core: one engine thread or one per core

file: per model, the stream's throughput against min(1 / bare engine run, the decoder's own rate on the file) and
against a serial read-then-predict loop, each of --reps repetitions measuring the bare run, the decoder and the
two loops in turn (ratios per repetition). live: the frame age at result against one bare inference + one frame
interval, the inference inside the stream against its back-to-back time, and how long results take to come back
after the RTSP server restarts. soak: RSS, threads and open files sampled every 10 s. workers: the file as fast as
the machine goes: the serial loop and the stream with one engine thread at the default (every core) settings,
against the stream with one engine thread per core (throughput_engine_options), alternated per repetition.
Writes benchmarks/results/stream/<mode>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import cv2

from benchmarks.sample import sample_frames
from models.settings import REPO_ROOT
from runtime import Detector
from runtime.bench import cpu_label, environment
from runtime.engines import ENGINE_NAMES
from runtime.engines.settings import physical_cores
from runtime.preprocess import prepare
from runtime.stream import throughput_engine_options
from tests.rtsp_server import RtspServer

OUT = REPO_ROOT / "benchmarks" / "results" / "stream"
FRAME = "1280x720"
FPS = 30
CLIP_SECONDS = 10


def clip_frames(count: int) -> list:
    """The benchmark frame panned across a wider canvas: every frame differs (the encoder cannot skip them)."""
    frame = sample_frames([FRAME])[FRAME]
    wide = cv2.hconcat([frame, cv2.flip(frame, 1)])
    step = (wide.shape[1] - frame.shape[1]) / max(1, count - 1)
    return [wide[:, int(i * step):int(i * step) + frame.shape[1]] for i in range(count)]


def write_frames(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip_frames(count)):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def h264_clip(folder: Path) -> Path:
    """A 1280x720 H.264 file at 30 FPS, as cameras record (ffmpeg's libx264)."""
    frames = write_frames(folder / "frames", FPS * CLIP_SECONDS)
    clip = folder / "clip-1280x720.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-framerate", str(FPS), "-i", str(frames / "%05d.jpg"),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(FPS), str(clip)], check=True)
    return clip


def bare_ms(detector: Detector, reps: int = 50, warmup: int = 10) -> float:
    tensor, _ = prepare(sample_frames([FRAME])[FRAME], detector.engine.input, detector.input_hw)
    times = []
    for i in range(warmup + reps):
        start = time.perf_counter()
        detector.engine.run(tensor)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def decode_fps(clip: Path) -> float:
    capture, count, start = cv2.VideoCapture(str(clip)), 0, time.perf_counter()
    while capture.read()[0]:
        count += 1
    capture.release()
    return count / (time.perf_counter() - start)


def serial_fps(detector: Detector, clip: Path) -> float:
    capture, count, start = cv2.VideoCapture(str(clip)), 0, time.perf_counter()
    while (read := capture.read())[0]:
        detector.predict(read[1])
        count += 1
    capture.release()
    return count / (time.perf_counter() - start)


def stream_fps(detector: Detector, clip: Path, workers: int = 1) -> float:
    start = time.perf_counter()
    with detector.stream(clip, policy="all", workers=workers) as stream:
        count = sum(1 for _ in stream)
    return count / (time.perf_counter() - start)


def bench_file(models: list[Path], reps: int, work: Path) -> dict:
    """Per model and repetition: the bare engine run, the decoder alone, the serial loop, the stream, and the stream
    with one worker per core (each engine call on one thread: throughput_engine_options), one after another, so
    that each repetition's ceiling (min(1 / bare run, decoder rate)) is measured in the machine state its loops ran
    in; the ratios are medians of the per-repetition ratios."""
    clip, cores = h264_clip(work), physical_cores()
    rows = []
    for model in models:
        detector = Detector(model, threads=1)
        parallel = Detector(model, **throughput_engine_options(model, {}, cores))
        runs = {k: [] for k in ("bare_ms", "decoder_fps", "serial_fps", "stream_fps", "of_ceiling", "over_serial",
                                "workers_fps", "workers_over_serial")}
        for _ in range(reps):
            bare, decoder = bare_ms(detector, reps=30, warmup=5), decode_fps(clip)
            serial, streamed = serial_fps(detector, clip), stream_fps(detector, clip)
            many = stream_fps(parallel, clip, cores)
            for key, value in (("bare_ms", bare), ("decoder_fps", decoder), ("serial_fps", serial),
                               ("stream_fps", streamed), ("of_ceiling", streamed / min(1000 / bare, decoder)),
                               ("over_serial", streamed / serial), ("workers_fps", many),
                               ("workers_over_serial", many / serial)):
                runs[key].append(value)
        row = {"model": model.name, "engine": detector.engine.name, "imgsz": detector.input_hw[0]}
        row.update({k: round(statistics.median(v), 3 if k.startswith(("of_", "over_", "workers_over")) else 2)
                    for k, v in runs.items()})
        print(row, flush=True)
        rows.append(row)
    return {"clip": f"{FRAME} H.264, {FPS * CLIP_SECONDS} frames, the engine on 1 thread; medians of {reps} "
                    "repetitions, each measuring the bare run, the decoder, the serial loop, the stream and the "
                    f"stream with {cores} workers ({cores} engine calls in flight, each on 1 thread; OpenVINO: its "
                    "THROUGHPUT hint) in turn; ratios per repetition", "reps": reps, "threads": 1, "rows": rows}


def bench_workers(models: list[Path], reps: int, work: Path) -> dict:
    """Per model and repetition, in turn: the serial loop and the one-worker stream at the default settings, and the
    stream with one worker per core; the gain is the median of per-repetition ratios to the faster of the two."""
    clip, workers = h264_clip(work), physical_cores()
    rows = []
    for model in models:
        default = Detector(model)
        parallel = Detector(model, **throughput_engine_options(model, {}, workers))
        runs = {k: [] for k in ("serial_fps", "stream_fps", "workers_fps", "gain")}
        for _ in range(reps):
            serial, one = serial_fps(default, clip), stream_fps(default, clip)
            many = stream_fps(parallel, clip, workers)
            for key, value in (("serial_fps", serial), ("stream_fps", one), ("workers_fps", many),
                               ("gain", many / max(serial, one))):
                runs[key].append(value)
        row = {"model": model.name, "engine": default.engine.name, "imgsz": default.input_hw[0], "workers": workers,
               "settings": ",".join(f"{k}={v}" for k, v in throughput_engine_options(model, {}, workers).items())}
        row.update({k: round(statistics.median(v), 3 if k == "gain" else 1) for k, v in runs.items()})
        print(row, flush=True)
        rows.append(row)
    return {"clip": f"{FRAME} H.264, {FPS * CLIP_SECONDS} frames; serial and stream_fps: one engine thread at the "
                    f"default settings (every core); workers_fps: {workers} engine threads with the settings shown; "
                    f"medians of {reps} repetitions, the three in turn; gain: workers_fps over the faster of the "
                    "other two, per repetition", "reps": reps, "rows": rows}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_settings(text: str) -> dict:
    """'threads=1,ort_spinning=always' -> Detector options ('' -> the defaults)."""
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    return {k: int(v) if v.isdigit() else v for k, v in pairs}


def bench_live(models: list[Path], seconds: float, work: Path, variants: list[str]) -> dict:
    """Each model with each engine-settings variant; the bare run measured with the same settings, back to back."""
    server = RtspServer(write_frames(work / "live", FPS * 4), 8554, FPS).start()
    rows = []
    try:
        for model in models:
            for variant in variants:
                detector = Detector(model, **parse_settings(variant))
                rows.append(live_row(detector, server, seconds, variant))
    finally:
        server.stop()
    return {"stream": f"RTSP H.264 {FRAME} at {FPS} FPS from gst-rtsp-server on this machine (it encodes on the "
                      "same 2 cores)", "seconds": seconds, "rows": rows}


def live_row(detector: Detector, server: RtspServer, seconds: float, variant: str) -> dict:
    bare = bare_ms(detector)
    ages, inference = [], []
    with detector.stream(server.url) as stream:
        start = cpu_start = None
        for result in stream:
            start = start or time.perf_counter()
            if time.perf_counter() - start > 2:  # after the connection's first burst
                cpu_start = cpu_start or (cpu_seconds(), time.perf_counter())
                ages.append(result.age_ms)
                inference.append(result.detections.times.inference)
            if time.perf_counter() - start > seconds:
                break
        cpu = (cpu_seconds() - cpu_start[0]) / (time.perf_counter() - cpu_start[1])
    resumed = restart_seconds(detector, server) if variant == "" else None
    age, infer = statistics.median(ages), statistics.median(inference)
    row = {"model": detector.path.name, "engine": detector.engine.name, "settings": variant or "defaults",
           "bare_ms": round(bare, 2), "age_ms_median": round(age, 1), "age_bar_ms": round(bare + 1000 / FPS + 10, 1),
           "inference_ms_in_stream": round(infer, 2), "inference_over_bare": round(infer / bare, 3),
           "client_cpu_cores": round(cpu, 2), "results": len(ages), "dropped": stream.metrics.dropped,
           "resumed_after_restart_s": None if resumed is None else round(resumed, 2)}
    print(row, flush=True)
    return row


def paced_frames(frames: list, fps: float, seconds: float):
    """Frames handed over at a camera's pace (each at its deadline, no decoder or server on the CPU)."""
    start = time.perf_counter()
    for i in range(int(fps * seconds)):
        delay = start + i / fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield frames[i % len(frames)]


def bench_paced(models: list[Path], seconds: float, variants: list[str]) -> dict:
    """Inference inside a stream fed at FPS against back-to-back runs, per engine setting, with the process's CPU."""
    frames, rows = clip_frames(FPS), []
    for model in models:
        for variant in variants:
            detector = Detector(model, **parse_settings(variant))
            bare = bare_ms(detector)
            inference = []
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            with detector.stream(paced_frames(frames, FPS, seconds), policy="latest") as stream:
                for result in stream:
                    inference.append(result.detections.times.inference)
            cpu = (cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
            infer = statistics.median(inference[FPS:])  # after the first second
            row = {"model": model.name, "engine": detector.engine.name, "settings": variant or "defaults",
                   "bare_ms": round(bare, 2), "inference_ms_in_stream": round(infer, 2),
                   "inference_over_bare": round(infer / bare, 3), "cpu_cores": round(cpu, 2),
                   "results": len(inference), "age_ms_median": stream.metrics.age_ms_median}
            print(row, flush=True)
            rows.append(row)
    return {"stream": f"{FRAME} frames decoded beforehand, handed to Detector.stream at {FPS} FPS (policy latest)",
            "seconds": seconds, "rows": rows}


def restart_seconds(detector: Detector, server: RtspServer) -> float:
    """Seconds from the server's restart to the next result, the stream kept open across it."""
    restarted = {}

    def restart():
        restarted["at"] = server.restart()

    with detector.stream(server.url) as stream:
        thread = None
        for count, _ in enumerate(stream):
            if count == 30:
                thread = threading.Thread(target=restart)
                thread.start()
            if "at" in restarted:
                thread.join()
                return time.perf_counter() - restarted["at"]
    raise RuntimeError("the stream ended")


def process_sample() -> dict:
    status = Path("/proc/self/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    return {"rss_mb": rss_kb / 1024, "threads": threading.active_count(),
            "os_threads": len(os.listdir("/proc/self/task")), "fds": len(os.listdir("/proc/self/fd"))}


def bench_soak(model: Path, minutes: float, work: Path) -> dict:
    server = RtspServer(write_frames(work / "soak", FPS * 4), 8554, FPS).start()
    detector, samples, errors = Detector(model), [], []
    try:
        with detector.stream(server.url) as stream:
            start = next_sample = time.perf_counter()
            for _ in stream:
                now = time.perf_counter()
                if now >= next_sample:
                    samples.append({"t": round(now - start, 1), **process_sample()})
                    next_sample += 10
                if now - start > minutes * 60:
                    break
        metrics = stream.metrics
    except Exception as exc:  # noqa: BLE001  (counted: the bar is zero)
        errors.append(repr(exc))
        metrics = None
    finally:
        server.stop()
    settled = [s for s in samples if s["t"] >= 60]  # after a minute: allocators and caches warmed up
    first, last = settled[: len(settled) // 4 or 1], settled[-(len(settled) // 4 or 1):]
    mean = lambda rows, key: statistics.mean(r[key] for r in rows)  # noqa: E731
    return {"model": model.name, "minutes": minutes, "samples": samples, "errors": errors,
            "metrics": metrics.model_dump() if metrics else None,
            "rss_growth_mb": round(mean(last, "rss_mb") - mean(first, "rss_mb"), 2) if settled else None,
            "thread_growth": max(s["os_threads"] for s in settled) - settled[0]["os_threads"] if settled else None,
            "fd_growth": max(s["fds"] for s in settled) - settled[0]["fds"] if settled else None}


def markdown(mode: str, result: dict) -> str:
    env = result["environment"]
    head = [f"# Stream benchmark: {mode}", "", f"{env['date']}, {cpu_label(env)}, {env['cores']} cores; "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items()), ""]
    if mode == "soak":
        m = result["metrics"] or {}
        return "\n".join(head + [
            f"{result['model']}, {result['minutes']} min of a live {FPS} FPS RTSP stream: RSS growth "
            f"{result['rss_growth_mb']} MB (mean of the last quarter of the samples against the first, after the "
            f"first minute), thread growth {result['thread_growth']}, open-file growth {result['fd_growth']}, "
            f"{len(result['errors'])} exceptions; {m.get('delivered')} results, {m.get('dropped')} dropped.", ""])
    rows = result["rows"]
    keys = [k for k in rows[0] if k != "model"]
    lines = head + [result.get("clip") or result.get("stream"), "", "| model | " + " | ".join(keys) + " |",
                    "|---|" + "---:|" * len(keys)]
    lines += [f"| {r['model']} | " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("file", "live", "paced", "soak", "workers"))
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--settings", nargs="+", default=[""], metavar="K=V,...",
                    help="live, paced: engine settings to compare per model, e.g. '' threads=1 ort_spinning=always")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.mode == "file":
            result = bench_file(args.models, args.reps, work)
        elif args.mode == "workers":
            result = bench_workers(args.models, args.reps, work)
        elif args.mode == "live":
            result = bench_live(args.models, args.seconds, work, args.settings)
        elif args.mode == "paced":
            result = bench_paced(args.models, args.seconds, args.settings)
        else:
            result = bench_soak(args.models[0], args.minutes, work)
    result["environment"] = environment(ENGINE_NAMES)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.mode}.json").write_text(json.dumps(result, indent=1))
    (args.out / f"{args.mode}.md").write_text(markdown(args.mode, result))
    print(markdown(args.mode, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
