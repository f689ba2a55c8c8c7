"""The failure classifier on the messages real workers and real Blender 3.4 give, the retry
decision of each category, the worker's wording of how a process ended, and the summary."""

from __future__ import annotations

import signal

import pytest

from foxden.core.failures import (
    KINDS,
    SUMMARY_CHARS,
    Category,
    advice,
    classify,
    ended_by,
    headline,
    retried,
    summarize,
)

C = Category

# (the error a worker reports, the category); the Blender lines are as Blender 3.4.1 and
# foxden_render.py print them (tests/worker/ renders the same scenes end to end).
CASES = [
    (
        "Blender exited with status 1: camera 'CamC' not found in scene 'Scene'; "
        "its cameras are: CamA, CamB",
        C.BAD_CAMERA_OR_LAYER,
    ),
    (
        "Blender exited with status 1: render layer 'LayerZ' not found in scene 'Scene'; "
        "its view layers are: LayerA, LayerB",
        C.BAD_CAMERA_OR_LAYER,
    ),
    ("Blender exited with status 1: scene 'Scene' has no camera: set one", C.BAD_CAMERA_OR_LAYER),
    (
        "Blender exited with status 1: Python error in a scene script while loading the "
        "scene: RuntimeError: boom: the scene script failed",
        C.SCENE_SCRIPT_ERROR,
    ),
    (
        "Blender exited with status 1: Blender cannot open /v/p/shot/trunc.blend: Error: "
        "Loading '/v/p/shot/trunc.blend' failed: Failed to read blend file "
        "'/v/p/shot/trunc.blend': Missing DNA block",
        C.CORRUPT_INPUT,
    ),
    (
        "Blender exited with status 1: Blender cannot open /v/p/pic.blend: Error: File "
        "format is not supported in file '/v/p/pic.blend'",
        C.CORRUPT_INPUT,
    ),
    (
        "cannot fetch the task's inputs: input 3f2a9c1b0d4e arrived damaged (10 bytes, hash "
        "00aa11bb22cc; expected 12 bytes) 3 times in a row: it is damaged on the farm or on "
        "the way",
        C.CORRUPT_INPUT,
    ),
    (
        "Blender exited with status 1: Blender cannot open /v/p/gone.blend: Error: Cannot "
        "read file '/v/p/gone.blend': No such file or directory",
        C.MISSING_INPUT,
    ),
    ("cannot fetch the task's inputs: input 3f2a is not available: not found", C.MISSING_INPUT),
    ("Blender exited with signal 11 (SIGSEGV): Blender crashed", C.RENDERER_CRASH),
    (
        "blender exited with status -6: Blender crashed (crash report /tmp/x.crash.txt)",
        C.RENDERER_CRASH,
    ),
    (
        "Blender exited with status 1 (out of memory: the limit is 4 GiB per process): MemoryError",
        C.OUT_OF_MEMORY,
    ),
    ("Blender exited with status 1: Error: System is out of GPU memory", C.OUT_OF_MEMORY),
    ("Blender used up the CPU time limit (600 s per process; SIGXCPU): ", C.TIMEOUT),
    (
        "Blender exited with status 1: Python error while rendering frame 1: PermissionError: "
        "[Errno 13] Permission denied: '/etc/passwd'",
        C.SANDBOX_REFUSAL,
    ),
    # the sandbox failed to start: the worker's trouble, retried (elsewhere, perhaps)
    ("bwrap: Can't mount proc on /newroot/proc: Operation not permitted", C.UNKNOWN),
    ("Blender exited with status 1: bwrap: Creating new namespace failed", C.UNKNOWN),
    ("python3 exited with status 1: Operation not permitted", C.SANDBOX_REFUSAL),
    (
        "Blender exited with status 1 (cannot start more processes: the limit is 64, threads "
        "count): ",
        C.SANDBOX_REFUSAL,
    ),
    ("the worker stopped answering (lease expired)", C.UNKNOWN),
    ("frame 3 wrote no output file", C.UNKNOWN),
    ("", C.UNKNOWN),
]


