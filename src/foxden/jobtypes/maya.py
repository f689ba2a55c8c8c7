"""The Maya job type: Maya's command-line renderer `Render`, one process per run of frames.

Chunk options (all optional):

* ``renderer`` (str): the renderer, by Maya's name (``mayaSoftware``, ``arnold``, ``vray``,
  ``redshift``, ``mayaHardware2``) or `Render`'s (``sw``, ``hw2``, ``file``); default: the
  scene's own (``defaultRenderGlobals.ren``), ``file`` when the scene names none.
* ``image_prefix`` (str): `Render -im`; default: the scene's prefix (``.ifp``) when it stays in
  the output folder, else the scene file's name.
* ``project`` (str): the Maya project folder (client path); default: the folder holding a
  ``workspace.mel`` above the scene, else the parent of the scene's ``scenes`` folder, else the
  scene's folder.

See docs/jobtypes.md ("Maya") for the command line, the dirmap and the log lines read.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from foxden.errors import BadRequest, FoxdenError
from foxden.jobtypes.base import Analysis, ChunkSpec, Command, JobType, Software, check_image
from foxden.jobtypes.command import runs
from foxden.jobtypes.maya_logs import MayaProgressParser, frame_of
from foxden.jobtypes.maya_scene import MayaScene, SceneFile, read_scene
from foxden.paths import mirror, tree_path

#: the renderers `Render -r` knows, by the scene's name (`.ren`) and by its own
RENDERERS = {
    "mayasoftware": "sw",
    "sw": "sw",
    "arnold": "arnold",
    "vray": "vray",
    "redshift": "redshift",
    "mayahardware2": "hw2",
    "hw2": "hw2",
    "file": "file",
}
_VERSION_IN_PATH = re.compile(r"^maya(\d{4}(?:\.\d+)?)$", re.IGNORECASE)
_VERSION_WORDS = re.compile(r"Maya\s+(\d{4}(?:\.\d+)*)")
_MAYA_SIBLINGS = ("maya", "maya.bin", "mayabatch", "mayapy")
_UNSAFE_NAME = re.compile(r"[#/\\:*?\"<>|\x00-\x1f]")
_SYSTEM_ROOTS = {"usr", "bin", "lib", "lib64", "sbin", "etc", "proc", "dev", "sys", "run"}
MAX_MAPPED = 64  # folders of the workspace the dirmap names
MAX_OUTPUTS = 10_000  # files looked at in an output folder


def find_render(configured: str | None = None) -> Path | None:
    """Maya's `Render`: `configured` (the program, or a Maya install folder holding
    bin/Render), else a `Render` on PATH that sits beside Maya's own programs or in a
    `maya*` folder (another program of that name is not Maya's)."""
    if configured:
        path = Path(configured).expanduser()
        for candidate in (path, path / "bin" / "Render", path / "Render"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate.resolve()
        return None
    found = shutil.which("Render")
    if not found:
        return None
    exe = Path(found).resolve()
    beside = any((exe.parent / name).exists() for name in _MAYA_SIBLINGS)
    if beside or any(part.lower().startswith("maya") for part in exe.parts):
        return exe
    return None


def maya_version(exe: Path, timeout: float = 30.0) -> str:
    """The version of the Maya that `exe` belongs to: from its install folder's name
    (`.../maya2024/bin/Render` -> "2024"), else what `maya -v` beside it prints ("Maya 2024,
    Cut Number ..."); "" when neither tells."""
    for part in reversed(exe.parts):
        match = _VERSION_IN_PATH.match(part)
        if match:
            return match.group(1)
    program = exe.parent / "maya"
    if not program.is_file():
        return ""
    try:
        proc = subprocess.run(
            [str(program), "-v"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    match = _VERSION_WORDS.search(proc.stdout + proc.stderr)
    return match.group(1) if match else ""


@functools.lru_cache(maxsize=8)
def _scene_at(path: str, _mtime_ns: int, _size: int) -> MayaScene | None:
    try:
        return read_scene(Path(path))
    except ValueError:
        return None


def scene_of(path: Path) -> MayaScene | None:
    """The scene at `path` (read once per version of the file), None when it is not one."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _scene_at(str(path), st.st_mtime_ns, st.st_size)


def expected_project(scene_tree: str) -> str:
    """The project folder a scene expects (tree path): the parent of its `scenes` folder, else
    its own folder."""
    parts = PurePosixPath(scene_tree).parent.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].lower() == "scenes":
            return str(PurePosixPath(*parts[:i]))
    return str(PurePosixPath(*parts)) if parts else "/"


def scene_path_to_tree(path: str, project: str) -> str:
    """The tree path of a path a scene names: absolute ones (`v:/a`, `//server/share/a`,
    `/mnt/a`) mirrored, relative ones against the project folder (as Maya resolves them)."""
    norm = path.strip().replace("\\", "/")
    if norm.startswith("$") or "${" in norm or "%" in norm.split("/", 1)[0]:
        raise BadRequest(f"{path!r} uses an environment variable, which the farm cannot resolve")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:(/|$)", norm):
        return mirror(norm)
    joined: list[str] = [p for p in project.split("/") if p]
    for part in norm.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not joined:
                raise BadRequest(f"{path!r} points above the root of the file tree")
            joined.pop()
        else:
            joined.append(part)
    return tree_path("/" + "/".join(joined))


class MayaJobType(JobType):
    name = "maya"

    def detect(self, executable: str | None = None) -> list[Software]:
        exe = find_render(executable)
        if exe is None:
            return []
        return [Software(self.name, maya_version(exe), str(exe))]

    # -- analysis -----------------------------------------------------------------------
    def analyse(self, scene_file: Path, scene_tree_path: str) -> Analysis:
        analysis = Analysis()
        scene_tree = tree_path(scene_tree_path)
        try:
            scene = read_scene(scene_file)
        except ValueError as exc:
            analysis.refusal = (
                f"scene {scene_tree} is not a Maya scene ({exc}): submit the .ma or .mb itself "
                "(upload it first)"
            )
            return analysis
        project = expected_project(scene_tree)
        seen = {scene_tree}
        for item in scene.files:
            self._dependency(item, project, seen, analysis)
        for note in scene.notes:
            analysis.warnings.append(f"scene {PurePosixPath(scene_tree).name}: {note}")
        if scene.format == "ma":
            analysis.cameras = scene.camera_names() or None
            analysis.layers = scene.layer_names() or None
            analysis.frame_range = scene.frame_range
        if scene.renderer and scene.renderer.lower() not in RENDERERS:
            analysis.warnings.append(
                f"the scene renders with {scene.renderer!r}, which foxden does not know: "
                "Render runs it with -r file (the scene's own renderer)"
            )
        return analysis

    @staticmethod
    def _dependency(item: SceneFile, project: str, seen: set[str], analysis: Analysis) -> None:
        try:
            dep = scene_path_to_tree(item.path, project)
        except BadRequest as exc:
            analysis.warnings.append(f"{item.kind} {item.path!r} cannot be used: {exc.message}")
            return
        if item.pattern:
            folder = dep.rsplit("/", 1)[0] or "/"
            analysis.warnings.append(
                f"{item.kind} {item.path} is a pattern (UDIM tiles or a frame sequence): its "
                f"files in {folder} are not checked; upload them all (and give that folder in "
                "the submission's inputs when it is not beside the scene)"
            )
            return
        if dep in seen or len(analysis.dependencies) >= 10_000:
            return
        seen.add(dep)
        analysis.dependencies.append(dep)

    # -- rendering ----------------------------------------------------------------------
    def commands(self, chunk: ChunkSpec) -> list[Command]:
        if not chunk.frames:
            raise BadRequest("a chunk needs at least one frame")
        found = chunk.software.executable if chunk.software else None
        exe = found or str(find_render() or "")
        if not exe:
            raise FoxdenError(
                "Maya is not installed on this worker (no Maya 'Render' on PATH; start the "
                "worker with --maya PATH)"
            )
        scene = scene_of(chunk.scene_path) or MayaScene("unknown")
        base = [exe, "-r", self.renderer(chunk, scene)]
        if chunk.camera:
            base += ["-cam", chunk.camera]
        if chunk.render_layer:
            base += ["-rl", scene.layer_node(chunk.render_layer)]
        base += ["-proj", str(self.project_dir(chunk))]
        base += ["-rd", str(chunk.output_dir), "-im", self.image_prefix(chunk, scene)]
        base += ["-pad", "4", "-fnc", "name.#.ext"]
        base += ["-preRender", pre_render_mel(chunk.workspace)]
        base += ["-preFrame", _marker_mel("FOXDEN_FRAME_START")]
        base += ["-postFrame", _marker_mel("FOXDEN_FRAME_END")]
        chunk.output_dir.mkdir(parents=True, exist_ok=True)
        setup = write_user_setup(chunk.workspace)
        env = {**_ENV, "MAYA_SCRIPT_PATH": str(setup)}
        read_only = [Path(os.path.realpath(exe)).parent.parent, setup]
        commands = []
        for frames in runs(list(chunk.frames)):
            step = frames[1] - frames[0] if len(frames) > 1 else 1
            argv = [*base, "-s", str(frames[0]), "-e", str(frames[-1]), "-b", str(step)]
            argv.append(str(chunk.scene_path))
            commands.append(Command(argv, chunk.scene_path.parent, env, frames, read_only))
        return commands

    @staticmethod
    def renderer(chunk: ChunkSpec, scene: MayaScene) -> str:
        """`Render -r`'s value: the task's `renderer` option, else the scene's."""
        wanted = chunk.options.get("renderer")
        if wanted:
            found = RENDERERS.get(str(wanted).strip().lower())
            if found is None:
                known = ", ".join(sorted({k for k in RENDERERS if len(k) > 3}))
                raise BadRequest(f"unknown Maya renderer {wanted!r}: known renderers are {known}")
            return found
        return RENDERERS.get((scene.renderer or "").lower(), "file")

    @staticmethod
    def image_prefix(chunk: ChunkSpec, scene: MayaScene) -> str:
        """`Render -im`: the option, the scene's own when it stays in the output folder, else
        the scene file's name."""
        wanted = chunk.options.get("image_prefix") or scene.image_prefix or ""
        text = str(wanted).replace("\\", "/")
        parts = text.split("/")
        if text and not text.startswith("/") and ":" not in text and ".." not in parts:
            return text
        return _UNSAFE_NAME.sub("_", chunk.scene_name) or "frame"

    @staticmethod
    def project_dir(chunk: ChunkSpec) -> Path:
        """The local project folder (`Render -proj`)."""
        root = chunk.workspace
        wanted = chunk.options.get("project")
        if wanted:
            return root / mirror(str(wanted)).lstrip("/")
        folder = chunk.scene_path.parent
        while folder != root and root in folder.parents:
            if (folder / "workspace.mel").is_file():
                return folder
            folder = folder.parent
        try:
            tree = "/" + chunk.scene_path.relative_to(root).as_posix()
        except ValueError:  # a scene outside the tree: its own folder
            return chunk.scene_path.parent
        return root / expected_project(tree).lstrip("/")

    def progress_parser(self, chunk: ChunkSpec) -> MayaProgressParser:
        if chunk.render_layer:
            return MayaProgressParser(1)
        scene = scene_of(chunk.scene_path)
        layers = scene.renderable_layers() if scene is not None else []
        return MayaProgressParser(len(layers) or None)

    def check_output(self, path: Path) -> str | None:
        """A readable image; Maya's own IFF images (`FOR4`/`FOR8` ... `CIMG`, Maya Software's
        default format), which Pillow cannot read, by their header and size."""
        try:
            with path.open("rb") as fh:
                head = fh.read(24)
        except OSError:
            return check_image(path)
        if head[:4] in (b"FOR4", b"FOR8") and b"CIMG" in head[8:20]:
            wide = head[:4] == b"FOR8"
            declared = int.from_bytes(head[8:16] if wide else head[4:8], "big") + (
                16 if wide else 8
            )
            size = path.stat().st_size
            if size < declared:
                return (
                    f"output {path.name} is a truncated Maya IFF image ({size} of {declared} bytes)"
                )
            return None
        return check_image(path)

    def outputs_for(self, chunk: ChunkSpec, frame: int) -> list[Path]:
        found: list[Path] = []
        seen = 0
        for folder, dirs, names in os.walk(chunk.output_dir):
            if len(Path(folder).relative_to(chunk.output_dir).parts) >= 6:
                dirs.clear()
            for name in names:
                seen += 1
                if seen > MAX_OUTPUTS:
                    return sorted(found)
                if frame_of(name) == frame:
                    found.append(Path(folder) / name)
        return sorted(p for p in found if p.is_file())


#: Maya's own reports and adverts need the network, which the sandbox has not
_ENV = {"MAYA_DISABLE_CIP": "1", "MAYA_DISABLE_CER": "1", "MAYA_DISABLE_CLIC_IPM": "1"}


def _mel_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _marker_mel(tag: str) -> str:
    return f'print("{tag} " + `currentTime -q` + "\\n");'


def dirmap_pairs(workspace: Path) -> list[tuple[str, str]]:
    """What the scene's absolute paths become on this node: each top folder of the
    workspace's tree that is a drive letter (`v:/` -> `<tree>/v/`, both cases), each other one
    as a UNC server (`//srv/` -> `<tree>/srv/`) and each of its folders as a POSIX path
    (`/mnt/proj/` -> `<tree>/mnt/proj/`); at most MAX_MAPPED folders."""
    pairs: list[tuple[str, str]] = []
    try:
        tops = sorted(p for p in workspace.iterdir() if p.is_dir())
    except OSError:
        return pairs
    for top in tops[:MAX_MAPPED]:
        local = f"{top.as_posix()}/"
        if len(top.name) == 1 and top.name.isalpha():
            pairs += [(f"{top.name.lower()}:/", local), (f"{top.name.upper()}:/", local)]
            continue
        pairs.append((f"//{top.name}/", local))
        if top.name in _SYSTEM_ROOTS:
            continue
        try:
            inner = sorted(p for p in top.iterdir() if p.is_dir())
        except OSError:
            continue
        pairs += [(f"/{top.name}/{p.name}/", f"{p.as_posix()}/") for p in inner[:MAX_MAPPED]]
    return pairs


def write_user_setup(workspace: Path) -> Path:
    """A folder beside the lease's tree holding a `userSetup.mel` with the dirmap, which Maya
    runs at start (MAYA_SCRIPT_PATH), before it opens the scene and loads its references."""
    folder = workspace.parent / "maya-setup"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "userSetup.mel").write_text(pre_render_mel(workspace) + "\n", encoding="utf-8")
    return folder


def pre_render_mel(workspace: Path) -> str:
    """The `-preRender` MEL: dirmap on, each of `dirmap_pairs` mapped."""
    mel = ["dirmap -en true;"]
    mel += [f"dirmap -m {_mel_string(a)} {_mel_string(b)};" for a, b in dirmap_pairs(workspace)]
    return " ".join(mel)
