"""Mirroring of client paths into an account's file tree.

The vendor stored `v:\\project\\shot\\lgt.ma` as `/v/project/shot/lgt.ma`: the drive letter
becomes the first folder and backslashes become slashes; a UNC path `\\\\srv\\share\\x` becomes
`/srv/share/x`; a POSIX path keeps its shape. Every path that reaches the server is normalised by
`tree_path` (to Unicode NFC, so a name typed on macOS and on Windows is one file), which also
refuses anything that could escape the tree and names that could hide what they are
(bidirectional-control characters, which make `photo\u202egpj.exe` read as `photoexe.jpg`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from foxden.errors import BadRequest

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_MAX_PATH = 1024
_QUOTE = 100  # characters of a refused path quoted back
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
    "\u200e\u200f\u061c"  # marks
)
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
_CONTROL = re.compile(r"[\x00-\x1f]")


def quoted(path: str) -> str:
    """A path as an error message quotes it: escaped (repr), at most ~100 characters."""
    return repr(path) if len(path) <= _QUOTE else repr(path[:_QUOTE]) + "..."


def bidi_controls(path: str) -> list[str]:
    """The bidirectional-control characters in `path`, as 'U+202E' (empty when none)."""
    if not _BIDI.search(path):  # the common case, without a look at each character
        return []
    return sorted({f"U+{ord(c):04X}" for c in path if c in BIDI_CONTROLS})


def check_name(path: str) -> None:
    """Refuse a path holding bidirectional-control characters (BadRequest naming the path)."""
    found = bidi_controls(path)
    if found:
        raise BadRequest(
            f"path {quoted(path)} contains bidirectional-control character(s) {', '.join(found)}, "
            "which make a name read differently from what it is: rename the file"
        )


def mirror(client_path: str) -> str:
    """Map a client's absolute path (Windows, UNC or POSIX) to its place in the account tree."""
    raw = client_path.strip()
    if not raw:
        raise BadRequest("empty path: give the file's absolute path as it is on your machine")
    drive = _DRIVE.match(raw)
    if drive:
        rest = raw[drive.end() :]
        raw = "/" + drive.group(1).lower() + "/" + rest
    elif raw.startswith("\\\\") or raw.startswith("//"):
        raw = "/" + raw.lstrip("\\/")
    return tree_path(raw.replace("\\", "/"))


def tree_path(path: str) -> str:
    """Normalise a path inside an account tree; reject relative escapes and odd characters."""
    path = unicodedata.normalize("NFC", path)
    if len(path) > _MAX_PATH:
        raise BadRequest(f"path is longer than {_MAX_PATH} characters")
    check_name(path)
    if _CONTROL.search(path):
        raise BadRequest(f"path {quoted(path)} contains control characters")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise BadRequest(f"path {quoted(path)} names no file")
    if any(p == ".." for p in parts):
        raise BadRequest(f"path {quoted(path)} contains '..': give an absolute path without '..'")
    return "/" + "/".join(parts)


def relative_in_tree(path: str) -> PurePosixPath:
    """A tree path as a relative path, safe to join under a local root directory."""
    return PurePosixPath(tree_path(path).lstrip("/"))


def is_client_absolute(path: str) -> bool:
    """True for paths that are absolute on some client OS (drive letter, UNC or POSIX)."""
    return bool(_DRIVE.match(path)) or path.startswith(("/", "\\\\", "//"))
