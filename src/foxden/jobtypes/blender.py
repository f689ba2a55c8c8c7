"""The Blender job type: one Blender process per chunk, driven by blender_scripts/foxden_render.py.

Chunk options (all optional):

* ``threads`` (int): Blender's ``-t``; 0 or absent uses every core.
* ``autoexec`` (bool, default true): run the scene's Python (registered text blocks, drivers,
  handlers) when the task's project allows scripts (`ChunkSpec.allow_scripts`, set by an
  admin); otherwise Blender runs with ``--disable-autoexec`` whatever this says, so the option
  can only turn scripts off. A Python exception printed while loading or rendering fails the
  chunk.
* ``factory_startup`` (bool, default true): ignore the worker's Blender user preferences.
* ``denoise`` (bool or null): null turns Cycles denoising off only where this Blender has no
  OpenImageDenoise; false always turns it off; true leaves the scene's setting.
* ``device`` (str): a Cycles compute device type ("CUDA", "OPTIX", "HIP", ...); "CPU" forces CPU.
* ``addons`` (list of str): add-on modules to enable before the scene loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foxden.errors import BadRequest, FoxdenError
from foxden.jobtypes.base import (
    Analysis,
    ChunkSpec,
    Command,
    JobType,
    MarkerParser,
    ProgressEvent,
    Software,
)
from foxden.paths import mirror, tree_path

SCRIPT = Path(__file__).resolve().parent / "blender_scripts" / "foxden_render.py"
_VERSION = re.compile(r"Blender\s+(\d+\.\d+(?:\.\d+)?)")
_BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # plain, gzip, zstd
_BAT_LOCK = threading.Lock()  # blender_asset_tracer keeps a global cache of open files
_STATS = ("Time:", "Remaining:", "Mem:", "Sample", "Rendered", "Rendering", "Path Tracing")
_UNSAFE_NAME = re.compile(r"[#/\\:*?\"<>|\x00-\x1f]")


def blender_version(executable: str, timeout: float = 60.0) -> str | None:
    """The version ("3.4.1") that `executable --version` reports, or None if it doesn't run."""
    try:
        proc = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(proc.stdout + proc.stderr)
    return match.group(1) if match else None


def output_prefix(chunk: ChunkSpec) -> Path:
    """Outputs are `<prefix><frame:04d><ext>`, e.g. output_dir/shot_0001.png."""
    name = _UNSAFE_NAME.sub("_", chunk.scene_name) or "frame"
    return chunk.output_dir / f"{name}_"


@dataclass(frozen=True)
class SceneSettings:
    """What a .blend file's current scene renders: frames, camera, view layers, size."""

    scene: str
    frame_start: int
    frame_end: int
    frame_step: int
    camera: str | None  # the scene's camera object, None when it has none
    cameras: list[str]  # every camera object of the file
    view_layers: list[str]  # the view layers used for rendering (empty: before Blender 2.80)
    width: int
    height: int
    layer_names: list[str] = field(default_factory=list)  # every view layer, used or not
    links_libraries: bool = False  # objects may come from linked .blend files too
    fps: float | None = None  # frames per second (frs_sec / frs_sec_base), None if unreadable

    @property
    def frames(self) -> str:
        """The frame range as a frame spec: "1-250[1]"."""
        return f"{self.frame_start}-{self.frame_end}[{self.frame_step}]"


_OB_CAMERA = 11  # Object.type of a camera (DNA_object_types.h)
_VIEW_LAYER_RENDER = 1  # ViewLayer.flag: used for rendering


def scene_settings(scene_file: Path) -> SceneSettings:
    """Read the render settings of a .blend file's current scene, without running Blender
    (blender_asset_tracer reads the file's data blocks); ValueError saying why it cannot."""
    try:
        with scene_file.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ValueError(f"cannot read the scene file: {exc.strerror or exc}") from None
    if not head.startswith(_BLEND_MAGIC):
        raise ValueError(f"not a .blend file (it starts with {head[:8]!r})")
    from blender_asset_tracer import blendfile

    with _BAT_LOCK:
        try:
            return _read_settings(blendfile.open_cached(scene_file))
        except Exception as exc:  # BAT raises many kinds on damaged files
            raise ValueError(
                f"cannot read it as a .blend file ({type(exc).__name__}: {exc}); it may be "
                "damaged or from a newer Blender"
            ) from None
        finally:
            blendfile.close_all_cached()


