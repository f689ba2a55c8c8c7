"""What a Maya scene holds, read without Maya: `read_scene(path)`.

A `.ma` is MEL text: statements (`createNode`, `setAttr`, `file -r`, `select -ne`, `requires`,
`fileInfo`) ending with `;`. The reader follows the node each `setAttr` belongs to and keeps the
attributes that name files or render settings (the table `_FILE_ATTRS`, the render globals,
cameras, render layers). A `.mb` is IFF chunks (`FOR4`/`FOR8` groups); its layout is not
documented attribute by attribute, so the reader walks the chunks and reads the strings in them:
an attribute name (`.ftn`) followed by its value, the header's `VERS`/`PLUG`/`FINF` strings and
the `FREF` references. What that cannot tell (cameras, layers, frame range) is left unknown and
the result is marked `partial`.

Everything read is bounded: a .ma's bytes read (`MAX_BYTES`), line and statement lengths, the
nodes kept; a .mb's chunks walked (it is mapped, not read whole) and the bytes of each read;
items kept per list (`MAX_ITEMS`).
"""

from __future__ import annotations

import itertools
import mmap
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAX_BYTES = 512 << 20  # of a .ma read (a larger one is read up to here, and partial)
MAX_STATEMENT = 64 << 10  # a longer MEL statement is skipped (vertex data, not settings)
MAX_ITEMS = 5000  # files, cameras, layers kept
MAX_CHUNKS = 500_000  # IFF chunks walked in a .mb
MAX_STRING = 4096  # characters of one string kept
MAX_PAYLOAD = 64 << 10  # bytes of one .mb chunk read for strings

Buffer = bytes | mmap.mmap

#: patterns in a file name that stand for several files: UDIM tiles, frame numbers
PATTERN = re.compile(
    r"<UDIM>|<UVTILE>|<U>|<V>|_MAPID_|u<U>_v<V>|<f>|<frame>|<Frame>|%0?\d*d|#+|\$F\d*|"
    r"<udim>|<uvtile>|\*",
)

#: (node type, attribute short or long name) -> kind of file
_FILE_ATTRS: dict[tuple[str, str], str] = {
    ("file", ".ftn"): "texture",
    ("file", ".fileTextureName"): "texture",
    ("file", ".cpt"): "texture pattern",
    ("psdFileTex", ".ftn"): "texture",
    ("aiImage", ".filename"): "texture",
    ("imagePlane", ".imn"): "image plane",
    ("imagePlane", ".imageName"): "image plane",
    ("AlembicNode", ".fn"): "Alembic cache",
    ("AlembicNode", ".abc_File"): "Alembic cache",
    ("AlembicNode", ".fns"): "Alembic cache",
    ("AlembicNode", ".abc_layerFiles"): "Alembic cache",
    ("gpuCache", ".cfn"): "GPU cache",
    ("gpuCache", ".cacheFileName"): "GPU cache",
    ("diskCache", ".cn"): "particle cache",
    ("diskCache", ".cacheName"): "particle cache",
    ("aiStandIn", ".dso"): "Arnold stand-in",
    ("aiVolume", ".filename"): "volume cache",
    ("VRayMesh", ".fn"): "V-Ray proxy",
    ("RedshiftProxyMesh", ".fp"): "Redshift proxy",
}
#: attribute names whose string value is a file whatever node holds them (.mb: no node types)
_ANY_NODE_FILE_ATTRS = {attr: kind for (_node, attr), kind in _FILE_ATTRS.items()}
_ANY_NODE_FILE_ATTRS.pop(".cn", None)  # a cacheFile's cacheName is not a file by itself
_ANY_NODE_FILE_ATTRS.pop(".fn", None)  # too common a short name to trust without a node type
_FILE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".tx", ".tex", ".hdr", ".tga", ".bmp",
    ".iff", ".psd", ".dds", ".abc", ".vdb", ".ass", ".vrmesh", ".rs", ".mcx", ".mcc", ".xml",
    ".ma", ".mb", ".fbx", ".obj", ".usd", ".usda", ".usdc", ".ptx", ".rstexbin",
)  # fmt: skip


