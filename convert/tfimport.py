"""TensorFlow, imported without its start-up chatter on stderr (see `quiet`)."""
from .quiet import native_stderr_silenced

with native_stderr_silenced():
    import tensorflow as tf  # noqa: F401

tf.get_logger().setLevel("ERROR")  # deprecation notices about TF1 graph APIs, which we use on purpose