def _id_name(block: Any) -> str:
    return bytes(block.id_name[2:]).decode("utf-8", errors="replace")


def _read_settings(bfile: Any) -> SceneSettings:
    glob = bfile.find_blocks_from_code(b"GLOB")
    scene = glob[0].get_pointer(b"curscene") if glob else None
    if scene is None:
        scenes = bfile.find_blocks_from_code(b"SC")
        if not scenes:
            raise ValueError("the file holds no scene")
        scene = scenes[0]
    camera = scene.get_pointer(b"camera")
    layers: list[str] = []
    try:
        layer = scene.get_pointer((b"view_layers", b"first"))
    except KeyError:  # a file from before Blender 2.80: render layers, not view layers
        layer = None
    names: list[str] = []
    while layer is not None and len(names) < 1000:
        name = layer.get(b"name")
        names.append(name.decode("utf-8", "replace") if isinstance(name, bytes) else name)
        if int(layer.get(b"flag")) & _VIEW_LAYER_RENDER:
            layers.append(names[-1])
        layer = layer.get_pointer(b"next")
    cameras = sorted(
        _id_name(ob)
        for ob in bfile.find_blocks_from_code(b"OB")
        if int(ob.get(b"type")) == _OB_CAMERA
    )
    percent = int(scene.get((b"r", b"size"))) or 100
    return SceneSettings(
        scene=_id_name(scene),
        frame_start=int(scene.get((b"r", b"sfra"))),
        frame_end=int(scene.get((b"r", b"efra"))),
        frame_step=max(1, int(scene.get((b"r", b"frame_step")))),
        camera=None if camera is None else _id_name(camera),
        cameras=cameras,
        view_layers=layers,
        width=int(scene.get((b"r", b"xsch"))) * percent // 100,
        height=int(scene.get((b"r", b"ysch"))) * percent // 100,
        layer_names=names,
        links_libraries=bool(bfile.find_blocks_from_code(b"LI")),
        fps=_frame_rate(scene),
    )


def _frame_rate(scene: Any) -> float | None:
    """The scene's frames per second (24, 25, 29.97 ...), None when the file does not say."""
    try:
        fps = int(scene.get((b"r", b"frs_sec")))
        base = float(scene.get((b"r", b"frs_sec_base"))) or 1.0
    except (KeyError, TypeError, ValueError):
        return None
    return round(fps / base, 3) if fps > 0 and base > 0 else None


class BlenderProgressParser(MarkerParser):
    """foxden markers plus Blender's own lines:

    ``Fra:12 Mem:... | Remaining:00:01.20 | ... | Scene, ViewLayer | Sample 12/64``,
    ``... | Rendering 5 / 64 samples`` (Eevee), ``... | Finished``, ``Saved: '/out/a_0012.png'``.
    With several view layers, a frame's fraction runs through the layers in turn.
    """

    _FRA = re.compile(r"^Fra:(\d+)\s")
    _SAMPLE = re.compile(r"(?:Sample|Rendering)\s+(\d+)\s*/\s*(\d+)")
    _TILES = re.compile(r"Rendered\s+(\d+)\s*/\s*(\d+)\s+Tiles")
    _SAVED = re.compile(r"^Saved:\s+'(.*)'")

    def __init__(self) -> None:
        super().__init__()
        self.layers = 1
        self._layer_order: dict[int, list[str]] = {}

    def _marker(self, tag: str, rest: str) -> list[ProgressEvent]:
        if tag == "LAYERS":
            with contextlib.suppress(ValueError):
                self.layers = max(1, int(rest))
            return []
        return super()._marker(tag, rest)

    def _other(self, text: str) -> list[ProgressEvent]:
        fra = self._FRA.match(text)
        if fra:
            return self._fra_line(int(fra.group(1)), text)
        saved = self._SAVED.match(text)
        if saved and self.current is not None:
            if self.seen_markers:
                return self.progress(self.current, 0.99)
            return self.finish(self.current)  # plain Blender output: a still is written
        if text.startswith("Writing: ") and text.endswith(".crash.txt"):
            # the report is in the sandbox's private /tmp, gone with it: say only what happened
            self._other_errors.append("Blender crashed")
        return super()._other(text)

    def _fra_line(self, frame: int, text: str) -> list[ProgressEvent]:
        self.current = frame
        order = self._layer_order.setdefault(frame, [])
        # Segments: "Fra:1 Mem:..", "Time:..", ["Remaining:.."], "Mem:.., Peak:..",
        # "Scene, ViewLayer" (Cycles), then the status ("Sample 3/4", "Finished", ...).
        segments = [seg.strip() for seg in text.split("|")[1:]]
        layer = next((seg for seg in segments if ", " in seg and not seg.startswith(_STATS)), None)
        if layer is not None and layer not in order:
            order.append(layer)
        index = max(len(order) - 1, 0)
        total = max(self.layers, len(order), 1)
        within: float | None = None
        if text.rstrip().endswith("| Finished"):
            within = 1.0
        else:
            sample = self._SAMPLE.search(text)
            if sample and int(sample.group(2)) > 0:
                within = int(sample.group(1)) / int(sample.group(2))
                tiles = self._TILES.search(text)
                if tiles and int(tiles.group(2)) > 0:
                    done_tiles = max(int(tiles.group(1)) - 1, 0)
                    within = (done_tiles + within) / int(tiles.group(2))
        if within is None:
            return self.progress(frame, index / total) if frame not in self._fraction else []
        return self.progress(frame, (index + min(within, 1.0)) / total)


