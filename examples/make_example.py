"""Build foxden's example scene (runs inside Blender).

    blender -b --factory-startup --python examples/make_example.py -- OUTDIR \
        [--size 320x180] [--frames 24] [--samples 16]

Writes OUTDIR/shot.blend and OUTDIR/tex/checker.png: a short animation of a textured cube moving
over a ground plane, with two cameras (CamA, the scene camera, and CamB) and two view layers
(LayerA with everything, LayerB without the red ball). The texture is referenced by the relative
path //tex/checker.png, so uploading OUTDIR uploads what the scene needs. The scene itself is
made by `build_anim` of scripts/make_scenes.py (the test scenes' builder), at a nicer size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bpy
from make_scenes import build_anim


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="make_example.py")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    outdir = args.outdir.resolve()
    anim = build_anim(outdir, (width, height), args.samples, args.frames)
    shot = outdir / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot), compress=False, relative_remap=False)
    anim.unlink()
    print(f"make_example: wrote {shot}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else [])
