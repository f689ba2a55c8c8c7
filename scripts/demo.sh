#!/usr/bin/env bash
# foxden demo: install what is needed (Debian/Ubuntu), start a farm on this machine, render the
# example scene on it, stop the farm. The frames end up in ./renders.
#
#   ./scripts/demo.sh            # FRAMES=1-24 WORKERS=2 PORT=<free> may be set in the environment
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMES="${FRAMES:-1-24}"
WORKERS="${WORKERS:-2}"
VENV="${VENV:-.venv}"
FARM_DIR=".foxden/demo"
SCENE_DIR="build/example"

say() { printf '\n== %s\n' "$*"; }

# 1. System packages: Blender to render, Python's venv module to install foxden.
missing=()
command -v blender >/dev/null || missing+=(blender)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi

# 2. foxden in a virtual environment.
if ! "$VENV/bin/python" -c 'import foxden.client, fastapi, PIL' 2>/dev/null; then
    say "installing foxden into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -e '.[server,worker]'
fi
FOXDEN="$VENV/bin/foxden"

# 3. The example scene: an animation with two cameras, two view layers and a texture.
say "building the example scene in $SCENE_DIR"
blender -b --factory-startup -noaudio --python-exit-code 1 \
    --python examples/make_example.py -- "$SCENE_DIR" >/dev/null

# 4. A farm on this machine: server + local workers, in the background.
PORT="${PORT:-$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
mkdir -p "$FARM_DIR"
say "starting the farm on port $PORT with $WORKERS worker(s) (log: $FARM_DIR/up.log)"
"$FOXDEN" up --data-dir "$FARM_DIR" --port "$PORT" --workers "$WORKERS" >"$FARM_DIR/up.log" 2>&1 &
UP_PID=$!
stop_farm() {
    if kill -0 "$UP_PID" 2>/dev/null; then
        say "stopping the farm"
        kill -INT "$UP_PID" 2>/dev/null || true
        wait "$UP_PID" 2>/dev/null || true
    fi
}
trap stop_farm EXIT
for _ in $(seq 1 240); do
    grep -q "ready" "$FARM_DIR/up.log" 2>/dev/null && break
    kill -0 "$UP_PID" 2>/dev/null || { cat "$FARM_DIR/up.log"; echo "the farm did not start" >&2; exit 1; }
    sleep 0.5
done
grep -q "ready" "$FARM_DIR/up.log" || { cat "$FARM_DIR/up.log"; echo "the farm did not get ready" >&2; exit 1; }

# 5. Upload the scene's folder, render, wait, download: one command.
say "rendering frames $FRAMES of $SCENE_DIR/shot.blend"
"$FOXDEN" render "$SCENE_DIR/shot.blend" --frames "$FRAMES" --out ./renders --farm-dir "$FARM_DIR"

say "done: the frames are in ./renders"
find ./renders -name '*.png' | sort | tail -n 3
