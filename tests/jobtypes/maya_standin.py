#!/usr/bin/python3
"""A STAND-IN for Maya's `Render`, for tests only: Maya itself is licensed software that cannot
be installed or run here. It is NOT Maya and renders nothing of the scene.

Installed by `install_standin` as `<folder>/maya2024/bin/Render`, it does what the farm relies
on Maya's `Render` doing, so that foxden's side of the Maya job type runs for real:

* it reads the flags foxden gives (`-r -cam -rl -proj -rd -im -pad -fnc -s -e -b -preRender`,
  the scene last) and refuses unknown ones;
* it applies the `dirmap -m "from" "to"` pairs of the `-preRender` MEL to every texture
  (`.ftn`) and reference (`file -r`) path of a .ma scene, as Maya would, and fails like a
  Maya error (`// Error: ...`, status 1) when one does not resolve to a file, or when the
  camera or render layer is not in the scene;
* for each frame it prints the log lines of the renderer (`-r sw`: Maya Software's
  `Starting Rendering` / `Percentage of rendering done` / `Finished Rendering`; `-r arnold`:
  Arnold's `% done` and `writing file` lines) and writes a small PNG where Maya would:
  `<-rd>/<-im>.<frame padded to -pad>.png`, `<Scene>`, `<RenderLayer>` and `<Camera>`
  replaced; its colour depends on the frame and the camera.

Standard library only: it runs inside the worker's sandbox with the system's Python.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import zlib
from pathlib import Path

FLAGS = {"-r", "-cam", "-rl", "-proj", "-rd", "-im", "-pad", "-fnc", "-s", "-e", "-b"}
FLAGS |= {"-preRender", "-preFrame", "-postFrame"}
DIRMAP = re.compile(r'dirmap -m "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)";')
TEXTURE = re.compile(r'setAttr "\.ftn" -type "string" "([^"]*)";')
REFERENCE = re.compile(r'^file -r .*"([^"]*)";$', re.MULTILINE)
CAMERA = re.compile(r'^createNode camera -n "([^"]+)" -p "([^"]+)";', re.MULTILINE)
LAYER = re.compile(r'^createNode renderLayer -n "([^"]+)";', re.MULTILINE)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def part(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    row = b"\0" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + part(b"IHDR", header)
        + part(b"IDAT", zlib.compress(row * height))
        + part(b"IEND", b"")
    )


def fail(message: str) -> None:
    print(f"// Error: {message} //", flush=True)
    sys.exit(1)


def unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def mapped(path: str, pairs: list[tuple[str, str]], project: str) -> str:
    for old, new in pairs:
        if path.startswith(old):
            return new + path[len(old) :]
    return path if path.startswith("/") else os.path.join(project, path)


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        fail("no scene given")
    flags: dict[str, str] = {}
    args = argv[:-1]
    for i in range(0, len(args), 2):
        if args[i] not in FLAGS or i + 1 >= len(args):
            fail(f"Render stand-in: unknown flag {args[i]}")
        flags[args[i]] = args[i + 1]
    scene = Path(argv[-1])
    text = scene.read_text(errors="replace")
    pairs = [(unescape(a), unescape(b)) for a, b in DIRMAP.findall(flags.get("-preRender", ""))]
    print(f"Render stand-in (not Maya): {scene.name}, renderer {flags.get('-r')}", flush=True)
    for path in TEXTURE.findall(text) + REFERENCE.findall(text):
        local = mapped(path, pairs, flags.get("-proj", "."))
        if not os.path.isfile(local):
            fail(f'Could not open file "{path}" (looked for {local})')
        print(f"Result: {path} -> {local}", flush=True)
    cameras = {name for pair in CAMERA.findall(text) for name in pair}
    camera = flags.get("-cam", "persp")
    if camera not in cameras:
        fail(f"Cannot find camera '{camera}'")
    layer = flags.get("-rl", "defaultRenderLayer")
    if layer not in LAYER.findall(text):
        fail(f"Invalid render layer: {layer}")
    start, end, step = int(flags["-s"]), int(flags["-e"]), int(flags.get("-b", "1"))
    pad = int(flags.get("-pad", "1"))
    prefix = flags.get("-im", scene.stem)
    prefix = prefix.replace("<Scene>", scene.stem).replace("<Camera>", camera)
    prefix = prefix.replace(
        "<RenderLayer>", "masterLayer" if layer == "defaultRenderLayer" else layer
    )
    shade = sum(map(ord, camera)) % 200
    for frame in range(start, end + 1, step):
        image = Path(flags["-rd"]) / f"{prefix}.{frame:0{pad}d}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        if flags.get("-r") == "arnold":
            for percent in (0, 50, 100):
                print(f"00:00:0{percent // 50}   120MB         |    {percent}% done - 4 rays/pixel")
        else:
            print(f"Starting Rendering {image}")
            print(f"Percentage of rendering done: 50 ({image})")
        image.write_bytes(png(32, 24, (frame * 20 % 256, shade, 90)))
        if flags.get("-r") == "arnold":
            print(f"00:00:02   120MB         |  [driver_png] writing file `{image}'")
        else:
            print(f"Finished Rendering {image}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])


def install_standin(folder: Path) -> Path:
    """Copy this stand-in to `<folder>/maya2024/bin/Render` (executable); returns that path."""
    exe = folder / "maya2024" / "bin" / "Render"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(Path(__file__).read_text())
    exe.chmod(0o755)
    return exe
