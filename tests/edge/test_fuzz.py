"""A bounded fuzz run (fixed seed, a few hundred cases, well under 60 s): mutated JPEG, PNG, MP4, TFLite
and model-card bytes through `pibokeh mask`, mutated password files through `pibokeh passwd`. Every run must end with exit 0, 1 or 2 - never a
traceback, never a signal (a crash, or the out-of-memory killer)."""
from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
from pathlib import Path

import cv2

from tests.conftest import TINY
from tests.helpers import clean_env, command, scene, write_clip

SEED = 13
MEMORY_LIMIT = 4 << 30  # a runaway allocation fails inside the process instead of taking the machine


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few of the classic mutations: byte flips, boundary values, truncation, a copied slice, a
    4-byte field set to a huge number."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(5)
        at = rng.randrange(len(out))
        if kind == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80])
        elif kind == 2 and len(out) > 16:
            del out[rng.randrange(8, len(out)):]
        elif kind == 3:
            length = rng.randint(1, 64)
            out[at:at] = out[rng.randrange(len(out)):][:length]
        else:
            out[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00"])
    return bytes(out)


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def assert_clean(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode in (0, 1, 2), f"{what}: exit {proc.returncode} (a negative one is a signal)\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, f"{what}:\n{proc.stderr[-3000:]}"


def test_mutated_images_and_videos_through_pibokeh_mask(tmp_path):
    rng = random.Random(SEED)
    frame = scene((64, 48), 3)[0]
    seeds = {".jpg": cv2.imencode(".jpg", frame)[1].tobytes(), ".png": cv2.imencode(".png", frame)[1].tobytes(),
             ".mp4": write_clip(tmp_path / "seed.mp4", frames=6, size=(64, 48)).read_bytes()}
    counts = {".jpg": 130, ".png": 130, ".mp4": 30}
    batches: list[list[Path]] = [[], [], []]
    for suffix, count in counts.items():
        for n in range(count):
            path = tmp_path / "in" / f"{suffix[1:]}{n:03d}{suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(mutate(seeds[suffix], rng))
            batches[n % 3].append(path)
    for number, batch in enumerate(batches):
        proc = subprocess.run(command() + ["mask", *map(str, batch), "-o", str(tmp_path / f"out{number}"),
                                           "--model", str(TINY), "--threads", "1", "-q", "--max-pixels", "1M"],
                              capture_output=True, text=True, env=clean_env(tmp_path), timeout=300,
                              preexec_fn=limited)
        assert_clean(proc, f"batch {number}")
        lines = proc.stderr.strip().splitlines()
        assert all(line.startswith("pibokeh: ") for line in lines), proc.stderr[-2000:]  # no decoder chatter


DRIVER = r"""
import io, json, sys, traceback
from pibokeh.cli import main
stdin, cases = sys.argv[1], json.loads(sys.argv[2])
for case in cases:
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    try:
        code = main(case)
    except SystemExit as stop:
        code = stop.code
    except BaseException:
        print(json.dumps({"case": case, "traceback": traceback.format_exc()}), flush=True)
        continue
    print(json.dumps({"case": case, "code": code}), flush=True)
"""


def in_one_process(tmp_path: Path, cases: list[list[str]], stdin: str = "") -> list[dict]:
    """Each case (a `pibokeh` command line) run by `main` in one process, which must live through them
    all: {"case", "code"} or {"case", "traceback"} for each."""
    proc = subprocess.run([sys.executable, "-c", DRIVER, stdin, json.dumps(cases)], capture_output=True, text=True,
                          env=clean_env(tmp_path), timeout=300, preexec_fn=limited)
    assert_clean(proc, cases[0][0])
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(cases), proc.stderr[-3000:]  # the process lived through every case
    return results


def test_mutated_models_and_cards_through_pibokeh_mask(tmp_path):
    rng = random.Random(SEED + 1)
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), scene((64, 48), 0)[0])
    model_bytes, card_text = TINY.read_bytes(), TINY.with_suffix(".json").read_text()
    models = []
    for n in range(120):  # damaged models, with the good card
        path = tmp_path / "models" / f"model{n:03d}.tflite"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(mutate(model_bytes, rng))
        models.append(path)
    for n in range(120):  # the good model, with damaged cards (bytes, and JSON values swapped)
        path = tmp_path / "cards" / f"card{n:03d}.tflite"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(model_bytes)
        if n % 2:
            path.with_suffix(".json").write_bytes(mutate(card_text.encode(), rng))
        else:
            card = json.loads(card_text)
            key = rng.choice(sorted(card))
            card[key] = rng.choice([None, -1, 0, 1e308, "x" * 50, [], {}, [1, "a"], {"mean": "x"}, True, 10 ** 4000])
            text = json.dumps(card)
            if n % 10 == 0:  # a number past Python's 4300-digit limit for reading integers
                text = text.replace("{", '{"huge": ' + "7" * rng.randint(4301, 6000) + ", ", 1)
            path.with_suffix(".json").write_text(text)
        models.append(path)
    results = in_one_process(tmp_path, [["mask", str(image), "-o", str(tmp_path / "out" / str(n)), "--model", str(model),
                                          "--threads", "1", "-q"] for n, model in enumerate(models)])
    broken = [r for r in results if "traceback" in r or r["code"] not in (0, 1, 2)]
    assert broken == [], broken[:3]
    assert sum(r["code"] == 2 for r in results) > 50  # most damage is noticed, not ignored


def test_mutated_password_files_through_pibokeh_passwd(tmp_path):
    from pibokeh.camera.auth import read_users, write_user
    rng = random.Random(SEED + 2)
    good = tmp_path / "good"
    for user in ("alice", "bob"):
        write_user(good, user, f"{user} password")
    text = good.read_bytes()
    cases = []
    for n in range(80):
        path = tmp_path / "files" / f"users{n:03d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(mutate(text, rng))
        path.chmod(rng.choice([0o600, 0o640, 0o644]))
        cases.append(path)
    results = in_one_process(tmp_path, [["passwd", str(path), "carol"] for path in cases], stdin="a new secret 1\n")
    assert all("traceback" not in r and r["code"] in (0, 2) for r in results), \
        [r for r in results if "traceback" in r][:2]
    for result in results:  # a file rewritten is a good password file, private, with carol in it
        if result["code"] == 0:
            path = Path(result["case"][1])
            assert "carol" in read_users(path) and (path.stat().st_mode & 0o777) == 0o640
    assert sum(r["code"] == 2 for r in results) > 20  # most damage is noticed, not written over
