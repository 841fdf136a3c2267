"""pibokeh: DeepLab-v3 MobileNetV2 segmentation on a Raspberry Pi - blur or replace the background
of photos, videos and camera streams.

The runtime (this package) needs only NumPy, OpenCV and a TFLite interpreter; `pibokeh.convert`
(the workstation converter) needs TensorFlow and is never imported by the runtime.
"""
