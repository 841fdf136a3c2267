"""TensorFlow, imported without its start-up chatter on stderr (see `pibokeh.quiet`)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Converting needs no GPU; without this a machine with no CUDA driver logs a failed cuInit per session.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

from pibokeh.quiet import native_stderr_silenced  # noqa: E402

with native_stderr_silenced():
    import tensorflow as tf  # noqa: F401

tf.get_logger().setLevel("ERROR")  # deprecation notices about TF1 graph APIs, which we use on purpose
