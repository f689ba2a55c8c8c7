"""Build small Blender test scenes for foxden (runs inside Blender).

    blender -b --factory-startup --python scripts/make_scenes.py -- OUTDIR \
        [--only anim,missing_tex,script_error] [--frames 5] [--size 64x48] [--samples 4]

Scenes written to OUTDIR:

* ``anim.blend``: a cube that moves and turns over the frame range, two cameras ("CamA" is the
  scene camera, "CamB" looks from another side), two view layers ("LayerA" shows everything,
  "LayerB" excludes the "Extra" collection, a big sphere) and an image texture loaded from the
  relative path ``//tex/checker.png`` (written to OUTDIR/tex/checker.png).
* ``missing_tex.blend``: a plane filling the view, its emission colour from the absolute client
  texture ``v:\\project\\tex\\wood.png`` (which does not exist here).
* ``script_error.blend``: a registered text block (``boom.py``) that raises when the file loads.
* ``linked.blend``: links a green board from the absolute client path
  ``v:\\project\\lib\\props.blend``; the library itself is written to OUTDIR/lib/props.blend.

All scenes use Cycles on the CPU with few samples and denoising off (many Blender builds have no
OpenImageDenoise). Other scripts can import this file and call ``build_anim`` & co., or run it
with ``--only``/``--size``/``--frames``/``--samples`` to make bigger versions.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy

CLIENT_WOOD = "v:\\project\\tex\\wood.png"
CLIENT_PROPS = "v:\\project\\lib\\props.blend"


def reset() -> bpy.types.Scene:
    """An empty scene with a clean slate of data blocks."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Scene"
    return scene


def setup_render(scene: bpy.types.Scene, size: tuple[int, int], samples: int, frames: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.use_preview_denoising = False
    scene.cycles.max_bounces = 2
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.film_transparent = False
    scene.view_settings.view_transform = "Standard"  # plain colours, easy to test
    scene.frame_start = 1
    scene.frame_end = frames
    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.07, 0.1, 1)
    scene.world = world
    for layer in scene.view_layers:
        layer.cycles.use_denoising = False


def emission_material(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes = mat.node_tree.nodes
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*color, 1)
    emit.inputs["Strength"].default_value = 1.0
    mat.node_tree.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def image_material(name: str, image: bpy.types.Image) -> bpy.types.Material:
    """An emission material showing the image as is (lighting-independent, easy to test)."""
    mat = emission_material(name, (1, 1, 1))
    nodes = mat.node_tree.nodes
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    emit = next(n for n in nodes if n.type == "EMISSION")
    mat.node_tree.links.new(tex.outputs["Color"], emit.inputs["Color"])
    return mat


def add_camera(name: str, location: tuple[float, float, float]) -> bpy.types.Object:
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    cam.location = location
    bpy.context.scene.collection.objects.link(cam)
    track = cam.constraints.new("TRACK_TO")
    target = bpy.data.objects.get("Target")
    if target is None:
        target = bpy.data.objects.new("Target", None)
        bpy.context.scene.collection.objects.link(target)
    track.target = target
    track.track_axis = "TRACK_NEGATIVE_Z"
    track.up_axis = "UP_Y"
    return cam


