"""Put tests/fakes/without_av first on PYTHONPATH to run pibokeh as on a machine where PyAV cannot be
installed (32-bit Raspberry Pi OS has no wheel): `import av` fails as it would there."""
raise ImportError("No module named 'av' (hidden by tests/fakes/without_av)")
