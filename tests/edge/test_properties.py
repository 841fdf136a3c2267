"""Property-based tests (Hypothesis): the core on random shapes, dtypes, channel counts and masks;
the option parser on random strings; the card validator on random JSON, card files on random bytes
and huge numbers; password files and Authorization headers on random text. Never a crash, shapes and
dtypes kept, the binary-mask blend picks pixels exactly, and every refusal is one line."""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pibokeh import core, options
from pibokeh import styles
from pibokeh.camera import options as camera_options
from pibokeh.camera.auth import Authenticator, hash_password, read_users
from pibokeh.model.card import card_problem
from pibokeh.cli import build_parser

from tests.conftest import TINY

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- the core -----------------------------------------------------------------------------------

@st.composite
def images(draw, max_side: int = 48):
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([0, 1, 3, 4]))  # 0: a 2-D grayscale array
    shape = (height, width) if channels == 0 else (height, width, channels)
    return draw(arrays(dtype, shape, elements=st.integers(0, np.iinfo(dtype).max)))


@st.composite
def masks(draw, shape):
    return draw(arrays(np.uint8, shape[:2], elements=st.sampled_from([0, 255])))


@st.composite
def looks(draw):
    kind = draw(st.sampled_from(["blur", "lens", "colour", "replace", "transparent"]))
    if kind == "blur":
        background = styles.Blur(draw(st.integers(0, 40)) * 2 + 1)
    elif kind == "lens":
        background = styles.Lens(draw(st.integers(0, 40)) * 2 + 1, draw(st.sampled_from([0, 5, 9])),
                                 draw(st.sampled_from([0.0, 0.5, 1.0])), draw(st.sampled_from([0.0, 0.3])))
    elif kind == "colour":
        background = styles.Color(tuple(draw(st.integers(0, 255)) for _ in range(3)))
    elif kind == "replace":
        background = styles.Replace(draw(images(24)))
    else:
        background = styles.Transparent()
    feather = draw(st.sampled_from([0, 0, 1, 3, 9, 31]))
    return styles.Style(background=background, feather=feather, exact=draw(st.booleans()))


@FAST
@given(st.data())
def test_compose_keeps_shape_and_dtype_for_any_image_mask_and_style(data):
    image = data.draw(images())
    mask = data.draw(masks(image.shape))
    style = data.draw(looks())
    out = core.compose(image, mask, style)
    assert out.dtype == image.dtype and out.shape[:2] == image.shape[:2]
    if isinstance(style.background, styles.Transparent):
        assert out.shape[2] == 4
        alpha = out[..., 3]
        if style.feather <= 1:  # alpha is the mask, at the image's depth
            assert np.array_equal(alpha > 0, mask > 0)
    else:
        assert out.shape == image.shape


def colour_like(bgr: tuple[int, int, int], image: np.ndarray) -> np.ndarray:
    """A frame of colour `bgr` in the format of `image`, worked out without pibokeh: grey by OpenCV's
    BGR-to-grey weights, opaque alpha, 16 bits as value * 257 (so that 255 stays white)."""
    grey = int(cv2.cvtColor(np.array([[bgr]], np.uint8), cv2.COLOR_BGR2GRAY)[0, 0])
    channels = 1 if image.ndim == 2 else image.shape[2]
    pixel = np.array({1: [grey], 3: list(bgr), 4: [*bgr, 255]}[channels], np.int64)
    pixel *= 257 if image.dtype == np.uint16 else 1
    return np.broadcast_to(pixel, image.shape[:2] + (channels,)).reshape(image.shape).astype(image.dtype)


@FAST
@given(st.data())
def test_the_binary_mask_blend_picks_pixels_exactly(data):
    image = data.draw(images())
    mask = data.draw(masks(image.shape))
    colour = tuple(data.draw(st.integers(0, 255)) for _ in range(3))
    out = core.compose(image, mask, styles.Style(background=styles.Color(colour)))
    background = colour_like(colour, image)
    keep = mask > 0 if image.ndim == 2 else (mask > 0)[..., None]
    expected = np.where(keep, image, background)
    if image.ndim == 3 and image.shape[2] == 4:  # an input alpha passes through untouched
        expected[..., 3] = image[..., 3]
    assert np.array_equal(out, expected)


@FAST
@given(labels=arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.integers(0, 25)),
       size=st.tuples(st.integers(1, 80), st.integers(1, 80)),
       ids=st.lists(st.integers(0, 30), min_size=1, max_size=4))
def test_frame_mask_is_binary_and_frame_sized(labels, size, ids):
    mask = core.frame_mask(labels, ids, size)
    assert mask.shape == size and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}


# ---- the option parser --------------------------------------------------------------------------

TYPES = [options.positive_int, options.non_negative_int, options.thread_count, options.odd_kernel,
         options.odd_or_zero, options.positive_float, options.non_negative_float, options.frame_size,
         options.pixel_count, camera_options.address, camera_options.host_name, camera_options.smoothing]
