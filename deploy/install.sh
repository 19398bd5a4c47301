#!/bin/sh
# The install steps of the user-code image: deploy/Dockerfile RUNs this file, and
# genesys_assets_tests/test_deployment.py runs the same file on a clean virtualenv (no container
# engine on the test machines), then starts the code server from what it installed.
#
#   deploy/install.sh [SOURCE]
#
# SOURCE is the project folder (the one with pyproject.toml and requirements.lock), by default
# the current folder; PYTHON (default: python) is the interpreter whose environment receives the
# packages. pip's own settings (PIP_NO_CACHE_DIR, PIP_INDEX_URL, ...) come from the environment.
set -eu

source_dir=${1:-.}
python=${PYTHON:-python}

# Exactly the versions the test suite ran with: requirements.lock pins every package, the
# transitive ones too, so nothing is resolved while the image is built.
"$python" -m pip install --requirement "$source_dir/requirements.lock"
# The project itself (a regular, non-editable install: the image holds no source tree), without
# letting pip add or change any dependency.
"$python" -m pip install --no-deps "$source_dir"
# A lock edited by hand into an inconsistent set fails the build here, not at the first run.
"$python" -m pip check
