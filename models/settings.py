"""The one offline setup for ultralytics: import this first wherever ultralytics may be imported (models/,
benchmarks/, the tests' conftest).

Environment variables must be set before ultralytics is imported: it writes a settings
file and probes the network at import time.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"

os.environ["YOLO_CONFIG_DIR"] = str(BUILD_DIR / "ultralytics-config")  # keep ~/.config clean
os.environ["YOLO_OFFLINE"] = "1"  # never try hub/downloads
os.environ["MPLCONFIGDIR"] = str(BUILD_DIR / "mpl")  # matplotlib cache inside build/
for _d in ("YOLO_CONFIG_DIR", "MPLCONFIGDIR"):
    Path(os.environ[_d]).mkdir(parents=True, exist_ok=True)


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
