"""Why a frame failed: one category per failed attempt, one sentence of advice each, and
whether the farm tries the frame again.

The server classifies what a worker tells it (the reported error and the frame's log), so a
report from any worker, old ones included, gets a category (`UNKNOWN` at worst). The worker
words how a renderer ended in one way (`ended_by`): "Blender exited with signal 11 (SIGSEGV)",
"Blender exited with status 1: <the renderer's own error>".

Deterministic failures are not retried: the same inputs fail the same way on any worker, so a
frame's remaining attempts would only repeat them.

* missing input, bad camera or layer, scene script error: the scene or its files must change;
* corrupt input: the worker already fetched the damaged input `MAX_DAMAGED` times before it
  gave up, and Blender refuses a damaged .blend the same way every time;
* sandbox refusal: the sandbox (or a limit of the worker) refuses the same thing every time.

Transient failures are retried while attempts are left:

* renderer crash: crashes come from drivers, hardware and races as well as from scenes;
* out of memory: another worker may have more memory, or run fewer frames beside it;
* timeout: another worker may be faster or less busy;
* unknown: nothing says it would happen again (a worker that stopped answering, a sandbox that
  would not start on one worker).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """What kind of failure one attempt of a frame ended in."""

    MISSING_INPUT = "missing_input"
    BAD_CAMERA_OR_LAYER = "bad_camera_or_layer"
    SCENE_SCRIPT_ERROR = "scene_script_error"
    RENDERER_CRASH = "renderer_crash"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    CORRUPT_INPUT = "corrupt_input"
    SANDBOX_REFUSAL = "sandbox_refusal"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Kind:
    """What foxden knows of a category: its name in words, whether it is retried, advice."""

    label: str
    retried: bool
    advice: str


KINDS: Mapping[Category, Kind] = {
    Category.MISSING_INPUT: Kind(
        "missing input",
        False,
        "Upload the missing file to the path the scene uses (or fix the path in the scene), "
        "then restart the failed frames.",
    ),
    Category.BAD_CAMERA_OR_LAYER: Kind(
        "bad camera or layer",
        False,
        "Submit again with one of the camera or view layer names the error lists (or leave "
        "them empty to render the scene's own).",
    ),
    Category.SCENE_SCRIPT_ERROR: Kind(
        "scene script error",
        False,
        "Fix the Python error in the scene's scripts, drivers or handlers (the frame's log "
        "has the traceback), upload the scene and restart the failed frames.",
    ),
    Category.RENDERER_CRASH: Kind(
        "renderer crash",
        True,
        "The renderer crashed and the frame was tried again; if it crashes every time, "
        "simplify the scene or try another version of the software.",
    ),
    Category.OUT_OF_MEMORY: Kind(
        "out of memory",
        True,
        "The frame ran out of memory and was tried again; if it keeps failing, lower the "
        "resolution, samples or texture sizes, or ask for workers with more memory.",
    ),
    Category.TIMEOUT: Kind(
        "timeout",
        True,
        "The frame took longer than the farm allows and was tried again; if it keeps "
        "failing, lower its render time (samples, resolution) or ask for a longer limit.",
    ),
    Category.CORRUPT_INPUT: Kind(
        "corrupt input",
        False,
        "A file the frame needs is damaged: check that it opens on your computer, upload "
        "it again and restart the failed frames.",
    ),
    Category.SANDBOX_REFUSAL: Kind(
        "sandbox refusal",
        False,
        "The render tried something the farm's sandbox does not allow (network, files "
        "outside the task, too many processes or too large a file): remove that from the "
        "scene, or ask an administrator for the project's rights.",
    ),
    Category.UNKNOWN: Kind(
        "unknown",
        True,
        "Read the frame's log for the reason; if the frame fails again the same way, ask "
        "the farm's administrator.",
    ),
}


def advice(category: Category | str) -> str:
    """One sentence that says what to do about a failure of this category."""
    return KINDS[Category(category)].advice


def retried(category: Category | str) -> bool:
    """Whether a frame that failed this way goes back to the queue while attempts are left."""
    return KINDS[Category(category)].retried


def label(category: Category | str) -> str:
    """The category in words ("renderer crash")."""
    return KINDS[Category(category)].label


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# In order: the first category whose pattern matches wins (a damaged input is also one that
# could not be fetched; a script's PermissionError is the sandbox's refusal; an out-of-memory
# kill and a CPU time limit also end the renderer with a signal).
_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    # bubblewrap itself failed to set the sandbox up: that worker's trouble, not the scene's
    (Category.UNKNOWN, _any(r"\bbwrap: ")),
    (
        Category.BAD_CAMERA_OR_LAYER,
        _any(
            r"\bcamera '[^']*' not found",
            r"\b(?:render|view) layer '[^']*' not found",
            r"\bhas no camera\b",
            r"\bno view layer enabled\b",
            # Maya's Render
            r"\bcannot find (?:the )?(?:camera|render ?layer)\b",
            r"\b(?:camera|render ?layer) [\"'][^\"']*[\"'] (?:does not exist|not found)",
            r"\b(?:invalid|unknown) (?:camera|render ?layer)\b",
            r"\bno renderable cameras?\b",
        ),
    ),
    (
        Category.CORRUPT_INPUT,
        _any(
            r"\barrived damaged\b",
            r"\bfailed to read blend file\b",
            r"\bfile format is not supported\b",
            r"\bnot a (?:\.?blend|blender) file\b",
            r"\bmissing DNA block\b",
            r"\b(?:file|image) (?:is )?(?:corrupt|truncated)\b",
            # ffmpeg reading a damaged frame or movie
            r"\bInvalid data found when processing input\b",
            r"\berror while decoding\b",
        ),
    ),
    (
        Category.MISSING_INPUT,
        _any(
            r"\bcannot fetch the task's inputs\b",
            r"\binput \w+ is not available\b",
            r"\bno such file or directory\b",
            r"\bmissing file\b",
            r"\bcannot read file\b",
            r"\bhas no frames to (?:make a movie of|encode)\b",  # a movie task (farm/movies.py)
            # Maya's Render and its renderers
            r"\bfile not found\b",
            r"\bcannot find file\b",
            r"\b(?:could not|unable to|failed to) (?:open|find|load) (?:the )?"
            r"(?:file|texture|image|reference|cache)\b",
        ),
    ),
    (
        Category.SANDBOX_REFUSAL,
        _any(
            r"\bread-only file system\b",
            r"\bnetwork is unreachable\b",
            r"\btemporary failure in name resolution\b",
            r"\bPermissionError\b",
            r"\boperation not permitted\b",
            r"\bcannot start more processes\b",
            r"\blarger than the file size limit\b",
            r"\bSIGXFSZ\b",
        ),
    ),
    (
        Category.OUT_OF_MEMORY,
        _any(
            r"\bout of (?:GPU |device |host )?memory\b",
            r"\bMemoryError\b",
            r"\bbad_alloc\b",
            r"\bcannot allocate memory\b",
        ),
    ),
    (
        Category.TIMEOUT,
        _any(r"\bCPU time limit\b", r"\bSIGXCPU\b", r"\btimed out\b", r"\btime limit\b"),
    ),
    (
        Category.SCENE_SCRIPT_ERROR,
        _any(r"\bPython error\b", r"\bTraceback \(most recent call last\)", r"\bError: Python:"),
    ),
    (
        Category.RENDERER_CRASH,
        _any(
            r"\bexited with signal \d+",
            r"\bexited with status -\d+",
            r"\bcrashed\b",
            r"\bsegmentation fault\b",
            r"\bcore dumped\b",
            r"\bSIG(?:SEGV|ABRT|BUS|ILL|FPE)\b",
        ),
    ),
)

LOG_TAIL = 16_000  # characters of a frame's log read when its error names no cause


def classify(error: str, log: str = "") -> Category:
    """The category of a failed attempt: from the error the worker reported, its first line
    (how the renderer ended and its most telling reason) before the rest; when the error names
    no known cause, from the end of the attempt's log, which can only tell a transient
    category (a log also holds warnings about what did not stop the render: a deterministic
    verdict, which spends no more attempts, is taken only from the error)."""
    first, _, rest = error.strip().partition("\n")
    for text, transient_only in ((first, False), (rest, False), (log[-LOG_TAIL:], True)):
        if not text:
            continue
        for category, pattern in _RULES:
            if transient_only and not retried(category):
                continue
            if pattern.search(text):
                return category
    return Category.UNKNOWN


def signal_words(signum: int) -> str:
    """A signal as the worker words it: "signal 11 (SIGSEGV)"."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
    return f"signal {signum} ({name})"


