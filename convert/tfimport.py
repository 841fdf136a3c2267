"""TensorFlow, imported without its start-up chatter on stderr (see `quiet`)."""
from .quiet import native_stderr_silenced

with native_stderr_silenced():
    import tensorflow as tf  # noqa: F401
