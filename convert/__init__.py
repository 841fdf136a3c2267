"""The workstation half of pibokeh: DeepLab TF1 graph -> validated TFLite model (needs TensorFlow).

Importing the package itself is light (no TensorFlow), so `pibokeh-convert --help` is instant.
"""

MODES = ("float32", "fp16", "dynamic", "int8")  # --quant, from largest to smallest model
OUTPUTS = ("scores", "labels", "logits")  # --output: what the model's head gives (graph.Cut.kind)
