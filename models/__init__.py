"""Package data: `registry.json` (prebuilt TFLite models the runtime can fetch) and `zoo.json`
(DeepLab model-zoo graphs the converter can fetch). Read with importlib.resources."""
