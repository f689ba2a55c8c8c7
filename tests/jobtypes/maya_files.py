"""Maya scene files for the tests, written the way Maya writes them: a .ma (MEL statements)
and a .mb (IFF chunks). Maya itself is not needed (nor installed)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class MaScene:
    """What a test .ma holds; `text()` writes it as Maya ASCII."""

    textures: list[str] = field(default_factory=list)  # file nodes' .ftn
    udim: str = ""  # a file node in UDIM tiling mode
    references: list[str] = field(default_factory=list)
    alembic: str = ""
    gpu_cache: str = ""
    image_plane: str = ""  # a sequence (.ufe yes)
    particle_cache: str = ""  # a diskCache's .cn
    cameras: list[tuple[str, bool]] = field(default_factory=lambda: [("persp", True)])
    legacy_layers: list[tuple[str, bool]] = field(default_factory=list)
    setup_layers: list[str] = field(default_factory=list)
    renderer: str = "mayaSoftware"
    prefix: str = ""
    frames: tuple[int, int] | None = (1, 10)
    playback: tuple[int, int] = (1, 120)

    def text(self) -> str:
        out = [
            "//Maya ASCII 2024 scene",
            "//Name: lgt.ma",
            "//Codeset: 1252",
        ]
        for i, ref in enumerate(self.references):
            out.append(
                f'file -rdi 1 -ns "ref{i}" -rfn "ref{i}RN" -op "v=0;" -typ "mayaAscii" "{ref}";'
            )
        for i, ref in enumerate(self.references):
            out.append(
                f'file -r -ns "ref{i}" -dr 1 -rfn "ref{i}RN" -op "v=0;" -typ "mayaAscii"\n'
                f'\t\t "{ref}";'
            )
        out += [
            'requires maya "2024";',
            'requires -nodeType "aiOptions" "mtoa" "5.3.0";',
            "currentUnit -l centimeter -a degree -t film;",
            'fileInfo "application" "maya";',
            'fileInfo "product" "Maya 2024";',
        ]
        for name, renderable in self.cameras:
            out += [
                f'createNode transform -n "{name}";',
                '\trename -uid "0A1B2C3D-0000-0000-0000-000000000001";',
                '\tsetAttr ".t" -type "double3" 28 21 28 ;',
                f'createNode camera -n "{name}Shape" -p "{name}";',
                '\tsetAttr -k off ".v";',
                '\tsetAttr ".fl" 34.999999999999993;',
            ]
            if not renderable:
                out.append('\tsetAttr ".rnd" no;')
        # a big array, as geometry writes them: a statement over many lines
        out.append('createNode mesh -n "ballShape" -p "ball";')
        out.append('\tsetAttr -s 400 ".vt[0:399]"')
        out += ["\t\t 0 0 0 1 1 1 2 2 2 3 3 3" for _ in range(100)]
        out[-1] += ";"
        for i, path in enumerate(self.textures):
            out += [
                f'createNode file -n "file{i}";',
                f'\tsetAttr ".ftn" -type "string" "{path}";',
                '\tsetAttr ".cs" -type "string" "sRGB";',
            ]
        if self.udim:
            out += [
                'createNode file -n "fileUdim";',
                f'\tsetAttr ".ftn" -type "string" "{self.udim}";',
                '\tsetAttr ".uvt" 3;',
            ]
        if self.alembic:
            out += [
                'createNode AlembicNode -n "anim_AlembicNode";',
                f'\tsetAttr ".fn" -type "string" "{self.alembic}";',
                f'\tsetAttr ".fns" -type "stringArray" 1 "{self.alembic}"  ;',
            ]
        if self.gpu_cache:
            out += [
                'createNode gpuCache -n "setShape" -p "set";',
                f'\tsetAttr ".cfn" -type "string" "{self.gpu_cache}";',
            ]
        if self.image_plane:
            out += [
                'createNode imagePlane -n "imagePlaneShape1" -p "imagePlane1";',
                f'\tsetAttr ".imn" -type "string" "{self.image_plane}";',
                '\tsetAttr ".ufe" yes;',
            ]
        if self.particle_cache:
            out += [
                'createNode diskCache -n "diskCache1";',
                f'\tsetAttr ".cn" -type "string" "{self.particle_cache}";',
            ]
        out += [
            'createNode renderLayerManager -n "renderLayerManager";',
            'createNode renderLayer -n "defaultRenderLayer";',
            '\tsetAttr ".g" yes;',
        ]
        for name, renderable in self.legacy_layers:
            out.append(f'createNode renderLayer -n "{name}";')
            if not renderable:
                out.append('\tsetAttr ".rndr" no;')
        if self.setup_layers:
            out.append('createNode renderSetup -n "renderSetup";')
        for name in self.setup_layers:
            out += [
                f'createNode renderSetupLayer -n "{name}";',
                f'createNode renderLayer -n "rs_{name}";',
                '\tsetAttr ".do" 1;',
            ]
        out += [
            'createNode script -n "sceneConfigurationScriptNode";',
            f'\tsetAttr ".b" -type "string" "playbackOptions -min {self.playback[0]} '
            f'-max {self.playback[1]} -ast 1 -aet 200 ";',
            '\tsetAttr ".st" 6;',
            "select -ne :defaultRenderGlobals;",
            f'\tsetAttr ".ren" -type "string" "{self.renderer}";',
            '\tsetAttr ".outf" 32;',
            '\tsetAttr ".imfkey" -type "string" "png";',
            '\tsetAttr ".an" yes;',
        ]
        if self.frames is not None:
            out += [f'\tsetAttr ".fs" {self.frames[0]};', f'\tsetAttr ".ef" {self.frames[1]};']
        if self.prefix:
            out.append(f'\tsetAttr ".ifp" -type "string" "{self.prefix}";')
        out += ["select -ne :defaultResolution;", '\tsetAttr ".w" 32;', '\tsetAttr ".h" 24;']
        out.append("// End of lgt.ma")
        return "\n".join(out) + "\n"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())
        return path


def chunk(tag: bytes, payload: bytes, wide: bool = False) -> bytes:
    """One IFF chunk: tag, size (4 bytes; 8 after 4 bytes of padding when `wide`), payload,
    padding to 4 (8) bytes."""
    align = 8 if wide else 4
    head = tag + (
        b"\0" * 4 + struct.pack(">Q", len(payload)) if wide else struct.pack(">I", len(payload))
    )
    return head + payload + b"\0" * (-len(payload) % align)


def group(tag: bytes, form: bytes, children: list[bytes], wide: bool = False) -> bytes:
    """An IFF group (FOR4/FOR8, LIS4/...): its form type, then its chunks."""
    body = form + (b"\0" * 4 if wide else b"") + b"".join(children)
    return chunk(tag, body, wide)


def attr(name: str, value: str) -> bytes:
    """An attribute chunk's payload as Maya binary stores a string: name, flag byte, value."""
    return name.encode() + b"\0\x01" + value.encode() + b"\0"