@dataclass(frozen=True)
class SceneFile:
    """A file the scene names: as written in the scene, and what it is."""

    path: str  # as the scene writes it: "v:/project/asset/sourceimages/wood.<UDIM>.png"
    kind: str  # "texture", "reference", "Alembic cache", "image plane", ...
    node: str = ""  # the node that names it ("" when unknown)
    sequence: bool = False  # a frame sequence (the node uses frame extensions)
    tiled: bool = False  # UDIM or other tiles (the node's UV tiling mode)

    @property
    def pattern(self) -> bool:
        """True when the path stands for several files (tiles, frames)."""
        return self.sequence or self.tiled or bool(PATTERN.search(self.path.rsplit("/", 1)[-1]))


@dataclass
class Camera:
    shape: str
    transform: str  # the shape's parent ("" when the scene gives none)
    renderable: bool = True  # `.rnd`; Maya writes `setAttr ".rnd" no` for a non-renderable one


@dataclass
class RenderLayer:
    name: str  # the renderLayer node ("rs_beauty" for a Render Setup layer)
    renderable: bool = True  # `.rndr`
    setup_name: str = ""  # the Render Setup layer's own name ("beauty"), "" for a legacy layer


@dataclass
class MayaScene:
    """What a Maya scene holds, as far as reading its file tells."""

    format: str  # "ma" or "mb"
    files: list[SceneFile] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    layers: list[RenderLayer] = field(default_factory=list)
    render_setup: bool = False  # layers come from Render Setup (renderSetupLayer nodes)
    frame_start: int | None = None
    frame_end: int | None = None
    frame_step: int | None = None
    renderer: str | None = None  # `.ren` of defaultRenderGlobals: "arnold", "mayaSoftware"...
    image_prefix: str | None = None  # `.ifp`
    image_format: str | None = None  # `.imfkey`
    maya_version: str | None = None  # `requires maya "2024"`
    plugins: list[str] = field(default_factory=list)  # `requires` plugins
    partial: bool = False  # something could not be read (a .mb's layout, a truncated file)
    notes: list[str] = field(default_factory=list)  # what could not be read, in words

    @property
    def frame_range(self) -> tuple[int, int] | None:
        if self.frame_start is None or self.frame_end is None:
            return None
        return self.frame_start, self.frame_end

    def camera_names(self) -> list[str]:
        """Every name a task may give as its camera: transforms and shapes."""
        names: list[str] = []
        for cam in self.cameras:
            for name in (cam.transform, cam.shape):
                if name and name not in names:
                    names.append(name)
        return names

    def layer_names(self) -> list[str]:
        """Every name a task may give as its render layer: the renderLayer nodes, a Render
        Setup layer's own name, and `masterLayer` for `defaultRenderLayer`."""
        names: list[str] = []
        for layer in self.layers:
            extra = [layer.setup_name] if layer.setup_name else []
            if layer.name == "defaultRenderLayer":
                extra.append("masterLayer")
            for name in (layer.name, *extra):
                if name not in names:
                    names.append(name)
        return names

    def layer_node(self, name: str) -> str:
        """The renderLayer node `Render -rl` takes for a name a task gave."""
        if name == "masterLayer":
            return "defaultRenderLayer"
        for layer in self.layers:
            if name in (layer.name, layer.setup_name):
                return layer.name
        return name

    def renderable_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.renderable]

    def _add_file(self, item: SceneFile) -> None:
        if item.path and len(self.files) < MAX_ITEMS and item not in self.files:
            self.files.append(item)


