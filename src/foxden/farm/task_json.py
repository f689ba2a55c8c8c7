"""The vendor SDK's task.json and upload.json, read into what a foxden task is made of.

Pure functions: no database, no files. Every field is optional here except the scene; a value of
the wrong type is refused with BadRequest naming the field (`task_info.frames_per_task`), so the
SDK user knows which line of task.json to fix.

The shapes read (the vendor writes every value as a string, numbers are taken too):

* ``task_info``: ``input_cg_file`` (the scene, a client path), ``project_name``,
  ``frames_per_task`` (chunk size), ``artist``, ``cg_id`` ("2007" is Blender), ``frames``
  (not the vendor's, but taken when given);
* ``software_config``: ``cg_name`` ("Blender"), ``cg_version`` ("3.4"), ``plugins``
  ({name: version});
* ``scene_info_render`` (else ``scene_info``): its ``common`` holds ``frames`` ("1-10[1]"),
  ``camera_name`` (a name or the analyser's repr ``<bpy_struct, Object("Camera")>``) and,
  when given, ``render_layer``; the per-layer shape (``{layer: {"common": ...}}``) is read too;
* upload.json: ``{"asset": [{"local": path, "server": path}, ...]}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from foxden.errors import BadRequest

#: The vendor's software ids that foxden can name (others need `software_config.cg_name`).
CG_IDS = {"2007": "blender"}
#: The most entries of upload.json taken as extra inputs of a task.
MAX_UPLOAD_ENTRIES = 10_000
#: The longest text taken from a field of task.json.
MAX_TEXT = 1024

_REPR_CAMERA = (
    re.compile(r'^<bpy_struct,\s*Object\(\s*"(.*)"\s*\)>$', re.DOTALL),
    re.compile(r"^<bpy_struct,\s*Object\(\s*'(.*)'\s*\)>$", re.DOTALL),
    re.compile(r"""^bpy\.data\.objects\[\s*(?:"(.*)"|'(.*)')\s*\]$""", re.DOTALL),
)


@dataclass(frozen=True)
class TaskJson:
    """What task.json says about a task (None / empty: task.json does not say)."""

    scene: str  # the client path of the scene (`task_info.input_cg_file`)
    project_name: str | None = None
    cg_soft_name: str | None = None  # "blender 3.4"
    plugin_name: str = ""  # "name version; ..." from software_config.plugins
    frames: str | None = None  # "1-10[1]"
    camera: str | None = None  # a plain name
    render_layer: str | None = None
    artist: str | None = None
    chunk_size: int | None = None
    layers: list[str] = field(default_factory=list)  # per-layer sections found


def loads(content: str, name: str = "task.json") -> dict[str, Any]:
    """The JSON object in `content`; BadRequest saying what is wrong with it otherwise."""
    try:
        value = json.loads(content)
    except ValueError as exc:
        raise BadRequest(f"{name} is not JSON ({exc}): upload the file the SDK wrote") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must hold a JSON object, not {type(value).__name__}")
    return value


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None or value == "" or value == []:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"task.json: {name} must be an object, not {type(value).__name__}")
    return value


def _text(section: dict[str, Any], where: str, key: str, doc: str = "task.json") -> str | None:
    """A text field (numbers taken as text); None when absent or empty."""
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"{doc}: {where}.{key} must be text, not {type(value).__name__}")
    result = str(value).strip()
    if len(result) > MAX_TEXT:
        raise BadRequest(f"{doc}: {where}.{key} is longer than {MAX_TEXT} characters")
    return result or None


def _whole(section: dict[str, Any], where: str, key: str, low: int, high: int) -> int | None:
    text = _text(section, where, key)
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        raise BadRequest(
            f"task.json: {where}.{key} must be a whole number, not {text[:40]!r}"
        ) from None
    if not low <= number <= high:
        raise BadRequest(f"task.json: {where}.{key} must be between {low} and {high}, not {number}")
    return number


def camera_name(value: str) -> str | None:
    """A camera's plain name from task.json: `Camera`, or the analyser's repr of the object
    (`<bpy_struct, Object("Camera")>`); None for "None" or nothing."""
    text = value.strip()
    for pattern in _REPR_CAMERA:
        match = pattern.match(text)
        if match:
            text = next(g for g in match.groups() if g is not None)
            break
    if text in ("", "None"):
        return None
    return text


def _common(scene_info: dict[str, Any], where: str) -> tuple[dict[str, Any], str, list[str]]:
    """The scene section's `common` (Blender's shape), else the first renderable layer's
    (the per-layer shape), its name for messages, and the layers found."""
    if "common" in scene_info:
        return _section(scene_info, "common"), f"{where}.common", []
    layers = [k for k, v in scene_info.items() if isinstance(v, dict) and "common" in v]
    for layer in layers:
        part = scene_info[layer]
        if str(part.get("renderable", "1")) != "0":
            return _section(part, "common"), f"{where}.{layer}.common", layers
    return {}, where, layers


def _software(software: dict[str, Any], task_info: dict[str, Any]) -> str | None:
    name = _text(software, "software_config", "cg_name")
    version = _text(software, "software_config", "cg_version")
    if name is None:
        cg_id = _text(task_info, "task_info", "cg_id")
        name = CG_IDS.get(cg_id or "")
        if name is None:
            return None
    name = name.lower()
    if not re.fullmatch(r"[a-z][a-z0-9_+-]*", name):
        raise BadRequest(
            f"task.json: software_config.cg_name {name!r} is not software foxden renders "
            "(a name such as 'Blender')"
        )
    return f"{name} {version}" if version else name


def _plugins(software: dict[str, Any]) -> str:
    plugins = software.get("plugins")
    if plugins in (None, "", [], {}):
        return ""
    if not isinstance(plugins, dict):
        raise BadRequest("task.json: software_config.plugins must be an object {name: version}")
    parts = []
    for name, version in plugins.items():
        if isinstance(version, dict | list | bool) or version is None:
            raise BadRequest(f"task.json: software_config.plugins.{name} must be a version text")
        parts.append(f"{name} {version}".strip())
    plugin_name = "; ".join(parts)
    if len(plugin_name) > 512:
        raise BadRequest("task.json: software_config.plugins names more than 512 characters")
    return plugin_name


def parse(data: dict[str, Any]) -> TaskJson:
    """Read a task.json object (see the module's docstring); BadRequest naming a bad field."""
    task_info = _section(data, "task_info")
    software = _section(data, "software_config")
    scene = _text(task_info, "task_info", "input_cg_file")
    if scene is None:
        raise BadRequest(
            "task.json: task_info.input_cg_file is missing: it names the scene file "
            "(its path on your machine, as uploaded)"
        )
    where = "scene_info_render" if _section(data, "scene_info_render") else "scene_info"
    common, common_where, layers = _common(_section(data, where), where)
    frames = _text(common, common_where, "frames") or _text(task_info, "task_info", "frames")
    camera_text = _text(common, common_where, "camera_name") or _text(
        common, common_where, "camera"
    )
    layer = _text(common, common_where, "render_layer") or _text(
        task_info, "task_info", "render_layer"
    )
    return TaskJson(
        scene=scene,
        project_name=_text(task_info, "task_info", "project_name"),
        cg_soft_name=_software(software, task_info),
        plugin_name=_plugins(software),
        frames=frames,
        camera=None if camera_text is None else camera_name(camera_text),
        render_layer=layer,
        artist=_text(task_info, "task_info", "artist"),
        chunk_size=_whole(task_info, "task_info", "frames_per_task", 1, 10_000),
        layers=layers,
    )


def upload_paths(data: dict[str, Any]) -> list[str]:
    """The client paths (`local`) of upload.json's assets, in order, without repeats."""
    assets = data.get("asset")
    if assets is None:
        return []
    if not isinstance(assets, list):
        raise BadRequest("upload.json: asset must be a list of {local, server}")
    if len(assets) > MAX_UPLOAD_ENTRIES:
        raise BadRequest(
            f"upload.json lists {len(assets)} files, more than {MAX_UPLOAD_ENTRIES:,}: list "
            "folders' files under the scene's folder, which a task takes whole"
        )
    seen: dict[str, None] = {}
    for i, entry in enumerate(assets):
        if not isinstance(entry, dict):
            raise BadRequest(f"upload.json: asset[{i}] must be an object {{local, server}}")
        local = _text(entry, f"asset[{i}]", "local", "upload.json")
        if local is None:
            raise BadRequest(f"upload.json: asset[{i}].local is missing")
        seen[local] = None
    return list(seen)
