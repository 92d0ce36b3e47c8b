"""The one offline setup for ultralytics: import this first wherever ultralytics may be imported (models/,
benchmarks/, the tests' conftest).

Environment variables must be set before ultralytics is imported: it writes a settings file and probes the network
at import time. Its caches (and the factory's) go to the checkout's build/ when this package runs from a checkout,
else (installed as yolo_edge_factory) to a per-user cache folder: never into the installed package or the current
directory. OpenVINO's tools send no telemetry from this process.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout's root (meaningful in a checkout only)


def in_checkout(package_dir: Path = Path(__file__).resolve().parent) -> bool:
    """Whether this package is the models/ folder of a repository checkout (an editable install counts)."""
    return package_dir.name == "models" and (package_dir.parent / "setup.cfg").is_file()


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "yolo-edge"


BUILD_DIR = REPO_ROOT / "build" if in_checkout() else user_cache_dir()

os.environ["YOLO_CONFIG_DIR"] = str(BUILD_DIR / "ultralytics-config")  # keep ~/.config clean
os.environ["YOLO_OFFLINE"] = "1"  # never try hub/downloads
os.environ["MPLCONFIGDIR"] = str(BUILD_DIR / "mpl")  # matplotlib cache inside build/
for _d in ("YOLO_CONFIG_DIR", "MPLCONFIGDIR"):
    Path(os.environ[_d]).mkdir(parents=True, exist_ok=True)


def decline_openvino_telemetry() -> None:
    """OpenVINO's converter and NNCF send usage events from a forked child unless the user opted out. Forked from a
    threaded process, that child can hang for good (seen: blocked in getaddrinfo with no network), and the
    interpreter waits for it at exit. The factory runs offline: this process declines, as their opt-out would."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no OpenVINO tools installed: nothing sends
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED


decline_openvino_telemetry()


def init_ultralytics():
    """Import ultralytics with sync and all logger integrations off; return the module."""
    import ultralytics
    from ultralytics.utils import SETTINGS

    off = {k: False for k, v in SETTINGS.items() if isinstance(v, bool)}  # sync, hub, wandb, mlflow...
    off.update(
        runs_dir=str(BUILD_DIR / "runs"),
        datasets_dir=str(BUILD_DIR / "datasets"),
        weights_dir=str(BUILD_DIR / "weights"),
    )
    SETTINGS.update({k: v for k, v in off.items() if k in SETTINGS})
    return ultralytics
