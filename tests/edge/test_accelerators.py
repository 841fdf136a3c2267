"""The accelerators' backends: chosen by the model file or --backend, one-line errors for what is missing,
the AI Camera's geometry (its class map onto the frame), and `pibokeh camera` end to end on the fake AI
Camera, the fake Hailo (tests/fakes/picamera2/devices: picamera2's helpers' calls, the device's work
done by a TFLite model on the CPU) and the fake Edge TPU (tests/fakes/edgetpu: Coral's documented
`tflite_runtime` API, the compiled op computed by the model's CPU twin). No device is here: what these
prove is the runtime's side."""
from __future__ import annotations

import os
import shutil
import signal

import cv2
import numpy as np
import pytest
from pibokeh.errors import ModelError
from pibokeh.model import BACKENDS, open_model
from pibokeh.model.imx500 import as_class_map, sensor_window
from pibokeh.model.kinds import backend_for

from tests.conftest import CORAL, MODELS, TINY, TINY_LABELS, TINY_WIDE, need
from tests.edge.camera_process import Camera, frames_of
from tests.fakes.backends import (CORAL_API, DEVICES, coral_api, edgetpu_copy, fake_edgetpu, fake_imx500,
                                  hailo_network, imx500_network)
from tests.fakes.picamera2.devices.imx500 import centred
from tests.helpers import error_line

EDGETPU = MODELS / "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite"
AI_CAMERA = {"FAKE_PICAMERA2_MODEL": "imx500"}


# ---- which backend ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, backend, kind", [
    ("network.rpk", None, "imx500"), ("deeplab_v3_mobilenet_v2_wo_dilation.hef", None, "hailo"),
    ("deeplabv3_mnv2_pascal_quant_edgetpu.tflite", None, "edgetpu"), ("model.tflite", None, None),
    ("model.tflite", "edgetpu", "edgetpu"), ("model.tflite", "tflite_runtime", None), ("x.hef", "hailo", "hailo"),
])
def test_the_file_or_backend_picks_the_runner(name, backend, kind):
    assert backend_for(name, backend) == kind
    assert {"imx500", "hailo", "edgetpu"} <= set(BACKENDS)


def test_a_device_network_on_an_interpreter_is_refused(tmp_path):
    rpk = tmp_path / "network.rpk"
    rpk.write_bytes(b"x")
    with pytest.raises(ModelError, match="imx500 network does not run on the tflite_runtime interpreter"):
        open_model(rpk, backend="tflite_runtime")
    with pytest.raises(ModelError, match=r"imx500 backend runs the AI Camera's network files \(\.rpk"):
        open_model(TINY, backend="imx500")


# ---- the AI Camera's class map onto the frame ---------------------------------------------------

def test_sensor_window_is_the_map_itself_when_the_frame_shows_the_roi():
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert sensor_window(labels, (100, 50, 400, 300), (100, 50, 400, 300)) is labels


