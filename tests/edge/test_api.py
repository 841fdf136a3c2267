"""The front door: `import pibokeh` as a program uses it, outside the repository. The README's Python
section runs as written; `pibokeh.mask` and `pibokeh.blur` give the pixels the commands write."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pibokeh
import pytest
from pibokeh.model import open_model

from tests.conftest import CORAL, ROOT, TINY, VOC, need
from tests.helpers import clean_env, red_square, write_clip


def readme_python(section: str = "## Use it from Python") -> list[str]:
    text = (ROOT / "README.md").read_text()
    part = text[text.index(section):]
    part = part[: part.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", part, re.S)


def test_the_readme_python_section_runs_as_written(tmp_path):
    blocks = readme_python()
    assert len(blocks) >= 2
    image, _ = red_square((120, 160))
    cv2.imwrite(str(tmp_path / "photo.jpg"), image)
    write_clip(tmp_path / "clip.mp4")
    env = clean_env(tmp_path, {"PIBOKEH_MODEL": str(TINY)})  # the default model search finds the tiny model
    proc = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)  # the blocks as one session, as a reader types them
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "blurred.jpg").is_file() and (tmp_path / "out" / "clip.mp4").is_file()
    assert "45 frames -> out/clip.mp4" in proc.stdout and "cannot use it: no-such-model.tflite" in proc.stdout


def _in_a_program(tmp_path: Path, code: str) -> dict:
    """Run `code` as a user's program would (installed package, away from the repository); it prints JSON."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=clean_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mask_and_blur_give_the_pixels_the_commands_write(tmp_path, pibokeh):
    """With Google's model on a photo of people: the API's mask is `pibokeh mask`'s PNG, pixel for pixel;
    its blur is `pibokeh blur`'s output (a PNG input, so the output is lossless too)."""
    photo = need(VOC) / "voc2012_2007_000129.jpg"
    model = need(CORAL)
    png = tmp_path / "photo.png"
    cv2.imwrite(str(png), cv2.imread(str(photo)))
    options = ["--classes", "person", "--background", "green", "--feather", "7"]
    for command, extra in (("mask", ["--classes", "person"]), ("blur", options)):
        proc = pibokeh(command, png, "-o", tmp_path / command, "--model", model, "--threads", "2", *extra)
        assert proc.returncode == 0, proc.stderr
    code = f"""
import json, cv2, numpy as np, pibokeh
model = pibokeh.load_model({str(model)!r}, threads=2)
frame = cv2.imread({str(png)!r})
mask = pibokeh.mask(frame, model, classes=["person"])
out = pibokeh.blur(frame, model, classes="person", background="green", feather=7)
cli_mask = cv2.imread({str(tmp_path / 'mask' / 'photo.png')!r}, cv2.IMREAD_UNCHANGED)
cli_out = cv2.imread({str(tmp_path / 'blur' / 'photo.png')!r}, cv2.IMREAD_UNCHANGED)
print(json.dumps({{"mask_same": bool(np.array_equal(mask, cli_mask)), "out_same": bool(np.array_equal(out, cli_out)),
                  "person": float((mask > 0).mean()), "shape": list(out.shape)}}))
"""
    result = _in_a_program(tmp_path, code)
    assert result["mask_same"] and result["out_same"], result
    assert 0.05 < result["person"] < 0.95 and result["shape"][:2] == list(cv2.imread(str(png)).shape[:2])


def test_backgrounds_are_taken_as_people_write_them():
    seg = open_model(TINY, threads=1)
    image, truth = red_square((120, 160))
    outside = cv2.erode((truth == 0).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0  # away from the edge
    assert np.all(pibokeh.blur(image, seg, background="green")[outside] == (0, 255, 0))
    assert np.all(pibokeh.blur(image, seg, background="#ff0000")[outside] == (0, 0, 255))  # written RGB
    assert np.all(pibokeh.blur(image, seg, background=(255, 0, 0))[outside] == (255, 0, 0))  # a BGR tuple
    picture = np.full((10, 10, 3), 77, np.uint8)
    assert np.all(pibokeh.blur(image, seg, background=picture)[outside] == 77)
    cut = pibokeh.blur(image, seg, background="transparent")
    assert cut.shape == (120, 160, 4) and np.all(cut[..., 3][outside] == 0)
    inside = cv2.erode(truth, np.ones((15, 15), np.uint8)) > 0
    assert np.array_equal(pibokeh.blur(image, seg)[inside], image[inside])  # the person is untouched


@pytest.mark.parametrize("call, message", [
    (lambda seg: pibokeh.blur(np.zeros((5, 5, 3), np.uint8), seg, background="plaid"), "not blur, transparent"),
    (lambda seg: pibokeh.blur(np.zeros((5, 5, 3), np.uint8), seg, background=(1, 2)), "three values"),
    (lambda seg: pibokeh.mask(np.zeros((5, 5, 3), np.uint8), seg, classes=["unicorn"]), "unknown class"),
    (lambda seg: pibokeh.mask(np.zeros((5, 5), np.float64), seg), "8- or 16-bit"),
    (lambda seg: pibokeh.blur(np.zeros((5, 5, 3), np.uint8), seg, feather=4), "odd"),
    (lambda seg: pibokeh.load_model("no/such/model.tflite"), "no such model file"),
])
def test_mistakes_are_pibokeh_errors_with_one_line(call, message):
    seg = open_model(TINY, threads=1)
    with pytest.raises(pibokeh.PibokehError) as caught:
        call(seg)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_process_video_keeps_every_frame(tmp_path, clip):
    result = pibokeh.process_video(clip, tmp_path / "out.mp4", open_model(TINY, threads=1), background="blue")
    assert result.frames == 45 and result.path.is_file()
    cap = cv2.VideoCapture(str(result.path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 45
