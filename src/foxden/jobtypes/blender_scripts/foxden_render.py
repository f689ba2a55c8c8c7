"""foxden's setup script, run inside Blender to render one chunk in one Blender process.

    blender -b [--factory-startup] [-t N] --python-exit-code 1 --python foxden_render.py -- JSON

JSON holds: scene (local .blend path), frames (list of ints), output (path prefix: outputs are
``<output><frame:04d>.<ext>``), workspace (root of the local mirror of the account tree),
render_layer, camera (names or null), autoexec (run the scene's Python: registered text blocks,
drivers, handlers), denoise (null: turn Cycles denoising off only where this Blender has no
OpenImageDenoise; false: always off; true: leave the scene's setting), device (null or a Cycles
compute device type such as "CUDA"/"OPTIX"), addons (add-on modules to enable).

The script loads the scene itself (so a file that Blender cannot read is an error, not a silent
render of the default scene), records every Python exception printed while loading or rendering
(scene scripts, drivers, handlers: Blender only prints those) and fails if there were any.

Lines it prints for the worker (one per line, flushed):

    FOXDEN_LOADED <scene>            scene loaded and set up
    FOXDEN_LAYERS <n>                view layers rendered per frame
    FOXDEN_REMAP <from> -> <to>      a missing client path was mapped into the workspace
    FOXDEN_WARNING <text>            something the user should know
    FOXDEN_FRAME_START <frame>
    FOXDEN_FRAME_DONE <frame> <path> the frame's file is written
    FOXDEN_ERROR <text>              the reason of a failure (Blender then exits non-zero)

Only the path helpers are importable without Blender (the tests check them against foxden.paths).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import traceback
from typing import Any

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
MOVIE_FORMATS = {"FFMPEG", "AVI_JPEG", "AVI_RAW"}


class FoxdenFailure(Exception):
    """A failure with a message meant for the user."""


def mirror_path(client_path: str) -> str | None:
    """The account-tree path of an absolute client path (same rules as foxden.paths.mirror).

    Blender-relative ``//`` paths and relative paths give None: they already work because the
    workspace mirrors the tree.
    """
    raw = client_path.strip()
    if not raw or raw.startswith("//"):
        return None
    drive = _DRIVE.match(raw)
    if drive:
        raw = "/" + drive.group(1).lower() + "/" + raw[drive.end() :]
    elif raw.startswith("\\\\"):
        raw = "/" + raw.lstrip("\\/")
    elif not raw.startswith("/"):
        return None
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any(ord(c) < 32 for c in raw):
        return None
    return "/" + "/".join(parts)


def workspace_path(workspace: str, client_path: str) -> str | None:
    """Where an absolute client path lives in the local workspace, or None."""
    tree = mirror_path(client_path)
    if tree is None:
        return None
    return os.path.join(workspace, *tree.lstrip("/").split("/"))


def say(tag: str, text: str = "") -> None:
    print(f"FOXDEN_{tag} {text}".rstrip(), flush=True)


def _exists(path: str) -> bool:
    """True if the file exists; for sequences/UDIM tokens, if its folder exists."""
    if "<" in os.path.basename(path) or "#" in os.path.basename(path):
        return os.path.isdir(os.path.dirname(path))
    return os.path.exists(path)


class Chunk:
    def __init__(self, args: dict[str, Any]) -> None:
        import bpy

        self.bpy = bpy
        self.args = args
        self.errors: list[str] = []
        self.workspace = str(args.get("workspace") or "")

    # -- error capture ------------------------------------------------------------------
    def install_hook(self) -> None:
        previous = sys.excepthook

        def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
            self.errors.append(f"{kind.__name__}: {value}")
            previous(kind, value, tb)

        sys.excepthook = hook

    def check_errors(self, when: str) -> None:
        if self.errors:
            found, self.errors = self.errors, []
            raise FoxdenFailure(f"Python error {when}: " + "; ".join(found))

    # -- set-up ---------------------------------------------------------------------------
    def load(self) -> None:
        bpy = self.bpy
        for addon in self.args.get("addons") or []:
            bpy.ops.preferences.addon_enable(module=addon)
        scene_path = self.args["scene"]
        try:
            bpy.ops.wm.open_mainfile(filepath=scene_path, use_scripts=bool(self.args["autoexec"]))
        except RuntimeError as exc:
            raise FoxdenFailure(f"Blender cannot open {scene_path}: {exc}") from None
        self.check_errors("in a scene script while loading the scene")
        if bpy.app.autoexec_fail:
            say("WARNING", "the scene's Python scripts did not run (autoexec is off)")

    def remap_paths(self) -> None:
        bpy = self.bpy
        if not self.workspace:
            return
        for lib in list(bpy.data.libraries):
            new = self._mapped(lib.filepath, None)
            if new:
                lib.filepath = new
                lib.reload()
        collections = (
            bpy.data.images,
            bpy.data.cache_files,
            bpy.data.movieclips,
            bpy.data.sounds,
            bpy.data.volumes,
            bpy.data.fonts,
        )
        for coll in collections:
            for block in coll:
                if getattr(block, "packed_file", None) is not None or block.library is not None:
                    continue
                path = getattr(block, "filepath", "")
                if path and path != "<builtin>":
                    new = self._mapped(path, None)
                    if new:
                        block.filepath = new
        for obj in bpy.data.objects:
            if obj.library is not None:
                continue
            for mod in obj.modifiers:
                if mod.type == "FLUID" and getattr(mod, "domain_settings", None) is not None:
                    new = self._mapped(mod.domain_settings.cache_directory, None, folder=True)
                    if new:
                        mod.domain_settings.cache_directory = new

    def _mapped(self, path: str, library: Any, folder: bool = False) -> str | None:
        """The workspace path for a missing absolute client path, or None to leave it."""
        if not path or path.startswith("//"):
            return None
        local = self.bpy.path.abspath(path, library=library)
        if os.path.isdir(local) if folder else _exists(local):
            return None
        target = workspace_path(self.workspace, path)
        if target is None:
            return None
        if os.path.isdir(target) if folder else _exists(target):
            say("REMAP", f"{path} -> {target}")
            return target
        say("WARNING", f"missing file {path} (looked for {target})")
        return None

    def configure(self) -> None:
        bpy = self.bpy
        scene = bpy.context.scene
        layer_name = self.args.get("render_layer")
        if layer_name:
            names = [vl.name for vl in scene.view_layers]
            if layer_name not in names:
                raise FoxdenFailure(
                    f"render layer {layer_name!r} not found in scene {scene.name!r}; "
                    f"its view layers are: {', '.join(names)}"
                )
            for vl in scene.view_layers:
                vl.use = vl.name == layer_name
        camera_name = self.args.get("camera")
        if camera_name:
            cameras = sorted(o.name for o in scene.objects if o.type == "CAMERA")
            if camera_name not in cameras:
                raise FoxdenFailure(
                    f"camera {camera_name!r} not found in scene {scene.name!r}; "
                    f"its cameras are: {', '.join(cameras) or '(none)'}"
                )
            scene.camera = scene.objects[camera_name]
            for marker in scene.timeline_markers:
                marker.camera = None  # markers would switch the camera back per frame
        if scene.camera is None:
            raise FoxdenFailure(f"scene {scene.name!r} has no camera: set one or give a camera")

        self._denoise(scene)
        self._device(scene)

        settings = scene.render.image_settings
        if settings.file_format in MOVIE_FORMATS:
            say("WARNING", f"movie format {settings.file_format} rendered as PNG frames")
            settings.file_format = "PNG"
        scene.render.use_file_extension = True
        layers = [vl for vl in scene.view_layers if vl.use]
        if not layers:
            raise FoxdenFailure(f"scene {scene.name!r} has no view layer enabled for rendering")
        say("LAYERS", str(1 if scene.render.use_single_layer else len(layers)))

    def _denoise(self, scene: Any) -> None:
        wanted = self.args.get("denoise")
        if wanted is True or scene.render.engine != "CYCLES":
            return
        if wanted is None:
            try:
                if getattr(importlib.import_module("_cycles"), "with_openimagedenoise", False):
                    return
            except ImportError:
                pass
        scene.cycles.use_denoising = False
        scene.cycles.use_preview_denoising = False
        for vl in scene.view_layers:
            vl.cycles.use_denoising = False

    def _device(self, scene: Any) -> None:
        device = self.args.get("device")
        if not device or scene.render.engine != "CYCLES":
            return
        if device == "CPU":
            scene.cycles.device = "CPU"
            return
        prefs = self.bpy.context.preferences.addons["cycles"].preferences
        prefs.compute_device_type = device
        prefs.get_devices()
        found = [d for d in prefs.devices if d.type == device]
        if not found:
            names = ", ".join(f"{d.name} ({d.type})" for d in prefs.devices)
            raise FoxdenFailure(f"no {device} device found; Blender sees: {names}")
        for d in prefs.devices:
            d.use = d.type == device
        scene.cycles.device = "GPU"

    # -- render ---------------------------------------------------------------------------
    def render(self) -> None:
        bpy = self.bpy
        scene = bpy.context.scene
        prefix = self.args["output"]
        say("LOADED", bpy.data.filepath)
        for frame in self.args["frames"]:
            say("FRAME_START", str(frame))
            # Like `blender -a`: the render pipeline evaluates its own depsgraph at this frame
            # (handlers and camera markers included); scene.frame_set would evaluate the scene a
            # second time in the main depsgraph.
            scene.frame_current = frame
            scene.frame_subframe = 0.0
            base = f"{prefix}{frame:04d}"
            scene.render.filepath = base
            bpy.ops.render.render(write_still=True)
            self.check_errors(f"while rendering frame {frame}")
            # A still render writes to the path as given ('#' would stay literal): base + ext.
            say("FRAME_DONE", f"{frame} {base}{scene.render.file_extension}")


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if len(argv) != 1:
        say("ERROR", "foxden_render.py expects one JSON argument after '--'")
        raise SystemExit(2)
    args = json.loads(argv[0])
    chunk = Chunk(args)
    chunk.install_hook()
    try:
        chunk.load()
        chunk.remap_paths()
        chunk.configure()
        chunk.check_errors("while setting up the scene")
        chunk.render()
    except FoxdenFailure as exc:
        say("ERROR", str(exc))
        raise SystemExit(1) from None
    except Exception as exc:
        say("ERROR", f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
        sys.stdout.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