def write_checker(path: Path, size: int = 32, cells: int = 4) -> None:
    """A yellow/blue checker PNG written through Blender's own image code."""
    img = bpy.data.images.new("checker_gen", size, size, alpha=False)
    pixels: list[float] = []
    for y in range(size):
        for x in range(size):
            on = ((x * cells // size) + (y * cells // size)) % 2 == 0
            pixels.extend((1.0, 0.85, 0.1, 1.0) if on else (0.1, 0.2, 0.9, 1.0))
    img.pixels = pixels
    path.parent.mkdir(parents=True, exist_ok=True)
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def build_anim(
    outdir: Path, size: tuple[int, int] = (64, 48), samples: int = 4, frames: int = 5
) -> Path:
    scene = reset()
    setup_render(scene, size, samples, frames)
    write_checker(outdir / "tex" / "checker.png")

    main = bpy.data.collections.new("Main")
    extra = bpy.data.collections.new("Extra")
    scene.collection.children.link(main)
    scene.collection.children.link(extra)

    image = bpy.data.images.load(str(outdir / "tex" / "checker.png"))
    image.filepath = "//tex/checker.png"
    cube_mesh = bpy.data.meshes.new("Cube")
    _cube_geometry(cube_mesh)
    cube = bpy.data.objects.new("Cube", cube_mesh)
    cube.data.materials.append(image_material("Checker", image))
    main.objects.link(cube)
    for frame in range(1, frames + 1):
        t = (frame - 1) / max(frames - 1, 1)
        cube.location = (-1.5 + 3.0 * t, 0.0, 0.3 * math.sin(t * math.pi))
        cube.rotation_euler = (0.0, 0.0, t * math.pi * 0.9)
        cube.keyframe_insert("location", frame=frame)
        cube.keyframe_insert("rotation_euler", frame=frame)

    ground = bpy.data.objects.new("Ground", _plane_mesh("Ground", 8.0))
    ground.location = (0, 0, -1.0)
    ground.data.materials.append(emission_material("Grey", (0.3, 0.3, 0.3)))
    main.objects.link(ground)

    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, location=(0.0, 2.0, 0.5))
    sphere = bpy.context.active_object
    sphere.name = "Ball"
    for coll in sphere.users_collection:
        coll.objects.unlink(sphere)
    extra.objects.link(sphere)
    sphere.data.materials.append(emission_material("Red", (0.9, 0.05, 0.05)))

    scene.camera = add_camera("CamA", (0.0, -7.0, 3.0))
    add_camera("CamB", (7.0, 1.0, 5.0))

    layer_a = scene.view_layers[0]
    layer_a.name = "LayerA"
    layer_b = scene.view_layers.new("LayerB")
    layer_b.layer_collection.children["Extra"].exclude = True
    for layer in scene.view_layers:
        layer.use = True
        layer.cycles.use_denoising = False
    return _save(outdir / "anim.blend")


def build_missing_tex(outdir: Path, size: tuple[int, int] = (64, 48), samples: int = 4) -> Path:
    scene = reset()
    setup_render(scene, size, samples, 1)
    image = bpy.data.images.new("wood", 4, 4)
    image.source = "FILE"
    image.filepath = CLIENT_WOOD
    plane = bpy.data.objects.new("Board", _plane_mesh("Board", 20.0))
    plane.data.materials.append(image_material("Wood", image))
    scene.collection.objects.link(plane)
    scene.camera = add_camera("Camera", (0.0, 0.0, 5.0))
    return _save(outdir / "missing_tex.blend")


def build_script_error(outdir: Path, size: tuple[int, int] = (64, 48), samples: int = 4) -> Path:
    scene = reset()
    setup_render(scene, size, samples, 1)
    plane = bpy.data.objects.new("Board", _plane_mesh("Board", 20.0))
    plane.data.materials.append(emission_material("Green", (0.1, 0.8, 0.1)))
    scene.collection.objects.link(plane)
    scene.camera = add_camera("Camera", (0.0, 0.0, 5.0))
    text = bpy.data.texts.new("boom.py")
    text.write('raise RuntimeError("boom: the scene script failed")\n')
    text.use_module = True
    return _save(outdir / "script_error.blend")


def build_linked(outdir: Path, size: tuple[int, int] = (64, 48), samples: int = 4) -> Path:
    """``lib/props.blend`` (a green board) and ``linked.blend``, which links the board from the
    absolute client path ``v:\\project\\lib\\props.blend``."""
    scene = reset()
    board = bpy.data.objects.new("Prop", _plane_mesh("Prop", 20.0))
    board.data.materials.append(emission_material("PropGreen", (0.1, 0.8, 0.1)))
    scene.collection.objects.link(board)
    lib_path = _save(outdir / "lib" / "props.blend")

    scene = reset()
    setup_render(scene, size, samples, 1)
    with bpy.data.libraries.load(str(lib_path), link=True) as (_src, dst):
        dst.objects = ["Prop"]
    for obj in dst.objects:
        scene.collection.objects.link(obj)
    scene.camera = add_camera("Camera", (0.0, 0.0, 5.0))
    bpy.data.libraries[0].filepath = CLIENT_PROPS
    return _save(outdir / "linked.blend")


def _plane_mesh(name: str, size: float) -> bpy.types.Mesh:
    h = size / 2
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new()
    return mesh


def _cube_geometry(mesh: bpy.types.Mesh) -> None:
    verts = [(x, y, z) for x in (-0.7, 0.7) for y in (-0.7, 0.7) for z in (-0.7, 0.7)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts, [], faces)
    uv = mesh.uv_layers.new()
    corners = [(0, 0), (1, 0), (1, 1), (0, 1)]
    for poly in mesh.polygons:
        for i, loop in enumerate(poly.loop_indices):
            uv.data[loop].uv = corners[i % 4]


def _save(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=False, relative_remap=False)
    print(f"make_scenes: wrote {path}")
    return path


BUILDERS = ("anim", "missing_tex", "script_error", "linked")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="make_scenes.py")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--only", default=",".join(BUILDERS))
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    outdir = args.outdir.resolve()
    for name in args.only.split(","):
        if name == "anim":
            build_anim(outdir, (width, height), args.samples, args.frames)
        elif name == "missing_tex":
            build_missing_tex(outdir, (width, height), args.samples)
        elif name == "script_error":
            build_script_error(outdir, (width, height), args.samples)
        elif name == "linked":
            build_linked(outdir, (width, height), args.samples)
        else:
            raise SystemExit(f"make_scenes: unknown scene {name!r}: choose from {BUILDERS}")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else [])
