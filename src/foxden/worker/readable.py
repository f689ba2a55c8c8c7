"""The log and errors a user reads: foxden's progress markers left out, paths shown as the
user's own.

A renderer runs in the lease's workspace and prints the paths it sees there. The user knows
none of them: the workspace's tree is their account tree (`/v/project/shot.blend`), its output
folder is the task's output folder as downloads name it (`42_shot/shot_0001.png`), and nothing
else of the worker (its cache, other folders of its work dir) is theirs to see. The worker
rewrites each line before it sends it, since only it knows where its workspace is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from foxden.jobtypes.base import readable_line


class Readable:
    """Rewrites a lease's output lines and errors for the user (see the module's text)."""

    def __init__(self, replacements: Iterable[tuple[Path, str]]) -> None:
        pairs: dict[str, str] = {}
        for local, shown in replacements:
            for form in {str(local), os.path.realpath(local)}:
                pairs.setdefault(form.rstrip("/"), shown)
        # the longest first: the workspace's tree before the workspace, before the work dir;
        # a path only where it ends (not /w/task-1-lease-2 inside /w/task-1-lease-23)
        self._pairs = [
            (re.compile(re.escape(local) + r"(/|(?=[^\w.-])|$)"), shown)
            for local, shown in sorted(pairs.items(), key=lambda p: len(p[0]), reverse=True)
            if local
        ]

    @classmethod
    def for_lease(
        cls, tree: Path, out: Path, output_folder: str, root: Path, *hidden: Path
    ) -> Readable:
        """For a lease whose workspace `root` holds the account's `tree` and the output folder
        `out`; paths under `hidden` (the worker's cache, its work dir) show as '(worker)'."""
        shown_out = output_folder.strip("/") or "output"
        return cls(
            [
                (tree, ""),
                (out, shown_out),
                (root, "(workspace)"),
                *((path, "(worker)") for path in hidden),
            ]
        )

    def paths(self, text: str) -> str:
        """`text` with the worker's paths as the user's."""
        for pattern, shown in self._pairs:

            def swap(match: re.Match[str], shown: str = shown) -> str:
                return shown + "/" if match.group(1) else shown or "/"

            text = pattern.sub(swap, text)
        return text

    def line(self, line: str) -> str | None:
        """One output line as the user's log shows it; None: left out (a progress marker)."""
        shown = readable_line(line)
        return None if shown is None else self.paths(shown)


#: before a workspace exists: markers out, no paths to rewrite
PLAIN = Readable(())
