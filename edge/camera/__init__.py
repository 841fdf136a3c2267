"""The live camera: frame sources (Pi camera, USB/V4L2, streams, a video played live), the threaded
pipeline, the HTTP preview server and its page, snapshots, the TOML config, and the service loop."""