class BlenderJobType(JobType):
    name = "blender"

    def detect(self, executable: str | None = None) -> list[Software]:
        exe = executable or shutil.which("blender")
        if not exe:
            return []
        version = blender_version(exe)
        if version is None:
            return []
        return [Software(self.name, version, str(Path(exe).resolve()))]

    # -- analysis -----------------------------------------------------------------------
    def analyse(self, scene_file: Path, scene_tree_path: str) -> Analysis:
        analysis = Analysis()
        scene_tree = tree_path(scene_tree_path)
        try:
            with scene_file.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            analysis.warnings.append(f"cannot read scene {scene_tree}: {exc.strerror or exc}")
            return analysis
        if not head.startswith(_BLEND_MAGIC):
            analysis.refusal = (
                f"scene {scene_tree} is not a .blend file ({_content_kind(head)}): "
                "submit the Blender scene itself (upload the .blend first)"
            )
            return analysis
        from blender_asset_tracer import blendfile

        with _BAT_LOCK:
            with contextlib.suppress(Exception):  # unknown: nothing is checked against it
                self._offers(blendfile.open_cached(scene_file), analysis)
            try:
                self._trace(scene_file, scene_tree, analysis)
            except Exception as exc:  # BAT raises many kinds on damaged files
                analysis.warnings.append(
                    f"cannot read scene {scene_tree} as a .blend file "
                    f"({type(exc).__name__}: {exc}); it may be damaged or from a newer Blender"
                )
            finally:
                blendfile.close_all_cached()
        return analysis

    @staticmethod
    def _offers(bfile: Any, analysis: Analysis) -> None:
        """The cameras, view layers and frame range of the scene Blender renders."""
        settings = _read_settings(bfile)
        # Objects of linked libraries are not in this file: their cameras cannot be checked.
        analysis.cameras = None if settings.links_libraries else settings.cameras
        analysis.layers = settings.layer_names or None  # none read: a file before 2.80
        analysis.frame_range = (settings.frame_start, settings.frame_end)

    def _trace(self, scene_file: Path, scene_tree: str, analysis: Analysis) -> None:
        from blender_asset_tracer import bpathlib, trace

        scene_local = bpathlib.make_absolute(scene_file)
        scene_dir = scene_tree.rsplit("/", 1)[0] or "/"
        seen: set[str] = {scene_tree}
        for usage in trace.deps(scene_file):
            raw = _raw_path(usage)
            if not raw:
                continue
            # Relative paths resolve against the folder of the file that holds them.
            holder = bpathlib.make_absolute(Path(usage.block.bfile.filepath))
            base = scene_dir
            if holder != scene_local:
                rel = os.path.relpath(holder.parent, scene_local.parent).replace(os.sep, "/")
                base = _join(scene_dir, rel) or scene_dir
            try:
                dep = client_to_tree(raw, base)
            except BadRequest as exc:
                analysis.warnings.append(f"{_kind(usage)} {raw!r} cannot be used: {exc.message}")
                continue
            if dep in seen:
                continue
            seen.add(dep)
            analysis.dependencies.append(dep)
            if usage.is_sequence:
                analysis.warnings.append(
                    f"{_kind(usage)} {raw} is a sequence: every file of it under "
                    f"{dep.rsplit('/', 1)[0]} is needed"
                )

    # -- rendering ----------------------------------------------------------------------
    def commands(self, chunk: ChunkSpec) -> list[Command]:
        if not chunk.frames:
            raise BadRequest("a chunk needs at least one frame")
        opts = chunk.options
        exe = chunk.software.executable if chunk.software else (shutil.which("blender") or "")
        if not exe:
            raise FoxdenError("Blender is not installed on this worker (no 'blender' on PATH)")
        autoexec = chunk.allow_scripts and bool(opts.get("autoexec", True))
        args: dict[str, Any] = {
            "scene": str(chunk.scene_path),
            "frames": [int(f) for f in chunk.frames],
            "output": str(output_prefix(chunk)),
            "workspace": str(chunk.workspace),
            "render_layer": chunk.render_layer or None,
            "camera": chunk.camera or None,
            "autoexec": autoexec,
            "denoise": opts.get("denoise"),
            "device": opts.get("device"),
            "addons": list(opts.get("addons") or []),
        }
        argv = [exe, "-b"]
        if opts.get("factory_startup", True):
            argv.append("--factory-startup")
        argv += ["-noaudio", "--enable-autoexec" if autoexec else "--disable-autoexec"]
        threads = int(opts.get("threads") or 0)
        if threads > 0:
            argv += ["-t", str(threads)]
        argv += ["--python-exit-code", "1", "--python", str(SCRIPT), "--", json.dumps(args)]
        chunk.output_dir.mkdir(parents=True, exist_ok=True)
        # The sandbox shows /usr; a Blender installed elsewhere brings its own folder.
        install = Path(os.path.realpath(exe)).parent
        return [Command(argv, chunk.scene_path.parent, {}, list(chunk.frames), [SCRIPT, install])]

    def progress_parser(self, chunk: ChunkSpec) -> BlenderProgressParser:
        return BlenderProgressParser()

    def outputs_for(self, chunk: ChunkSpec, frame: int) -> list[Path]:
        prefix = output_prefix(chunk)
        stem = f"{prefix.name}{frame:04d}"
        try:
            names = os.listdir(prefix.parent)
        except OSError:
            return []
        found = [
            prefix.parent / n
            for n in names
            if n.startswith(stem) and not n[len(stem) : len(stem) + 1].isdigit()
        ]
        return sorted(p for p in found if p.is_file())