def read_scene(path: Path) -> MayaScene:
    """Read a .ma or .mb (told by its first bytes, not its name); ValueError saying why not."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
            fh.seek(0)
            if head[:4] in (b"FOR4", b"FOR8"):
                return _read_mb(fh)
            if head.lstrip(b"\xef\xbb\xbf").startswith(b"//Maya"):
                return _read_ma(fh)
    except OSError as exc:
        raise ValueError(f"cannot read the scene file: {exc.strerror or exc}") from None
    raise ValueError(f"not a Maya scene (it starts with {head[:8]!r})")


# -- Maya ASCII ------------------------------------------------------------------------------

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\+)|([^\s;"]+)')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_SET_ATTR_FLAGS_WITH_VALUE = {"-s", "-size", "-type", "-k", "-keyable", "-l", "-lock", "-cb"}
_SET_ATTR_FLAGS_WITH_VALUE |= {"-channelBox", "-ch", "-capacityHint"}
_INTERESTING = ("createNode", "setAttr", "select", "file", "requires", "fileInfo")
_NODE_TYPES = {node for node, _attr in _FILE_ATTRS} | {
    "camera", "renderLayer", "renderSetupLayer", "script", "cacheFile",
}  # fmt: skip
_GLOBALS = {"defaultRenderGlobals"}
_KEPT_ATTRS = {attr for _node, attr in _FILE_ATTRS} | {
    ".rnd", ".rndr", ".ren", ".ifp", ".imfkey", ".fs", ".ef", ".bfs", ".b", ".cp", ".cn",
    ".ufe", ".uvt",
}  # fmt: skip
MAX_NODES = 100_000  # nodes of those types kept
MAX_LINE = 1 << 20  # a longer line is read in parts (and its statement skipped)
_PLAYBACK = re.compile(r"-(min|max|ast|aet|by)\s+(-?[\d.]+)")


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def tokens(statement: str) -> list[_Token]:
    """A MEL statement's words; `"a" + "b"` is one string, as MEL joins it."""
    out: list[_Token] = []
    join = False
    for match in _TOKEN.finditer(statement):
        quoted, plus, word = match.groups()
        if plus is not None:
            join = bool(out) and out[-1].quoted
            continue
        if quoted is not None:
            text = _unescape(quoted)[:MAX_STRING]
            if join:
                out[-1] = _Token((out[-1].text + text)[:MAX_STRING], True)
            else:
                out.append(_Token(text, True))
        else:
            out.append(_Token(word, False))
        join = False
    return out


def _statements(fh: BinaryIO, scene: MayaScene) -> Iterator[list[_Token]]:
    """The interesting statements of a .ma, tokenised, one at a time (bounded in bytes read,
    line length and statement length)."""
    parts: list[str] = []
    size = 0
    keep = False
    read = 0
    while True:
        raw = fh.readline(MAX_LINE)
        if not raw:
            return
        read += len(raw)
        if read > MAX_BYTES:
            scene.partial = True
            scene.notes.append(f"only the first {MAX_BYTES >> 20} MiB of the scene were read")
            return
        if not parts and not size:
            stripped = raw.decode("utf-8", errors="replace").strip()
            if not stripped or stripped.startswith("//"):
                continue
            verb = stripped.split(" ", 1)[0]
            keep = verb in _INTERESTING and (verb != "setAttr" or _kept_attr(stripped))
        size += len(raw)
        if keep and size <= MAX_STATEMENT:
            parts.append(raw.decode("utf-8", errors="replace").rstrip())
        if raw.rstrip().endswith(b";") and len(raw) < MAX_LINE:
            if keep and size <= MAX_STATEMENT:
                yield tokens(" ".join(parts))
            parts, size, keep = [], 0, False


def _kept_attr(line: str) -> bool:
    """Whether a `setAttr` line sets an attribute the reader keeps (its first quoted word is
    the attribute: flags before it take no quoted values)."""
    first = line.find('"')
    second = line.find('"', first + 1)
    if first < 0 or second < 0:
        return False
    attr = line[first + 1 : second]
    attr = attr[attr.find(".") :].split("[", 1)[0]
    return attr in _KEPT_ATTRS


@dataclass
class _Node:
    type: str
    name: str
    parent: str = ""
    attrs: dict[str, list[_Token]] = field(default_factory=dict)


