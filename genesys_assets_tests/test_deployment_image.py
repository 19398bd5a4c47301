"""The user-code image's install steps without Docker (no container engine here): what
deploy/Dockerfile copies, its RUN of deploy/install.sh in a clean virtualenv, then its CMD and
HEALTHCHECK. A file of its own so that, at about 80 s, it runs beside the stack's tests."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .deployment import DEPLOY_INSTANCE, free_port, wait_for

pytestmark = pytest.mark.deployment

DOCKERFILE = DEPLOY_INSTANCE.parent / "Dockerfile"


def _instructions(name: str) -> list[str]:
    """The arguments of the Dockerfile's instructions `name`, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = [line[len(name) :].strip() for line in text.splitlines() if line.startswith(name + " ")]
    assert found, f"no {name} in {DOCKERFILE}"
    return found


@pytest.mark.skipif(
    os.environ.get("GENESYS_TEST_IMAGE_INSTALL") != "1",
    reason="installs every pinned package into a new virtualenv (about 80 s): "
    "GENESYS_TEST_IMAGE_INSTALL=1 (set by .ci/run)",
)
@pytest.mark.timeout(600)
def test_the_image_install_steps_give_a_code_server_that_answers(tmp_path: Path) -> None:
    """What deploy/Dockerfile does, without Docker: copy what it copies, RUN install.sh in a
    clean virtualenv, remove the sources, then run its CMD and its HEALTHCHECK."""
    source = tmp_path / "src"
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("COPY ") or "DAGSTER_HOME" in line:
            continue  # the instance file goes to DAGSTER_HOME, below
        for name in line.split()[1:-1]:  # COPY <sources...> <destination>
            origin, target = DEPLOY_INSTANCE.parent.parent / name, source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, target)
    assert any(run.startswith("sh deploy/install.sh . ") for run in _instructions("RUN"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        ["sh", "deploy/install.sh", "."],
        cwd=source,
        env={**os.environ, "PYTHON": str(venv / "bin" / "python")},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-3000:]
    assert "No broken requirements found." in installed.stdout
    shutil.rmtree(source)  # as the image does: what runs is what was installed

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "GENESYS_"))},
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "DAGSTER_HOME": str(home),
        "GENESYS_ASSETS_HOME": str(tmp_path / "state"),
    }
    where = subprocess.run(
        ["python", "-c", "import genesys_assets.deploy.launcher as m; print(m.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    port = str(free_port())
    command = [port if arg == "4000" else arg for arg in json.loads(_instructions("CMD")[-1])]
    command = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in command]
    health = json.loads(_instructions("HEALTHCHECK")[-1].split(" CMD ", 1)[1])
    health = [port if arg == "4000" else arg for arg in health]
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:

        def healthy() -> bool:
            checked = subprocess.run(health, cwd=tmp_path, env=env, capture_output=True, timeout=60)
            return checked.returncode == 0

        wait_for(healthy, 180, "the installed code server's health check", interval=1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