_KINDS = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x76\x2f\x31\x01", "an OpenEXR image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF", "a PDF document"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)


def _content_kind(head: bytes) -> str:
    """What the first bytes of a file that is not a .blend say it is, in words."""
    if not head:
        return "it is empty"
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return f"it is {kind}"
    return f"it starts with {head[:8]!r}"


def client_to_tree(path: str, base_dir: str) -> str:
    """The tree path of a path found in a scene: absolute client paths are mirrored, Blender
    `//` and plain relative paths are resolved against `base_dir` (a tree folder)."""
    if path.startswith("\\\\"):
        return mirror(path)  # a Windows UNC path
    norm = path.replace("\\", "/")
    if norm.startswith("//"):
        rel = norm[2:]
    elif norm.startswith("/") or re.match(r"^[A-Za-z]:(/|$)", norm):
        return mirror(norm)
    else:
        rel = norm
    joined = _join(base_dir, rel)
    if joined is None:
        raise BadRequest(f"{path!r} points above the root of the file tree")
    return tree_path(joined)


def _join(base_dir: str, rel: str) -> str | None:
    parts = [p for p in base_dir.split("/") if p]
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def _raw_path(usage: Any) -> str:
    """The path as stored (BAT turns backslashes into slashes, which hides UNC paths)."""
    value: bytes = bytes(usage.asset_path)
    field = usage.path_full_field
    if field is not None:
        try:
            stored = usage.block.get(field.name.name_only)
        except Exception:
            stored = None
        if isinstance(stored, bytes) and stored.replace(b"\\", b"/") == value:
            value = stored
    return value.decode("utf-8", errors="replace")


def _kind(usage: Any) -> str:
    kinds = {
        "Image": "texture",
        "Library": "library",
        "CacheFile": "cache",
        "bSound": "sound",
        "MovieClip": "movie clip",
        "VFont": "font",
        "Volume": "volume",
    }
    try:
        return kinds.get(usage.block.dna_type_name, "file")
    except Exception:
        return "file"