texts = st.one_of(st.text(max_size=30), st.from_regex(r"-?[0-9]{0,14}(\.[0-9]*)?(e-?[0-9]{1,4})?[xXmMpP]?[0-9]*",
                                                      fullmatch=True))


@FAST
@given(kind=st.sampled_from(TYPES), text=texts)
def test_option_types_accept_in_range_or_refuse_in_one_line(kind, text):
    try:
        value = kind(text)
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    except ValueError:  # argparse turns these into "invalid ... value" itself
        return
    if isinstance(value, float):
        assert np.isfinite(value)
    if kind in (options.odd_kernel, options.odd_or_zero):
        assert 0 <= value <= options.MAX_KERNEL and (value == 0 or value % 2 == 1)
    if kind is options.thread_count:
        assert 1 <= value <= options.MAX_THREADS


@settings(max_examples=60, deadline=None)
@given(option=st.sampled_from(["--blur-kernel", "--feather", "--threads", "--max-pixels", "--classes",
                               "--background", "--backend", "--model"]), text=st.text(max_size=20))
def test_the_whole_parser_ends_in_one_line_or_a_namespace(option, text):
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(["blur", "in.jpg", "-o", "out", f"{option}={text}"])
    except SystemExit as stop:
        assert stop.code == 2
        assert len(stderr.getvalue().strip().splitlines()) == 1 and "error:" in stderr.getvalue()
        return
    assert args.command == "blur"


# ---- the card validator -------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
GOOD = json.loads(TINY.with_suffix(".json").read_text())
FIELDS = ["format", "family", "input", "output", "labels", "size_bytes", "output_stride", "converter",
          "input.mean", "input.std", "input.size", "input.width", "input.dtype", "output.kind", "output.shape"]


def _check_problem(problem) -> None:
    assert problem is None or (isinstance(problem, str) and "\n" not in problem and len(problem) < 300)


@FAST
@given(card=json_values)
def test_random_json_is_a_card_or_one_line(card):
    _check_problem(card_problem(card))


@FAST
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_a_good_card_with_one_field_replaced_is_a_card_or_one_line_naming_it(field, value):
    card = json.loads(json.dumps(GOOD))
    if "." in field:
        top, key = field.split(".")
        card[top][key] = value
    else:
        card[field] = value
    problem = card_problem(card)
    _check_problem(problem)
    if problem is not None:
        assert problem.startswith(field.split(".")[0])


# ---- card files, as read from disk ----------------------------------------------------------------

card_texts = st.one_of(
    st.binary(max_size=200),
    json_values.map(json.dumps),
    st.builds(lambda digits, field: json.dumps(GOOD).replace(f'"{field}": ', f'"{field}": {digits}, "was": ', 1),
              st.integers(1, 6000).map(lambda n: "9" * n), st.sampled_from(["size_bytes", "format", "family"])),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
)


@FAST
@given(text=card_texts)
def test_any_card_file_is_a_card_or_one_line(tmp_path_factory, text):
    from pibokeh.errors import ModelError
    from pibokeh.model.card import read_card
    model = tmp_path_factory.mktemp("card") / "m.tflite"
    model.with_suffix(".json").write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        card = read_card(model)
    except ModelError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert isinstance(card, dict)


# ---- the password file and the login check --------------------------------------------------------

GOOD_LINE = "alice:" + hash_password("alice secret", n=2)  # a real entry, cheap to check (n=2)
auth_lines = st.one_of(st.just(GOOD_LINE), st.text(max_size=60),
                       st.builds(lambda user, parts: f"{user}:scrypt$" + "$".join(parts),
                                 st.text(max_size=8), st.lists(st.text(max_size=12), min_size=0, max_size=7)))


@FAST
@given(lines=st.lists(auth_lines, max_size=6), mode=st.sampled_from([0o600, 0o640, 0o644, 0o660, 0o602]))
def test_any_password_file_is_users_or_one_line(tmp_path_factory, lines, mode):
    from pibokeh.errors import InputError
    path = tmp_path_factory.mktemp("auth") / "users"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    path.chmod(mode)
    try:
        users = read_users(path)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
        return
    assert mode in (0o600, 0o640) and users and all(stored.startswith("scrypt$") for stored in users.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
                        st.builds(lambda u, p: "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode(),
                                  st.sampled_from(["alice", "bob", ""]), st.text(max_size=20))),
       client=st.sampled_from(["192.0.2.1", "::1", "10.0.0.7"]))
def test_any_authorization_header_is_a_verdict(header, client):
    verdict = AUTH.check(header, client)
    assert verdict.wait >= 0 and (verdict.login is None or verdict.login.user == "alice")
    if verdict.login is not None:
        assert header == "Basic " + base64.b64encode(b"alice:alice secret").decode()


AUTH = Authenticator({"alice": GOOD_LINE.split(":", 1)[1]})