def _read_ma(fh: BinaryIO) -> MayaScene:
    scene = MayaScene("ma")
    nodes: list[_Node] = []
    current: _Node | None = None
    for words in _statements(fh, scene):
        if not words:
            continue
        verb = words[0].text
        if verb == "createNode":
            current = _create_node(words)
            if current is not None and current.type not in _NODE_TYPES:
                current = None  # geometry, shaders, ...: nothing read of them
            if current is not None and len(nodes) < MAX_NODES:
                nodes.append(current)
        elif verb == "select":
            name = next((w.text for w in words[1:] if not w.text.startswith("-")), "")
            current = _Node(name.lstrip(":"), name.lstrip(":"))
            if current.name in _GLOBALS and len(nodes) < MAX_NODES:
                nodes.append(current)
        elif verb == "setAttr" and current is not None:
            attr, values = _set_attr(words)
            if attr in _KEPT_ATTRS and values:
                current.attrs.setdefault(attr, values)
        elif verb == "file":
            _reference(words, scene)
        elif verb == "requires":
            _requires(words, scene)
    for node in nodes:
        _interpret(node, scene)
    setup = {n.name for n in nodes if n.type == "renderSetupLayer"}
    for layer in scene.layers:
        if layer.name.startswith("rs_") and layer.name[3:] in setup:
            layer.setup_name = layer.name[3:]
    return scene


def _flag_values(words: list[_Token]) -> tuple[dict[str, str], list[_Token]]:
    """A command's flags with one value each, and the words that are no flag's value."""
    flags: dict[str, str] = {}
    rest: list[_Token] = []
    i = 1
    while i < len(words):
        word = words[i]
        if not word.quoted and word.text.startswith("-") and not _is_number(word.text):
            value = words[i + 1] if i + 1 < len(words) else None
            if value is not None and not (value.text.startswith("-") and not value.quoted):
                flags[word.text] = value.text
                i += 2
                continue
            flags[word.text] = ""
        else:
            rest.append(word)
        i += 1
    return flags, rest


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _create_node(words: list[_Token]) -> _Node | None:
    if len(words) < 2:
        return None
    flags, _rest = _flag_values(words[1:])
    node_type = words[1].text
    name = flags.get("-n") or flags.get("-name") or ""
    parent = flags.get("-p") or flags.get("-parent") or ""
    return _Node(node_type, name, parent)


def _set_attr(words: list[_Token]) -> tuple[str, list[_Token]]:
    """`setAttr [flags] ".attr" values...` -> (".attr", values)."""
    i = 1
    while i < len(words):
        word = words[i]
        if not word.quoted and word.text in _SET_ATTR_FLAGS_WITH_VALUE:
            i += 2
        elif not word.quoted and word.text.startswith("-") and not _is_number(word.text):
            i += 1
        else:
            break
    if i >= len(words) or not words[i].quoted:
        return "", []
    attr = words[i].text
    attr = attr[attr.find(".") :] if "." in attr else attr  # "node.attr" -> ".attr"
    values: list[_Token] = []
    rest = words[i + 1 :]
    j = 0
    while j < len(rest):  # flags may follow the attribute too: `".ftn" -type "string" "a.png"`
        word = rest[j]
        if not word.quoted and word.text in _SET_ATTR_FLAGS_WITH_VALUE:
            j += 2
            continue
        if not word.quoted and word.text in ("-av", "-ca", "-alteredValue", "-clamp"):
            j += 1
            continue
        values.append(word)
        j += 1
    counted = len(values) > 1 and values[1].quoted and not values[0].quoted
    if counted and values[0].text.isdigit():  # a stringArray's count: `1 "a.abc"`
        values = values[1:]
    return attr.split("[", 1)[0], values