@pytest.mark.parametrize(("error", "category"), CASES)
def test_classify_reads_the_reported_error(error: str, category: Category) -> None:
    assert classify(error) is category


def test_the_log_tells_when_the_error_does_not() -> None:
    log = "Read blend: /v/p/a.blend\nFra:1 Mem:12M\nError: Out of memory in CUDA queue\n"
    assert classify("Blender exited with status 1: ", log) is C.OUT_OF_MEMORY
    # the error wins over the log
    assert classify("camera 'X' not found", log) is C.BAD_CAMERA_OR_LAYER
    assert classify("Blender exited with status 1: ", "Fra:1 all fine\n") is C.UNKNOWN
    # a warning in the log does not make a failure deterministic
    warned = "foxden: warning: missing file v:/p/t.png\nfoxden: error: camera 'X' not found\n"
    assert classify("frame 1 wrote no output file", warned) is C.UNKNOWN
    # the first line (how it ended, its first reason) before the lines the worker added
    tail = "python3 exited with signal 11 (SIGSEGV): reading /v/a.png\nNo such file or directory"
    assert classify(tail) is C.RENDERER_CRASH
    assert classify("Blender exited with status 1: \nError: Python: Traceback") is (
        C.SCENE_SCRIPT_ERROR
    )


def test_deterministic_categories_are_not_retried() -> None:
    never = {C.MISSING_INPUT, C.BAD_CAMERA_OR_LAYER, C.SCENE_SCRIPT_ERROR}
    never |= {C.CORRUPT_INPUT, C.SANDBOX_REFUSAL}
    assert {c for c in C if not retried(c)} == never
    assert all(retried(c) for c in (C.RENDERER_CRASH, C.OUT_OF_MEMORY, C.TIMEOUT, C.UNKNOWN))
    for category in C:  # one sentence of advice each, and every category has its kind
        text = advice(category)
        assert text.endswith(".") and text.count(". ") == 0 and len(text) < 240
    assert set(KINDS) == set(C)
    assert max(len(c.value) for c in C) <= 32  # frames.failure_category is String(32)


def test_the_worker_words_how_a_process_ended() -> None:
    assert ended_by(-signal.SIGSEGV) == "exited with signal 11 (SIGSEGV)"
    assert ended_by(128 + signal.SIGABRT) == "exited with signal 6 (SIGABRT)"  # through bwrap
    assert ended_by(1) == "exited with status 1"
    assert ended_by(0) == "exited with status 0"


def test_headline_keeps_the_renderers_reason_on_one_line() -> None:
    assert headline("Blender exited with status 1: camera 'C' not found\nTraceback") == (
        "camera 'C' not found"
    )
    assert headline("Blender exited with status 1: \n  Error: x\n") == "Error: x"
    crash = "Blender exited with signal 11 (SIGSEGV): Blender crashed"
    assert headline(crash) == crash
    assert len(headline("x" * 1000)) == 240 and headline("x" * 1000).endswith("...")


def test_summary_groups_by_category_most_frequent_first_and_is_bounded() -> None:
    camera = "Blender exited with status 1: camera 'CamC' not found in scene 'Scene'"
    crash = "Blender exited with signal 11 (SIGSEGV): Blender crashed"
    assert summarize(24, []) == ""
    assert summarize(24, [("bad_camera_or_layer", camera, 2)]) == (
        "2 of 24 frames failed: camera 'CamC' not found in scene 'Scene'"
    )
    mixed = summarize(
        24,
        [
            ("renderer_crash", crash, 1),
            (None, camera, 2),  # a row from before categories: classified here
            ("bad_camera_or_layer", camera.replace("CamC", "CamD"), 1),
        ],
    )
    assert mixed == (
        "4 of 24 frames failed: 3 bad camera or layer: camera 'CamC' not found in scene "
        "'Scene'; 1 renderer crash: Blender exited with signal 11 (SIGSEGV): Blender crashed"
    )
    many = [(c.value, f"{c.value} " + "y" * 300, 1) for c in C]
    text = summarize(100, many)
    assert len(text) == SUMMARY_CHARS and text.startswith("9 of 100 frames failed: 1 ")