def write_mb(
    path: Path,
    *,
    textures: list[str],
    references: list[str],
    renderer: str = "arnold",
    wide: bool = True,
) -> Path:
    """A .mb: the header (version, plug-in, file info), references (FREF), a camera, a render
    layer and file nodes with their `.ftn`, the render globals' `.ren`."""
    four, eight = (b"FOR8", b"LIS8") if wide else (b"FOR4", b"LIS4")
    head = group(
        four,
        b"HEAD",
        [
            chunk(b"VERS", b"2024\0", wide),
            chunk(b"PLUG", b"mtoa\x005.3.0\0", wide),
            chunk(b"FINF", b"product\0Maya 2024\0", wide),
        ],
        wide,
    )
    refs = [chunk(b"FREF", b"ref\0" + r.encode() + b"\0", wide) for r in references]
    nodes = [
        group(four, b"CAME", [chunk(b"CREA", b"\0camera1Shape\0camera1\0", wide)], wide),
        group(four, b"RNDL", [chunk(b"CREA", b"\0ball\0", wide)], wide),
    ]
    for i, tex in enumerate(textures):
        nodes.append(
            group(
                four,
                b"FILE",
                [
                    chunk(b"CREA", f"\0file{i}\0".encode(), wide),
                    chunk(b"STR ", attr(".ftn", tex), wide),
                ],
                wide,
            )
        )
    nodes.append(
        group(
            four,
            b"RGLB",
            [
                chunk(b"SLCT", b"defaultRenderGlobals\0", wide),
                chunk(b"STR ", attr(".ren", renderer), wide),
                chunk(b"DBLE", b".fs\0\x00" + struct.pack(">d", 1073.0), wide),
            ],
            wide,
        )
    )
    body = group(
        four, b"Maya", [head, *refs, group(eight if wide else b"LIS4", b"NODE", nodes, wide)], wide
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path
