"""A real RTSP server on loopback for the stream tests and benchmarks: GStreamer's gst-rtsp-server serving a folder of
JPEG frames, looped, as live H.264 at a fixed frame rate.

    /usr/bin/python3 tests/rtsp_server.py FRAMES_DIR --port 8554 --path /cam --fps 30

Runs with Debian's python3 (python3-gi, gir1.2-gst-rtsp-server-1.0; tests/install-stream-tools.sh installs them).
Prints "ready rtsp://127.0.0.1:PORT/PATH" once it listens; stops on SIGTERM. RtspServer runs it from any Python
(the tests', the benchmarks').
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-gi and GStreamer's RTSP server


class RtspServer:
    """This script as a child process serving `frames` at `fps` on 127.0.0.1:port/cam."""

    def __init__(self, frames: Path, port: int, fps: int = 30):
        self.frames, self.port, self.fps, self.process = frames, port, fps, None
        self.url = f"rtsp://127.0.0.1:{port}/cam"

    def start(self) -> RtspServer:
        self.process = subprocess.Popen([SYSTEM_PYTHON, __file__, str(self.frames), "--port", str(self.port),
                                         "--fps", str(self.fps)], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the RTSP server did not start: {line!r}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def restart(self, pause_s: float = 1.0) -> float:
        """Stop, wait, start again; returns time.perf_counter() when it serves again."""
        self.stop()
        time.sleep(pause_s)
        self.start()
        return time.perf_counter()


def main() -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    ap = argparse.ArgumentParser()
    ap.add_argument("frames", help="folder of %%05d.jpg frames, all one size")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    Gst.init(None)
    # multifilesrc is not live: the server's sinks pace it by the timestamps (fps); every client sees frame 0 first
    # only if it is the first (the media is shared). key-int-max: a keyframe each second, so a client that joins or
    # comes back decodes within one second.
    launch = (f"( multifilesrc location={args.frames}/%05d.jpg index=0 loop=true "
              f"caps=image/jpeg,framerate={args.fps}/1 ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! "
              f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bframes=0 ! "
              f"rtph264pay name=pay0 pt=96 config-interval=1 )")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"ready rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
