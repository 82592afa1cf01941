#!/usr/bin/env bash
# Create (once) the Python environment mmipr runs in, and (re)install mmipr into it.
#
#   tools/bootstrap.sh            prints the venv's path on its last line
#
# The venv lives outside the repository, keyed by the hash of
# requirements/*.txt, so every clone on this machine shares it and it is rebuilt
# only when those files change: ${MMIPR_VENV_ROOT:-$HOME/.cache/mmipr}/venv-<hash>.
# A second run skips everything already installed.
#
# mmipr itself is installed as a regular (non-editable) package, because `mim`
# finds a package's tools/ and configs/ through its installed distribution, which
# editable installs break. The installed copy is stamped with a hash of the
# source; whenever the source differs (or it was installed from another clone),
# it is reinstalled, so a stale copy is never what runs.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] >= (3, 8), sys.version' \
  || { echo "bootstrap: Python >= 3.8 is required (found $($python --version))" >&2; exit 1; }

req_hash=$(cat requirements/*.txt | sha256sum | cut -c1-12)
root=${MMIPR_VENV_ROOT:-$HOME/.cache/mmipr}
venv="$root/venv-$req_hash"
pip_quiet=(--quiet --disable-pip-version-check)

log() { echo "[bootstrap] $*" >&2; }

if [ ! -f "$venv/.deps-ok" ]; then
  log "creating $venv (first run on this machine: a few minutes)"
  rm -rf "$venv"
  mkdir -p "$root"
  "$python" -m venv "$venv"
  # pip warns about each missing local index folder; only errors matter here.
  "$venv/bin/pip" install "${pip_quiet[@]}" -c requirements/constraints.txt \
      -r requirements/runtime.txt 2> >(grep -v "^WARNING: Location" >&2)
  "$venv/bin/pip" install "${pip_quiet[@]}" --no-deps -c requirements/constraints.txt \
      -r requirements/nodeps.txt 2> >(grep -v "^WARNING: Location" >&2)
  "$venv/bin/python" -c "import numpy, torch, torchvision, mmengine, mmcv, mmpose, xtcocotools, mim; \
assert numpy.__version__ < '2', numpy.__version__"
  touch "$venv/.deps-ok"
else
  log "environment up to date: $venv"
fi

src_hash=$( { echo "$repo"; find mmipr configs tools setup.cfg pyproject.toml -type f \
    -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum; } \
    | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.mmipr-src" 2>/dev/null)" != "$src_hash" ]; then
  log "installing mmipr from $repo"
  "$venv/bin/pip" install "${pip_quiet[@]}" --no-deps --no-build-isolation \
      --force-reinstall . 2> >(grep -v "^WARNING: Location" >&2)
  rm -rf build mmipr.egg-info
  echo "$src_hash" > "$venv/.mmipr-src"
else
  log "mmipr install up to date"
fi
echo "$venv"