def test_sensor_window_pads_what_the_sensor_did_not_see_and_cuts_what_the_frame_does_not_show():
    labels = np.full((90, 160), 7, np.uint8)  # a 16:9 network on the middle band of a 4:3 sensor
    roi, full = centred((16, 9)), (0, 0, 4056, 3040)
    out = sensor_window(labels, roi, full)
    assert out.shape[1] == 160 and out.shape[0] == pytest.approx(160 * 3040 / 4056, abs=1)
    band = np.flatnonzero(out[:, 80] == 7)
    top = roi[1] / 3040 * out.shape[0]
    assert abs(band[0] - top) <= 1 and abs(band[-1] + 1 - (top + 90)) <= 1  # background above and below
    cut = sensor_window(np.tile(np.arange(160, dtype=np.uint8), (90, 1)), roi, (roi[0] + roi[2] // 4, roi[1],
                                                                              roi[2] // 2, roi[3]))
    assert cut.shape == (90, 80) and cut[0, 0] == 40 and cut[0, -1] == 119  # the middle half of the columns


def test_sensor_window_agrees_with_picamera2s_convert_inference_coords():
    """The fake helper's convert_inference_coords follows picamera2's code: the map's non-background part,
    scaled to the stream, must be where it says the inference region lands."""
    backend = fake_imx500(tmp := _tmp("geometry"), TINY_WIDE)  # 16:9 network
    stream = (640, 480)  # a 4:3 main stream: the region is a band across it

    class Camera:  # what convert_inference_coords reads of picamera2
        @staticmethod
        def camera_configuration():
            return {"main": {"size": stream}}
    metadata = {"ScalerCrop": centred(stream)}
    x, y, w, h = backend.device.convert_inference_coords((0, 0, 1, 1), metadata, Camera)
    window = sensor_window(np.ones(backend.input_size, np.uint8), _box(backend.device.config["roi"]),
                           metadata["ScalerCrop"])
    on_frame = cv2.resize(window, stream, interpolation=cv2.INTER_NEAREST)
    rows, cols = np.flatnonzero(on_frame[:, stream[0] // 2]), np.flatnonzero(on_frame[stream[1] // 2])
    assert abs(rows[0] - y) <= 4 and abs(rows[-1] + 1 - (y + h)) <= 4
    assert abs(cols[0] - x) <= 4 and abs(cols[-1] + 1 - (x + w)) <= 4
    shutil.rmtree(tmp)


def test_the_sensors_output_becomes_a_class_map():
    out = np.full((5, 3), 15.0, np.float32)  # (w, h) for a 3x5 (h, w) input: transposed back
    out[0, 0], out[1, 1] = 21.4, -2
    labels = as_class_map(out, (3, 5), 21)
    assert labels.shape == (3, 5) and labels.dtype == np.uint8
    assert labels[0, 0] == 20 and labels[1, 1] == 0 and labels[2, 4] == 15
    with pytest.raises(ModelError, match="expected a class map"):
        as_class_map(np.zeros((2, 3, 4)), (3, 5), 21)


def test_frames_without_the_sensors_output_keep_the_last_map():
    backend = fake_imx500(tmp := _tmp("loading"), TINY_WIDE)
    frame = np.full((90, 160, 3), 110, np.uint8)
    frame[20:70, 40:80] = (20, 20, 230)
    blank = backend.from_metadata({"ScalerCrop": centred((160, 90))}, (90, 160))  # the network still loading
    assert blank.shape == backend.input_size and not blank.any()
    seen = backend.from_metadata(backend.device.metadata_for(frame), (90, 160))
    assert seen.any()
    assert backend.from_metadata({"ScalerCrop": centred((160, 90))}, (90, 160)) is seen
    assert backend.frames_without_output == 2
    with pytest.raises(ModelError, match="runs on the AI Camera's sensor: only `pibokeh camera --source picamera2`"):
        backend.from_metadata(None, (90, 160))
    shutil.rmtree(tmp)


# ---- what is missing, in one line ---------------------------------------------------------------

def test_missing_helpers_and_devices_are_one_line_each(tmp_path, monkeypatch):
    from pibokeh.model.hailo import HailoBackend
    from pibokeh.model.imx500 import IMX500Backend
    rpk = imx500_network(tmp_path / "net", TINY_WIDE)
    hef = hailo_network(tmp_path / "hailo", TINY_LABELS)
    with pytest.raises(ModelError, match="the AI Camera needs picamera2's IMX500 helper: sudo apt install imx500-all"):
        IMX500Backend(rpk, module="no_such_picamera2.devices")
    damaged = tmp_path / "damaged.rpk"
    damaged.write_bytes(rpk.read_bytes()[:20])
    monkeypatch.setenv("FAKE_PICAMERA2_MODEL", "imx500")
    with pytest.raises(ModelError, match=r"damaged.rpk: cannot use the AI Camera \(IMX500: .* not a network firmware"):
        IMX500Backend(damaged, module=DEVICES)
    monkeypatch.delenv("FAKE_PICAMERA2_MODEL")  # the cameras are not AI Cameras
    with pytest.raises(ModelError, match=r"cannot use the AI Camera \(IMX500: Requested camera dev-node not found\)"):
        IMX500Backend(rpk, module=DEVICES)
    with pytest.raises(ModelError, match="the Hailo accelerator needs picamera2's Hailo helper: sudo apt install hailo-all"):
        HailoBackend(hef, module="no_such_picamera2.devices")
    monkeypatch.setenv("FAKE_HAILO_NO_DEVICE", "1")
    with pytest.raises(ModelError, match=r"cannot use the Hailo accelerator \(Failed to create vdevice.*hailo-all"):
        HailoBackend(hef, module=DEVICES)


def test_edgetpu_without_libedgetpu_is_one_line(pibokeh):
    """No Edge TPU and no libedgetpu here: the delegate cannot load in any installed interpreter, which
    is what a Pi without them sees."""
    for args in (["--model", need(EDGETPU)], ["--model", TINY, "--backend", "edgetpu"]):
        proc = pibokeh("info", *args)
        assert proc.returncode == 2, proc.stderr
        line = error_line(proc.stderr)
        assert "the Coral Edge TPU cannot be used" in line and "sudo apt install libedgetpu1-std" in line
        assert "edgetpu   not usable: libedgetpu.so.1 is not installed" in proc.stdout  # info says why first


def test_camera_on_an_edgetpu_model_without_the_runtime_is_one_line(tmp_path):
    camera = Camera("--source", "picamera2", "--model", need(EDGETPU), "--max-frames", 5, fake=True, home=tmp_path)
    assert camera.finish() == 2
    line = error_line(camera.stderr)
    assert "the Coral Edge TPU cannot be used" in line and "libedgetpu1-std" in line


@pytest.mark.shared_data
def test_edgetpu_fake_runs_coral_compiled_model_with_the_first_interpreter_whose_delegate_loads():
    """Coral's compiled DeepLab through the Edge TPU backend on the fake: ai_edge_litert cannot load
    libedgetpu here, the (fake) tflite_runtime can, so that one runs it, with the delegate; the class
    map of a labelled photo finds its person (against the photo's own ground truth)."""
    need(CORAL)  # the compiled model's CPU twin, which the fake computes with
    edgetpu = fake_edgetpu(need(MODELS / "deeplabv3_mnv2_pascal_quant_edgetpu.tflite"), threads=2)
    assert edgetpu.backend == "edgetpu" and edgetpu.interpreter_name == "tflite_runtime"
    assert edgetpu.describe()["runs_on"] == "the Coral Edge TPU (libedgetpu.so.1 delegate of tflite_runtime)"
    assert edgetpu.interpreter.on_edgetpu  # the fake was handed the delegate with the compiled model
    photo = cv2.imread(str(need(MODELS.parent / "voc" / "voc2012_2007_000129.jpg")))
    truth = cv2.imread(str(MODELS.parent / "voc" / "voc2012_2007_000129_gt.png"), cv2.IMREAD_GRAYSCALE) == 15
    found = edgetpu.classes(photo) == 15
    assert (found & truth).sum() / (found | truth).sum() > 0.7


def test_edgetpu_fake_with_no_device_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EDGETPU", "none")  # the library is there, no accelerator answers
    with coral_api(), pytest.raises(ModelError) as caught:
        open_model(edgetpu_copy(tmp_path, TINY_LABELS))
    message = str(caught.value)
    assert "\n" not in message and "the Coral Edge TPU cannot be used" in message and "libedgetpu1-std" in message
    assert "or run its CPU version, the same name without _edgetpu" in message


def test_info_lists_the_accelerators(pibokeh, tmp_path):
    import json
    text = pibokeh("info", "--model", TINY, check=True).stdout
    assert text.startswith("accelerators (a model's file picks one: .rpk imx500, .hef hailo, _edgetpu.tflite")
    for name in ("imx500", "hailo", "edgetpu"):
        assert f"\n  {name} " in text
    found = json.loads(pibokeh("info", "--model", TINY, "--json", check=True).stdout)["accelerators"]
    assert [a["name"] for a in found] == ["imx500", "hailo", "edgetpu"] and not any(a["found"] for a in found)
    assert "imx500-all" in found[0]["detail"] and "libedgetpu1-std" in found[2]["detail"]


# ---- pibokeh camera on the fake devices -----------------------------------------------------------

def _kept_and_replaced(frame: np.ndarray) -> tuple[float, float, float]:
    """Of an output frame with a green background: the green share, the red share (the fake scene's
    square, kept), and the share of what is not green that is red (high when the mask is on the square)."""
    f = frame.astype(int)
    green = (f[..., 1] > 180) & (f[..., 0] < 90) & (f[..., 2] < 90)
    red = (f[..., 2] > 150) & (f[..., 1] < 100) & (f[..., 0] < 100)
    kept = ~green
    return float(green.mean()), float(red.mean()), float((kept & red).sum() / max(kept.sum(), 1))


def test_camera_on_the_ai_camera_fake_serves_and_records(tmp_path):
    net = imx500_network(tmp_path / "net", TINY_WIDE)
    out = tmp_path / "rec.mp4"
    camera = Camera("--source", "picamera2", "--model", net, "--size", "640x360", "--record", out, "--max-frames", 30,
                    "--background", "#00ff00", "--serve", "127.0.0.1:0", fake=True, env=AI_CAMERA, home=tmp_path)
    camera.wait_served()
    status, page = camera.get("/")
    assert status == 200 and b"stream.mjpg" in page
    camera.wait_for(lambda: camera.stats()["frames_out"] > 0, what="first frame")
    assert camera.stats()["backend"] == "imx500"
    assert camera.finish() == 0, camera.stderr
    # the network's upload, read from the helper's progress as the camera starts
    assert "network.rpk: uploading the network to the sensor: 100 %" in camera.stderr
    assert "on imx500, no CPU inference" in camera.stderr and "Traceback" not in camera.stderr
    frames = frames_of(out)
    assert 28 <= len(frames) <= 30 and frames[0].shape == (360, 640, 3)
    assert _kept_and_replaced(frames[0])[0] > 0.97  # the network still loading: no person anywhere yet
    green, red, on_square = _kept_and_replaced(frames[-1])
    assert green > 0.8 and red > 0.04 and on_square > 0.8, (green, red, on_square)


def test_camera_on_the_ai_camera_fake_with_another_aspect(tmp_path):
    """A 4:3 network with a 16:9 stream: the sensor infers on more than the frame shows; the frame gets
    the middle of the map (sensor_window), and the square is still kept where it is. (Measured: the map
    stretched onto the frame instead keeps 0.03 of red and puts 40 % of what it keeps off the square.)"""
    net = imx500_network(tmp_path / "net", TINY)  # 65x65, square
    out = tmp_path / "rec.mp4"
    # 40 frames: the fake scene's square has moved into the square region the sensor infers on
    camera = Camera("--source", "picamera2", "--model", net, "--size", "640x360", "--record", out, "--max-frames", 40,
                    "--background", "#00ff00", fake=True, env=AI_CAMERA, home=tmp_path)
    assert camera.finish() == 0, camera.stderr
    green, red, on_square = _kept_and_replaced(frames_of(out)[-1])
    assert green > 0.8 and red > 0.04 and on_square > 0.8, (green, red, on_square)


def _serves_and_records_a_letterboxed_square(tmp_path, model, backend: str, env: dict | None = None) -> None:
    """`pibokeh camera` on a square network with a 16:9 stream: page, /stats naming the backend, a
    recording whose last frame keeps the fake scene's red square and replaces the rest."""
    out = tmp_path / "rec.mp4"
    # --skip-still 0: the fake camera's block moves a few pixels a frame against a background of nearly its
    # grey level, which the still-scene test (on a small grey copy) takes for a still scene; the last
    # frame's mask must be its own here
    camera = Camera("--source", "picamera2", "--model", model, "--size", "640x360", "--record", out, "--max-frames", 20,
                    "--background", "#00ff00", "--serve", "127.0.0.1:0", "--skip-still", "0", fake=True, env=env,
                    home=tmp_path)
    camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] > 0, what="first frame")
    assert camera.stats()["backend"] == backend
    assert camera.finish() == 0, camera.stderr
    green, red, on_square = _kept_and_replaced(frames_of(out)[-1])
    assert green > 0.8 and red > 0.025 and on_square > 0.8, (green, red, on_square)


def test_camera_on_the_hailo_fake_letterboxes_and_records(tmp_path):
    hef = hailo_network(tmp_path / "hailo", TINY_LABELS)  # square, like the zoo's 513x513 DeepLab
    _serves_and_records_a_letterboxed_square(tmp_path, hef, "hailo")


def test_camera_on_the_edgetpu_fake_serves_and_records(tmp_path):
    model = edgetpu_copy(tmp_path / "models", TINY_LABELS)  # square: 16:9 frames are letterboxed into it
    _serves_and_records_a_letterboxed_square(tmp_path, model, "edgetpu", env={"PYTHONPATH": str(CORAL_API)})


@pytest.mark.shared_data
def test_hailo_fake_at_513_gives_the_cpu_models_labels(tmp_path):
    """The fake Hailo answers with Coral's DeepLab at 513x513 (the zoo's network's shape): through the
    backend (letterbox, device, crop) a photo's class map is the CPU model's."""
    from pibokeh.model.hailo import HailoBackend
    photo = cv2.imread(str(need(MODELS.parent / "voc" / "voc2012_2007_000129.jpg")))
    hailo = HailoBackend(hailo_network(tmp_path, need(CORAL)), module=DEVICES)
    cpu = open_model(CORAL, threads=2)
    assert hailo.input_size == (513, 513) and hailo.device.runs == 0
    same = hailo.classes(photo) == cpu.classes(photo)
    assert same.mean() > 0.999 and hailo.device.runs == 1


def test_wrong_source_and_batch_use_of_the_ai_camera_are_one_line(tmp_path, pibokeh, clip):
    net = imx500_network(tmp_path / "net", TINY_WIDE)
    fakes = {**AI_CAMERA, "PYTHONPATH": os.pathsep.join([str(DEVICES_PATH), os.environ.get("PYTHONPATH", "")])}
    camera = Camera("--source", f"video:{clip}", "--model", net, fake=True, env=AI_CAMERA, home=tmp_path)
    assert camera.finish() == 2
    assert "runs on the AI Camera's sensor; use --source picamera2" in error_line(camera.stderr)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((40, 60, 3), 100, np.uint8))
    proc = pibokeh("blur", photo, "-o", tmp_path / "out", "--model", net, env=fakes)
    assert proc.returncode == 2 and "only `pibokeh camera --source picamera2` can use it" in error_line(proc.stderr)


def test_reload_keeps_the_network_on_the_sensor(tmp_path):
    """SIGHUP re-reads the settings; the network stays on the sensor (it was loaded before the camera)."""
    net = imx500_network(tmp_path / "net", TINY_WIDE)
    camera = Camera("--source", "picamera2", "--model", net, "--size", "320x180", "--serve", "127.0.0.1:0",
                    fake=True, env=AI_CAMERA, home=tmp_path)
    camera.wait_served()
    camera.wait_for(lambda: camera.stats()["frames_out"] > 3, what="frames")
    camera.proc.send_signal(signal.SIGHUP)
    camera.wait_for(lambda: "reloaded: model network.rpk" in camera.stderr, what="the reload")
    seen = camera.stats()["frames_out"]
    camera.wait_for(lambda: camera.stats()["frames_out"] > seen + 3, what="frames after the reload")
    camera.proc.send_signal(signal.SIGTERM)
    assert camera.finish() == 0, camera.stderr
    assert "reload failed" not in camera.stderr


DEVICES_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fakes")


def _tmp(name: str):
    import tempfile
    from pathlib import Path
    return Path(tempfile.mkdtemp(prefix=f"pibokeh-{name}-"))


def _box(rect) -> tuple:
    return rect.x, rect.y, rect.width, rect.height