def _reference(words: list[_Token], scene: MayaScene) -> None:
    flags, rest = _flag_values(words)
    if not ({"-r", "-reference", "-rdi", "-referenceDepthInfo"} & set(flags)):
        return
    paths = [w.text for w in rest if w.quoted]
    if paths:
        namespace = flags.get("-ns") or flags.get("-rfn") or ""
        scene._add_file(SceneFile(paths[-1], "reference", namespace))


def _requires(words: list[_Token], scene: MayaScene) -> None:
    _flags, rest = _flag_values(words)
    strings = [w.text for w in rest]
    if len(strings) >= 2 and strings[0] == "maya":
        scene.maya_version = strings[1]
    elif strings and len(scene.plugins) < 200 and strings[0] not in scene.plugins:
        scene.plugins.append(strings[0])


def _text(values: list[_Token]) -> str:
    return values[0].text if values else ""


def _flag(values: list[_Token], default: bool) -> bool:
    text = _text(values).lower()
    if text in ("yes", "on", "true", "1"):
        return True
    if text in ("no", "off", "false", "0"):
        return False
    return default


def _int(values: list[_Token]) -> int | None:
    try:
        return round(float(_text(values)))
    except ValueError:
        return None


def _interpret(node: _Node, scene: MayaScene) -> None:
    attrs = node.attrs
    if node.type == "camera" and len(scene.cameras) < MAX_ITEMS:
        renderable = _flag(attrs.get(".rnd", []), True)
        scene.cameras.append(Camera(node.name, node.parent, renderable))
    elif node.type == "renderLayer" and len(scene.layers) < MAX_ITEMS:
        scene.layers.append(RenderLayer(node.name, _flag(attrs.get(".rndr", []), True)))
    elif node.type == "renderSetupLayer":
        scene.render_setup = True
    elif node.name == "defaultRenderGlobals":
        _render_globals(attrs, scene)
    elif node.type == "script" and node.name == "sceneConfigurationScriptNode":
        _playback(_text(attrs.get(".b", [])), scene)
    elif node.type == "cacheFile":
        folder, name = _text(attrs.get(".cp", [])), _text(attrs.get(".cn", []))
        if folder and name:
            scene._add_file(SceneFile(f"{folder.rstrip('/')}/{name}.xml", "cache", node.name))
    for attr, values in attrs.items():
        kind = _FILE_ATTRS.get((node.type, attr))
        if kind is None:
            continue
        sequence = _flag(attrs.get(".ufe", []), False)
        tiled = (_int(attrs.get(".uvt", [])) or 0) != 0
        for value in values:
            if value.quoted and value.text:
                scene._add_file(SceneFile(value.text, kind, node.name, sequence, tiled))


def _render_globals(attrs: dict[str, list[_Token]], scene: MayaScene) -> None:
    scene.renderer = _text(attrs.get(".ren", [])) or scene.renderer
    scene.image_prefix = _text(attrs.get(".ifp", [])) or scene.image_prefix
    scene.image_format = _text(attrs.get(".imfkey", [])) or scene.image_format
    start, end = _int(attrs.get(".fs", [])), _int(attrs.get(".ef", []))
    if start is not None:
        scene.frame_start = start
    if end is not None:
        scene.frame_end = end
    step = _int(attrs.get(".bfs", []))
    if step:
        scene.frame_step = step


def _playback(text: str, scene: MayaScene) -> None:
    """`playbackOptions -min 1 -max 120 ...`: the frame range when the globals give none."""
    found = {k: v for k, v in _PLAYBACK.findall(text)}
    if scene.frame_start is None and "min" in found:
        scene.frame_start = round(float(found["min"]))
    if scene.frame_end is None and "max" in found:
        scene.frame_end = round(float(found["max"]))


# -- Maya binary -----------------------------------------------------------------------------

_GROUPS = {b"FOR4", b"LIS4", b"CAT4", b"PROP", b"FOR8", b"LIS8", b"CAT8", b"PRO8"}
_PRINTABLE = re.compile(rb"[\x20-\x7e\x80-\xff]{2,}")
_ATTR_NAME = re.compile(r"^\.[A-Za-z_][\w]*$")
_VERS = re.compile(r"(\d{4}(?:\.\d+)?)")


