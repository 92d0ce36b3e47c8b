"""Parameters and GFLOPs of the model recipes in models/recipes/, counted by ultralytics itself.

    python -m models.params [--imgsz 640] [--nc 1 3]

Parameters: ultralytics.utils.torch_utils.get_num_params (what model.info() prints: every parameter, including
the 16 fixed DFL weights). GFLOPs: ultralytics' thop-based get_flops at imgsz (what model.info() prints). Both on
DetectionModel(recipe, nc=nc), untrained and unfused, as ultralytics reports them when it builds a model.
"""
from . import settings  # noqa: F401  (must precede ultralytics)

import argparse
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
RECIPES = ["yolov8n", "yolov8n-csppc", "yolov8n-adown", "yolov8n-afpn", "yolov8n-light", "yolov8n-light-c2f-early",
           "yolov8n-light-pconv-half"]


def build(recipe: str, nc: int):
    """Untrained DetectionModel of models/recipes/<recipe>.yaml with nc classes."""
    settings.init_ultralytics()
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    from . import blocks

    blocks.register()
    cfg = yaml_model_load(RECIPES_DIR / f"{recipe}.yaml")  # scale "n" from the file name, as YOLO(yaml) does
    cfg["nc"] = nc
    return DetectionModel(cfg, verbose=False)


def measure(recipe: str, nc: int, imgsz: int = 640) -> tuple[int, float]:
    """(parameters, GFLOPs at imgsz x imgsz) of a recipe."""
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    model = build(recipe, nc)
    return get_num_params(model), get_flops(model, imgsz)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--nc", type=int, nargs="+", default=[1, 3], help="class counts to count the head at")
    args = ap.parse_args()

    rows = {(r, nc): measure(r, nc, args.imgsz) for r in RECIPES for nc in args.nc}
    head = "| recipe | " + " | ".join(f"params nc={nc} | vs base | GFLOPs@{args.imgsz} nc={nc}" for nc in args.nc)
    print(head + " |")
    print("|---|" + "---:|---:|---:|" * len(args.nc))
    for r in RECIPES:
        cells = []
        for nc in args.nc:
            params, gflops = rows[r, nc]
            base = rows[RECIPES[0], nc][0]
            cells += [f"{params:,}", f"{params / base - 1:+.1%}", f"{gflops:.2f}"]
        print(f"| {r} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
