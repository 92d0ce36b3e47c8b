"""`python -m runtime` is the yolo-edge command."""

from runtime.cli import main

raise SystemExit(main())