def iff_chunks(data: Buffer) -> Iterator[tuple[bytes, bytes]]:
    """Every leaf chunk (tag, payload) of an IFF buffer in file order, groups walked (at most
    MAX_CHUNKS chunks, 64 groups deep); a payload is cut at MAX_PAYLOAD bytes.

    A `*4` group has 4-byte sizes and 4-byte alignment; a `*8` group (Maya 2014's 64-bit
    files) has a tag, 4 bytes of padding, an 8-byte size, its form type padded to 8 bytes and
    8-byte alignment. Both are big-endian. A chunk that runs past its group ends the walk of
    that group."""
    count = [0]
    yield from _walk(data, 0, len(data), 4, 0, count)


def _walk(
    data: Buffer, pos: int, stop: int, align: int, depth: int, count: list[int]
) -> Iterator[tuple[bytes, bytes]]:
    while pos + 8 <= stop and count[0] < MAX_CHUNKS:
        count[0] += 1
        tag = bytes(data[pos : pos + 4])
        wide = align == 8 or (tag in _GROUPS and tag.endswith(b"8"))
        if wide:
            if pos + 16 > stop:
                return
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            body = pos + 16
        else:
            (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
            body = pos + 8
        if body + size > stop:
            return
        if tag in _GROUPS:
            if depth < 64:
                inner = 8 if wide else 4
                yield from _walk(data, body + inner, body + size, inner, depth + 1, count)
        else:
            yield tag, bytes(data[body : body + min(size, MAX_PAYLOAD)])
        pos = body + _aligned(size, 8 if wide else align)


def _aligned(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def chunk_strings(payload: bytes, limit: int = 64) -> list[str]:
    """The NUL-separated printable strings of a chunk's payload (at most `limit`)."""
    found: list[str] = []
    for match in _PRINTABLE.finditer(payload):
        found.append(match.group(0)[:MAX_STRING].decode("utf-8", errors="replace"))
        if len(found) >= limit:
            break
    return found


def _read_mb(fh: BinaryIO) -> MayaScene:
    scene = MayaScene("mb", partial=True)
    scene.notes.append(
        "a .mb is read as far as its chunks tell: files, references, renderer and "
        "image prefix; cameras, render layers and the frame range are not checked"
    )
    try:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # not a plain file
        return scene
    with data:
        _read_chunks(data, scene)
    return scene


def _read_chunks(data: mmap.mmap, scene: MayaScene) -> None:
    for tag, payload in iff_chunks(data):
        strings = chunk_strings(payload)
        if tag == b"VERS" and strings:
            version = _VERS.search(strings[0])
            scene.maya_version = version.group(1) if version else strings[0]
        elif tag == b"PLUG" and strings and len(scene.plugins) < 200:
            if strings[0] not in scene.plugins:
                scene.plugins.append(strings[0])
        elif tag in (b"FREF", b"FRDI") and strings:
            path = next((s for s in reversed(strings) if _looks_like_file(s)), "")
            if path:
                scene._add_file(SceneFile(path, "reference"))
        else:
            _mb_attributes(strings, scene)


def _mb_attributes(strings: list[str], scene: MayaScene) -> None:
    """Attribute name / value pairs among a chunk's strings (".ftn", "v:/tex/wood.png")."""
    for name, value in itertools.pairwise(strings):
        if not _ATTR_NAME.match(name):
            continue
        kind = _ANY_NODE_FILE_ATTRS.get(name)
        if kind is not None and _looks_like_file(value):
            scene._add_file(SceneFile(value, kind))
        elif name == ".ren":
            scene.renderer = value
        elif name == ".ifp":
            scene.image_prefix = value
        elif name == ".imfkey":
            scene.image_format = value


def _looks_like_file(text: str) -> bool:
    lowered = text.lower()
    return ("/" in text or "\\" in text or "." in text) and lowered.endswith(_FILE_SUFFIXES)
