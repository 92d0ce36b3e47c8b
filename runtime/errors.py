"""Typed errors: every failure the caller can act on has its own class."""


class YoloEdgeError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidOptionsError(YoloEdgeError, ValueError):
    """A Detector option is out of range or of the wrong type."""


class InvalidFrameError(YoloEdgeError, ValueError):
    """A frame is not an image the detector can use (None, empty, wrong dtype or rank)."""


class ModelLoadError(YoloEdgeError):
    """A model file is missing, truncated or not something the chosen engine can load."""

    def __init__(self, path, engine: str, reason: str):
        self.path, self.engine, self.reason = str(path), engine, reason
        super().__init__(f"cannot load {self.path!r} with {engine}: {reason}")


class EngineNotAvailableError(YoloEdgeError, ImportError):
    """The engine a model needs is not installed; the message names the extra to install."""


class MetadataWarning(UserWarning):
    """A model's embedded metadata is damaged: it loads, but without what was lost (class names, input size)."""


class SourceError(YoloEdgeError, ValueError):
    """What was given to read frames from holds none (an empty folder, a file of the wrong kind)."""


class DatasetError(YoloEdgeError, ValueError):
    """A dataset yaml is missing or unreadable, lacks the split asked for, or the split holds no images."""


class OutputError(YoloEdgeError, OSError):
    """An output cannot be written where it was asked for (a file where a folder is needed, a failed write)."""


class ExtraNotInstalledError(YoloEdgeError, ImportError):
    """An optional feature's package is not installed; the message names the extra that installs it."""