def ended_by(returncode: int) -> str:
    """How a process ended, in the worker's one wording: "exited with signal 11 (SIGSEGV)"
    (a negative status, or 128 + the signal as a sandbox or a shell passes it on), or
    "exited with status 1"."""
    if returncode < 0:
        return f"exited with {signal_words(-returncode)}"
    if 128 < returncode < 128 + 65:
        return f"exited with {signal_words(returncode - 128)}"
    return f"exited with status {returncode}"


_ENDED = re.compile(r"^\S+ exited with status \d+: ")
HEADLINE_CHARS = 240


def headline(error: str) -> str:
    """The telling part of an error: its first line (a worker puts the renderer's own reason
    first, one per line), without how the process ended when a reason follows ("camera 'CamC'
    not found ..." of "Blender exited with status 1: camera 'CamC' not found ..."), at most
    HEADLINE_CHARS characters."""
    text = _ENDED.sub("", error.strip(), count=1)
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    if len(line) > HEADLINE_CHARS:
        line = line[: HEADLINE_CHARS - 3].rstrip() + "..."
    return line


SUMMARY_CHARS = 600


def summarize(frame_count: int, failed: Iterable[tuple[str | None, str, int]]) -> str:
    """A task's failure summary from its failed frames, given as (category or None when not
    recorded, error, how many frames): "2 of 24 frames failed: camera 'CamC' not found ...".

    Grouped by category, the most frequent first, each with its most frequent error; at most
    SUMMARY_CHARS characters. '' when no frame failed."""
    by_category: dict[Category, dict[str, int]] = {}
    for category, error, count in failed:
        if count <= 0:
            continue
        cat = Category(category) if category else classify(error)
        errors = by_category.setdefault(cat, {})
        line = headline(error) or label(cat)
        errors[line] = errors.get(line, 0) + count
    total = sum(sum(e.values()) for e in by_category.values())
    if not total:
        return ""
    noun = "frame" if frame_count == 1 else "frames"
    head = f"{total} of {frame_count} {noun} failed: "
    ranked = sorted(by_category.items(), key=lambda item: (-sum(item[1].values()), item[0].value))
    if len(ranked) == 1:
        body = _most(ranked[0][1])
    else:
        body = "; ".join(
            f"{sum(errors.values())} {label(cat)}: {_most(errors)}" for cat, errors in ranked
        )
    text = head + body
    if len(text) > SUMMARY_CHARS:
        text = text[: SUMMARY_CHARS - 3].rstrip() + "..."
    return text


def _most(errors: Mapping[str, int]) -> str:
    return min(errors.items(), key=lambda item: (-item[1], item[0]))[0]
