"""scripts/check-image runs the image the way deploy/kubernetes/daemonset.yaml says, and the image
agrees with the manifests: checked here without podman, so a manifest change that the image run
would not follow fails every test run, not only where containers can be run."""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_check_image() -> ModuleType:
    path = REPO / "scripts" / "check-image"
    loader = importlib.machinery.SourceFileLoader("check_image", str(path))
    spec = importlib.util.spec_from_loader("check_image", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


check_image = load_check_image()


def manifests() -> tuple[dict[str, Any], dict[str, Any]]:
    daemonset = yaml.safe_load((DEPLOY / "kubernetes" / "daemonset.yaml").read_text())
    configmap = yaml.safe_load((DEPLOY / "kubernetes" / "configmap.yaml").read_text())
    return daemonset, configmap


def plan(tmp_path: Path, daemonset: dict[str, Any] | None = None) -> Any:
    ds, cm = manifests()
    paths = {"/var/log/aichat": tmp_path / "logs", "/var/lib/logship": tmp_path / "state"}
    (tmp_path / "config").mkdir(exist_ok=True)
    return check_image.PodPlan(daemonset or ds, cm, paths, tmp_path / "config")


def test_the_pod_runs_as_the_manifest_says(tmp_path: Path) -> None:
    p = plan(tmp_path)
    args = p.container_args(p.main, "IMAGE")
    line = " ".join(args)
    assert "--user 10001:10001" in line
    assert "--group-add 4" in line
    assert "--read-only --read-only-tmpfs=false" in line
    assert "--cap-drop=ALL" in args and not any(a.startswith("--cap-add") for a in args)
    assert "--security-opt no-new-privileges" in line
    assert f"-v {tmp_path / 'logs'}:/var/log/aichat:ro" in line
    assert f"-v {tmp_path / 'state'}:/var/lib/logship " in line
    assert f"-v {tmp_path / 'config'}:/etc/logship:ro" in line
    assert "--tmpfs /tmp:rw,mode=1777,size=16777216" in line
    assert f"--memory {256 * 2**20}" in line and "--cpus 1.0" in line
    assert f"-e HOSTNAME={check_image.NODE_NAME}" in line and "-e ENVIRONMENT=production" in line
    assert "--stop-timeout 45" in line
    assert args[-4:] == ["IMAGE", "run", "--config", "/etc/logship/logship.toml"]
    # The mounted configuration is the ConfigMap's, byte for byte.
    _, cm = manifests()
    assert (tmp_path / "config" / "logship.toml").read_text() == cm["data"]["logship.toml"]
    assert p.http_port() == 9611
    assert p.probes() == [("livenessProbe", "/health", 9611), ("readinessProbe", "/health/detailed", 9611)]


def test_the_init_container_only_gets_chown(tmp_path: Path) -> None:
    p = plan(tmp_path)
    (init,) = p.inits
    line = " ".join(p.container_args(init, "IMAGE"))
    assert "--user 0 " in line and "--cap-drop=ALL --cap-add=CHOWN" in line
    assert line.endswith('--entrypoint ["chown", "10001:10001", "/var/lib/logship"] IMAGE')


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("container", "lifecycle", {"preStop": {"exec": {"command": ["sleep", "5"]}}}),
        ("container", "workingDir", "/"),
        ("pod", "hostNetwork", True),
        ("securityContext", "privileged", True),
    ],
)
def test_a_manifest_key_the_image_run_does_not_follow_fails(
    tmp_path: Path, where: str, key: str, value: Any
) -> None:
    ds, _ = manifests()
    ds = copy.deepcopy(ds)
    pod = ds["spec"]["template"]["spec"]
    target = {
        "pod": pod,
        "container": pod["containers"][0],
        "securityContext": pod["containers"][0]["securityContext"],
    }[where]
    target[key] = value

    def run_the_pod() -> None:
        p = plan(tmp_path, ds)
        p.container_args(p.main, "IMAGE")

    with pytest.raises(check_image.Failed, match=key):
        run_the_pod()


def test_env_from_an_unknown_source_fails(tmp_path: Path) -> None:
    ds, _ = manifests()
    ds = copy.deepcopy(ds)
    env = ds["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "a", "key": "b"}}})
    p = plan(tmp_path, ds)
    with pytest.raises(check_image.Failed, match="env X"):
        p.container_args(p.main, "IMAGE")


def test_dockerfile_agrees_with_the_daemonset() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ds, cm = manifests()
    main = ds["spec"]["template"]["spec"]["containers"][0]
    sc = main["securityContext"]
    user = re.search(r"^USER (\S+)", dockerfile, re.M)
    assert user and user.group(1) == f"{sc['runAsUser']}:{sc['runAsGroup']}"
    cmd = re.search(r"^CMD (\[.*\])", dockerfile, re.M)
    assert cmd and yaml.safe_load(cmd.group(1)) == main["args"]
    health = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", dockerfile)
    liveness = main["livenessProbe"]["httpGet"]
    assert health and (int(health.group(1)), health.group(2)) == (liveness["port"], liveness["path"])
    assert f"EXPOSE {main['ports'][0]['containerPort']}" in dockerfile
    listen = tomllib.loads(cm["data"]["logship.toml"])["http"]["listen"]
    assert listen.endswith(f":{liveness['port']}")


def test_constraints_pin_every_dependency_and_the_dockerfile_uses_them() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = check_image.read_pins((DEPLOY / "constraints.txt").read_text())
    wanted = [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0] for d in pyproject["project"]["dependencies"]]
    wanted += [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0] for d in pyproject["build-system"]["requires"]]
    assert [w for w in wanted if check_image.canonical(w) not in pins] == []
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/constraints.txt" in dockerfile
    assert "PIP_BUILD_CONSTRAINT=/src/constraints.txt PIP_CONSTRAINT=/src/constraints.txt" in dockerfile
    assert "pip install --no-cache-dir --constraint /wheels/constraints.txt" in dockerfile


def test_unit_install_steps_are_read_from_the_unit_header() -> None:
    steps = check_image.unit_install_steps((DEPLOY / "systemd" / "logship.service").read_text())
    assert steps[0].startswith("python3.11 -m venv /opt/logship")
    assert steps[-1] == "systemctl enable --now logship"
    assert not any(s.startswith("#") or "  #" in s for s in steps)
