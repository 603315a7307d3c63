"""Deployment files, checked structurally (no Docker engine here) against the code itself."""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient

from tests.servers import free_port
from tests.support import ROOT, TOKEN
from webhook.ops.serve import GUNICORN_CONFIG, ServeOptions, gunicorn_command
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings
from webhook.settings.instances import load_instances
from webhook.web import create_app

DEPLOY = ROOT / "deploy"
IMAGE = "raynet-money-s3-bridge:latest"
RUN = ["python", "-m", "webhook", "serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104


class Recording(Mapping[str, str]):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def variables_read() -> set[str]:
    environment = Recording()
    load_instances(environment)
    return environment.asked


# What systemd's EnvironmentFile=, docker compose's env_file and the shell's "." read alike:
# a bare word of these characters, or anything but a quote in single quotes (literal to all).
PORTABLE_VALUE = re.compile(r"[\w./:,@{}+%=-]*|'[^'\n]*'")


def env_example_lines() -> list[tuple[str, str]]:
    """.env.example's NAME=value lines as written."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return [
        (name, value)
        for name, _, value in (line.partition("=") for line in lines)
        if re.fullmatch(r"[A-Z_0-9]+", name)
    ]


def env_example() -> dict[str, str]:
    """.env.example's variables as systemd, docker compose and the shell read them."""
    return {
        name: value[1:-1] if value.startswith("'") else value for name, value in env_example_lines()
    }


def test_env_example_lists_exactly_the_variables_the_code_reads() -> None:
    assert set(env_example()) == variables_read()


def test_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [name for name in sorted(variables_read()) if f"`{name}" not in readme] == []


def test_env_example_reads_alike_in_systemd_compose_and_the_shell(tmp_path: Path) -> None:
    """The one file is an EnvironmentFile=, compose's .env and what the README's install
    check sources: every value is spelt so that all three read the same."""
    assert [
        (name, value) for name, value in env_example_lines() if not PORTABLE_VALUE.fullmatch(value)
    ] == []
    shell = subprocess.run(
        ["bash", "-c", 'set -a; . "$0"; set +a; env -0', str(ROOT / ".env.example")],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (shell.returncode, shell.stderr) == (0, "")
    sourced = dict(entry.split("=", 1) for entry in shell.stdout.split("\0") if entry)
    assert {name: sourced.get(name) for name in env_example()} == env_example()
    assert env_example()["MONEY_S3_WAREHOUSE_NAME"] == "Hlavní sklad"


def readme_install_check() -> str:
    """The README's command that checks a Linux host's installation, as written there."""
    lines = (ROOT / "README.md").read_text().splitlines()
    (command,) = [line for line in lines if "raynet-bridge.env" in line and "webhook check" in line]
    return command


def test_readme_install_check_runs_as_written(raynet: RaynetStandIn, tmp_path: Path) -> None:
    """The README's check line, run on a copy of .env.example filled in as its comments
    say: only the file's place, the virtualenv's Python and the service's user (this test's
    own: runuser needs root, else the switch is left out) differ from a real host."""
    exports = tmp_path / "exports"
    exports.mkdir()
    filled = {
        "WEBHOOK_TOKEN": TOKEN,
        **raynet.environment(),
        "STATE_DB": str(tmp_path / "var" / "state.db"),
        "EXPORT_TARGET": str(exports),
    }
    text = (ROOT / ".env.example").read_text()
    for name, value in filled.items():
        text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.MULTILINE)
        assert found == 1, name
    env_file = tmp_path / "raynet-bridge.env"
    env_file.write_text(text)
    env_file.chmod(0o600)
    command = replaced(readme_install_check(), "/etc/raynet-bridge.env", str(env_file))
    command = replaced(command, ".venv/bin/python", sys.executable)
    switch = re.search(r"\b(sudo|runuser) -u raynet-bridge (-- )?", command)
    assert switch is not None, command
    if os.geteuid() == 0 and shutil.which(switch[1]):
        me = pwd.getpwuid(os.geteuid()).pw_name
        command = command.replace(switch[0], switch[0].replace("raynet-bridge", me))
    else:
        command = command.replace(switch[0], "")
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env={"PATH": f"{os.environ['PATH']}:/usr/sbin:/sbin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode not in (126, 127), result.stderr  # a value taken for a command
    assert "not found" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  configuration: every variable is valid" in result.stdout
    assert f"PASS  RAYNET API: instance {raynet.instance} answered" in result.stdout
    assert f"PASS  export target: folder {exports} takes files" in result.stdout


def test_readme_demo_command_brings_the_packages_it_needs() -> None:
    """A new user's first try: the README's demo runs in the virtualenv, which `make demo`
    sets up (the packages, the Czech catalogue) before it runs the demo."""
    readme = (ROOT / "README.md").read_text()
    (paragraph,) = [
        part
        for part in readme.split("\n\n")
        if part.startswith("To see it work before you have RAYNET credentials")
    ]
    assert "`make demo`" in paragraph
    commands = re.findall(r"`([^`]*webhook demo[^`]*)`", " ".join(paragraph.split()))
    assert commands == [".venv/bin/python -m webhook demo"]  # not the system's python
    if shutil.which("make") is None:
        pytest.skip("make is not installed (.ci/run installs it)")
    dry = subprocess.run(
        ["make", "-n", "-B", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    steps = dry.stdout.splitlines()
    wanted = [
        "-m venv .venv",
        ".venv/bin/pip install -q -r requirements.txt",
        ".venv/bin/pybabel -q compile",
        ".venv/bin/python -m webhook demo",
    ]
    at = [next((n for n, step in enumerate(steps) if what in step), -1) for what in wanted]
    assert -1 not in at, steps
    assert at == sorted(at), steps


def dockerfile() -> list[str]:
    return (DEPLOY / "Dockerfile").read_text().splitlines()


def instruction(name: str) -> list[str]:
    return [line[len(name) + 1 :] for line in dockerfile() if line.startswith(f"{name} ")]


def test_dockerfile_runs_the_readme_command_as_a_non_root_user() -> None:
    assert instruction("FROM") == ["python:3.11-slim"]
    assert json.loads(instruction("CMD")[0]) == RUN
    assert " ".join(RUN) in (ROOT / "README.md").read_text()
    assert instruction("EXPOSE") == ["8000"]
    assert instruction("USER") == ["bridge"]
    assert "--uid 10001" in "\n".join(dockerfile())
    assert "pip install -r requirements.txt" in instruction("RUN")[0]
    for source in (line.split()[0] for line in instruction("COPY")):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert not any(".xsd" in line.lower() for line in dockerfile())  # vendor files stay out


def dockerfile_steps() -> list[tuple[str, str]]:
    """The Dockerfile's instructions in order, (NAME, arguments), as Docker reads them:
    continuation lines joined, comment lines (also inside a continuation) left out."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        name, _, arguments = (pending + stripped).partition(" ")
        steps.append((name.upper(), arguments.strip()))
        pending = ""
    return steps


def image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for name, arguments in dockerfile_steps():
        if name == "ENV":
            for pair in shlex.split(arguments):
                key, equals, value = pair.partition("=")
                assert equals, f"ENV {pair}: write ENV KEY=value"
                environment[key] = value
    return environment


def folders_made_as_root(steps: list[tuple[str, str]]) -> dict[Path, str]:
    """The folders the RUN steps before the last USER create, with their owners ("root"
    unless chowned): mkdir [-p] and chown [-R] followed through ``&&``."""
    user_at = max(index for index, (name, _) in enumerate(steps) if name == "USER")
    owners: dict[Path, str] = {}
    for name, arguments in steps[:user_at]:
        if name != "RUN":
            continue
        for command in re.split(r"&&|;", arguments):
            words = shlex.split(command)
            if not words:
                continue
            flags = {word for word in words[1:] if word.startswith("-")}
            operands = [word for word in words[1:] if not word.startswith("-")]
            if words[0] == "mkdir":
                for folder in map(Path, operands):
                    made = [folder, *folder.parents] if "-p" in flags else [folder]
                    for path in made:
                        owners.setdefault(path, "root")
            elif words[0] == "chown":
                owner = operands[0].split(":")[0]
                for target in map(Path, operands[1:]):
                    for path in list(owners):
                        if path == target or ("-R" in flags and target in path.parents):
                            owners[path] = owner
    return owners


def test_image_makes_the_folders_its_environment_names_for_its_user() -> None:
    """STATE_DB's folder and EXPORT_TARGET exist in the image and belong to the user the
    bridge runs as: it creates no configured folder, so a missing one pauses exports."""
    environment = image_environment()
    paths = {key: value for key, value in environment.items() if value.startswith("/")}
    assert set(paths) == {"STATE_DB", "EXPORT_TARGET"}, "a new path: add it to this test"
    written = {Path(paths["STATE_DB"]).parent, Path(paths["EXPORT_TARGET"])}
    steps = dockerfile_steps()
    (user,) = {arguments for name, arguments in steps if name == "USER"}
    owners = folders_made_as_root(steps)
    for folder in sorted(written):
        assert folder in owners, f"{folder} is not created in the image"
        assert owners[folder] == user, f"{folder} belongs to {owners[folder]}, not {user}"
    (volume,) = [json.loads(arguments) for name, arguments in steps if name == "VOLUME"]
    assert str(Path(paths["STATE_DB"]).parent) in volume  # the state outlives the container


def test_gunicorn_configuration_is_what_serve_uses() -> None:
    command = gunicorn_command(ServeOptions())
    assert command[command.index("--config") + 1] == str(GUNICORN_CONFIG)
    assert GUNICORN_CONFIG == DEPLOY / "gunicorn.conf.py"
    settings: dict[str, Any] = {}
    exec(compile(GUNICORN_CONFIG.read_text(), str(GUNICORN_CONFIG), "exec"), settings)  # noqa: S102
    assert settings["worker_class"] == "webhook.web.gunicorn_worker.BufferingWorker"
    assert "reuse_port" not in settings  # one service per port
    assert settings["control_socket_disable"] is True
    assert settings["wsgi_app"] == "webhook.wsgi:app"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_builds_the_image_and_wires_the_s3_store() -> None:
    services = compose()["services"]
    bridge = services["bridge"]
    assert bridge["image"] == IMAGE
    assert (DEPLOY / bridge["build"]["context"] / bridge["build"]["dockerfile"]).is_file()
    assert bridge["ports"] == ["127.0.0.1:8000:8000"]
    environment = bridge["environment"]
    endpoint = re.match(r"http://([a-z0-9-]+):(\d+)$", environment["AWS_ENDPOINT_URL"])
    assert endpoint is not None
    assert endpoint[1] in services
    bucket = re.match(r"s3://([a-z0-9-]+)/", environment["EXPORT_TARGET"])
    assert bucket is not None
    assert f"store/{bucket[1]}" in " ".join(services["bucket"]["command"])
    assert set(environment) - {name for name in environment if name.startswith("AWS_")} <= (
        variables_read()
    )
    assert "/readyz" in " ".join(bridge["healthcheck"]["test"])
    state, xsd = bridge["volumes"]
    assert state.split(":")[0] in compose()["volumes"]
    assert xsd.endswith(":/xsd:ro")  # the XSDs, from a folder on the host


def test_systemd_unit_and_env_example_agree() -> None:
    """A host set up as the unit's comment says: the paths of .env.example are writable."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "raynet-bridge.service")
    service = unit["Service"]
    example = env_example()
    assert Path(example["STATE_DB"]).parent == Path("/var/lib") / service["StateDirectory"]
    assert example["EXPORT_TARGET"] in service["ReadWritePaths"].split()
    assert shlex.split(service["ExecStart"])[0] == f"{service['WorkingDirectory']}/.venv/bin/python"
    comment = (DEPLOY / "raynet-bridge.service").read_text()
    assert "useradd --system" in comment
    assert service["User"] in comment
    assert f"install -d -o {service['User']}" in comment
    assert example["EXPORT_TARGET"] in comment
    assert "make translations" in comment


def test_compose_puts_the_buffering_proxy_in_front() -> None:
    proxy = compose()["services"]["proxy"]
    assert proxy["ports"] == ["80:80"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in proxy["volumes"]}
    for source in mounted:
        assert (DEPLOY / source).is_file(), source
    site = (DEPLOY / "nginx" / "compose.conf").read_text()
    assert "server bridge:8000" in site
    assert (
        mounted["./nginx/bridge-locations.conf"] in site.replace("include ", "")
        or "/etc/nginx/snippets/bridge-locations.conf" in site
    )


def manifests() -> dict[str, dict[str, Any]]:
    """The Kubernetes manifests by kind; Ingresses by kind and name (there are two)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            key = document["kind"]
            if key == "Ingress":
                key = f"Ingress {document['metadata']['name']}"
            assert key not in found, key
            found[key] = document
    return found


def test_kubernetes_manifests_fit_together_and_fit_the_app() -> None:
    kinds = manifests()
    assert set(kinds) == {
        "Deployment",
        "Service",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Ingress raynet-bridge",
        "Ingress raynet-bridge-admin",
    }
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # SQLite on a RWO volume
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"].startswith("registry.example.com/raynet-money-s3-bridge:REPLACE")
    assert container["args"] == RUN
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8000)
    routes = {
        rule.rule
        for rule in create_app(
            load_settings({"WEBHOOK_ALLOW_NO_TOKEN": "1", "STATE_DB": "/tmp/unused-state.db"})
        ).url_map.iter_rules()
    }
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        assert path in routes
    assert pod["metadata"]["annotations"]["prometheus.io/path"] in routes
    sources = {
        source.get("configMapRef", source.get("secretRef"))["name"]
        for source in container["envFrom"]
    }
    assert sources == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]}
    known = variables_read()
    for key in [*kinds["ConfigMap"]["data"], *kinds["Secret"]["stringData"]]:
        assert key in known or key.startswith("AWS_"), key
    assert {"WEBHOOK_TOKEN", "RAYNET_API_KEY"} <= set(kinds["Secret"]["stringData"])
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert kinds["ConfigMap"]["data"]["STATE_DB"].startswith(mount["state"] + "/")
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [kinds["PersistentVolumeClaim"]["metadata"]["name"]]
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    service = kinds["Service"]["spec"]
    assert service["selector"] == pod["metadata"]["labels"]
    assert service["ports"][0]["targetPort"] == "http"
    ingress = kinds["Ingress raynet-bridge"]
    (rule,) = ingress["spec"]["rules"]
    published = {path["path"] for path in rule["http"]["paths"]}
    assert published == {"/webhooks/raynet", "/raynet/button"}  # not /admin, not /metrics
    assert all(
        path["backend"]["service"]["name"] == kinds["Service"]["metadata"]["name"]
        for path in rule["http"]["paths"]
    )
    assert (
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-request-buffering"]
        == "on"
    )


def test_systemd_unit_runs_serve_with_an_environment_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "raynet-bridge.service")
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[1:4] == ["-m", "webhook", "serve"]
    assert service["EnvironmentFile"] == "/etc/raynet-bridge.env"
    assert service["Restart"] == "on-failure"
    assert service["User"] != "root"


def unit_service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "raynet-bridge.service")
    return unit["Service"]


def unit_environment() -> dict[str, str]:
    """What the service gets, set up as the README says (.env.example as its
    EnvironmentFile=): values from that file override Environment= (systemd.exec(5))."""
    environment = dict(
        assignment.split("=", 1) for assignment in shlex.split(unit_service()["Environment"])
    )
    return {**environment, **env_example()}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def nginx_upstreams(text: str) -> dict[str, list[str]]:
    return {
        name: re.findall(r"^\s*server\s+([^\s;]+)", body, re.MULTILINE)
        for name, body in re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", text)
    }


def nginx_directive(text: str, name: str) -> list[str]:
    """The arguments of every ``name ...;`` outside comments."""
    code = re.sub(r"#.*", "", text)
    return [found.strip() for found in re.findall(rf"(?:^|[{{;\s]){name}\s+([^;]*);", code)]


def url_port(text: str) -> int:
    found = re.search(r"https?://[^/:\s]+:(\d+)/", text)
    assert found is not None, text
    return int(found[1])


def test_deploy_files_agree_on_the_proxy_ports_and_paths() -> None:
    """Each way of deploying puts nginx in front of the bridge, so each makes it believe one
    proxy (TRUSTED_PROXIES=1), and proxy, bridge and image agree on ports and paths."""
    nginx = DEPLOY / "nginx"
    locations = (nginx / "bridge-locations.conf").read_text()
    readme = (ROOT / "README.md").read_text()
    # nginx passes on the client's address and scheme, as one proxy, to one upstream name.
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx_directive(
        locations, "proxy_set_header"
    )
    assert "X-Forwarded-Proto $scheme" in nginx_directive(locations, "proxy_set_header")
    assert set(nginx_directive(locations, "proxy_pass")) == {"http://raynet_bridge"}

    # A Linux host: the systemd unit behind raynet-bridge.conf, with .env.example.
    service = unit_service()
    command = shlex.split(service["ExecStart"])
    host_site = (nginx / "raynet-bridge.conf").read_text()
    bridge_address = f"{option(command, '--host')}:{option(command, '--port')}"
    assert nginx_upstreams(host_site) == {"raynet_bridge": [bridge_address]}
    assert nginx_directive(host_site, "include") == ["snippets/bridge-locations.conf"]
    assert nginx_directive(host_site, "listen") == ["80", "443 ssl http2"]
    assert "bridge-locations.conf beside it in\n# /etc/nginx/snippets/" in host_site
    environment = unit_environment()
    assert environment["TRUSTED_PROXIES"] == "1"
    assert unit_service()["Environment"] == "TRUSTED_PROXIES=1"  # the same, if the file lacks it
    assert Path(environment["STATE_DB"]).parent == Path("/var/lib") / service["StateDirectory"]
    assert environment["EXPORT_TARGET"] in service["ReadWritePaths"].split()
    assert f"install -m 600 .env.example {service['EnvironmentFile']}" in readme
    assert f"git clone <this repository> {service['WorkingDirectory']}" in readme
    assert f"--home-dir /var/lib/{service['StateDirectory']}" in readme
    assert f"install -d -o {service['User']} -g {service['Group']} -m 750 " in readme
    assert f"{environment['EXPORT_TARGET']}   # or mount the share there" in readme
    assert "`TRUSTED_PROXIES=1` for nginx in front" in readme

    # The image: one port everywhere; no proxy of its own, so no TRUSTED_PROXIES either.
    steps = dict(dockerfile_steps())
    image_port = int(option(json.loads(steps["CMD"]), "--port"))
    assert int(steps["EXPOSE"]) == image_port
    assert url_port(steps["HEALTHCHECK"]) == image_port
    assert "TRUSTED_PROXIES" not in image_environment()

    # docker compose: nginx (compose.conf) in front of the image, .env from .env.example.
    services = compose()["services"]
    bridge, proxy = services["bridge"], services["proxy"]
    mounts = dict(volume.split(":")[:2] for volume in proxy["volumes"])
    compose_site = (nginx / "compose.conf").read_text()
    assert mounts["./nginx/compose.conf"].startswith("/etc/nginx/conf.d/")
    assert nginx_directive(compose_site, "include") == [mounts["./nginx/bridge-locations.conf"]]
    (upstream,) = nginx_upstreams(compose_site)["raynet_bridge"]
    assert upstream == f"bridge:{image_port}"  # the service's name on compose's network
    (published,) = proxy["ports"]
    assert nginx_directive(compose_site, "listen") == [published.split(":")[-1]]
    assert bridge["env_file"] == "../.env"
    bridge_environment = bridge["environment"]
    assert bridge_environment["TRUSTED_PROXIES"] == "1"
    for key in ("STATE_DB", "EXPORT_TARGET"):  # .env.example's host paths mean nothing inside
        assert bridge_environment[key] != env_example()[key], key
    state_volume = next(v for v in bridge["volumes"] if v.startswith("bridge-state:"))
    assert Path(bridge_environment["STATE_DB"]).parent == Path(state_volume.split(":")[1])
    (bridge_port,) = bridge["ports"]
    assert int(bridge_port.split(":")[-1]) == image_port
    assert url_port(" ".join(bridge["healthcheck"]["test"])) == image_port

    # Kubernetes: ingress-nginx in front of the same image.
    kinds = manifests()
    config = kinds["ConfigMap"]["data"]
    assert config["TRUSTED_PROXIES"] == "1"
    pod = kinds["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert int(option(container["args"], "--port")) == image_port
    assert container["ports"][0]["containerPort"] == image_port
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == image_port
    state_mount = next(m for m in container["volumeMounts"] if m["name"] == "state")
    assert Path(config["STATE_DB"]).parent == Path(state_mount["mountPath"])

    # The dashboard in Kubernetes: internal networks through ingress-admin.yaml, the same
    # nginx allows on a host, or kubectl port-forward to the Service, as the README says.
    public, admin = kinds["Ingress raynet-bridge"], kinds["Ingress raynet-bridge-admin"]
    cluster_service = kinds["Service"]
    (service_port,) = [p for p in cluster_service["spec"]["ports"] if p["name"] == "http"]
    (admin_rule,) = admin["spec"]["rules"]
    (admin_path,) = admin_rule["http"]["paths"]
    assert (admin_path["path"], admin_path["pathType"]) == ("/admin", "Prefix")
    assert admin_path["backend"]["service"] == {
        "name": cluster_service["metadata"]["name"],
        "port": {"name": service_port["name"]},
    }
    assert admin_rule["host"] == public["spec"]["rules"][0]["host"]
    assert admin["spec"]["tls"] == public["spec"]["tls"]
    assert admin["spec"]["ingressClassName"] == public["spec"]["ingressClassName"]
    annotations = admin["metadata"]["annotations"]
    allowed = annotations["nginx.ingress.kubernetes.io/whitelist-source-range"].split(",")
    admin_location = re.search(r"location \^~ /admin/ \{([^}]*)\}", locations)
    assert admin_location is not None
    on_a_host = [a for a in nginx_directive(admin_location[1], "allow") if a != "127.0.0.1"]
    assert allowed == on_a_host
    assert nginx_directive(admin_location[1], "deny") == ["all"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    forward = re.search(r"kubectl port-forward service/(\S+) (\d+):(\d+)", readme)
    assert forward is not None
    assert forward[1] == cluster_service["metadata"]["name"]
    assert int(forward[3]) == service_port["port"]
    assert f"http://localhost:{forward[2]}/admin/" in readme
    assert "deploy/kubernetes/ingress-admin.yaml" in readme
    assert "externalTrafficPolicy: Local" in readme
    assert (
        "externalTrafficPolicy: Local" in (DEPLOY / "kubernetes" / "ingress-admin.yaml").read_text()
    )


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HTTP2_DIRECTIVE = (1, 25, 1)  # "http2 on;" exists from here; "listen ... http2" warns


def nginx_version() -> tuple[int, ...]:
    said = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", said)
    assert found is not None, said
    return tuple(int(part) for part in found.groups())


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for bridge.firma.cz, in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge.firma.cz")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("site", ["raynet-bridge.conf", "compose.conf"])
def test_nginx_accepts_the_deploy_configuration(site: str, tmp_path: Path) -> None:
    """``nginx -t`` on each site file as deployed: the host's (with a certificate made here
    in place of Let's Encrypt's) and compose's (with 127.0.0.1 for the compose service
    name, which only compose's DNS knows), each with bridge-locations.conf included."""
    if not Path(NGINX).exists():
        pytest.skip("Debian's nginx is not installed (.ci/run installs it)")
    snippets = tmp_path / "snippets"
    snippets.mkdir()
    (snippets / "bridge-locations.conf").write_text(
        (DEPLOY / "nginx" / "bridge-locations.conf").read_text()
    )
    text = (DEPLOY / "nginx" / site).read_text()
    if site == "raynet-bridge.conf":  # "include snippets/..." is relative to nginx.conf
        certificate, key = self_signed(tmp_path)
        live = "/etc/letsencrypt/live/bridge.firma.cz"
        text = replaced(
            text, f"ssl_certificate {live}/fullchain.pem;", f"ssl_certificate {certificate};"
        )
        text = replaced(
            text, f"ssl_certificate_key {live}/privkey.pem;", f"ssl_certificate_key {key};"
        )
    else:
        text = replaced(text, "/etc/nginx/snippets/", f"{snippets}/")
        text = replaced(text, "server bridge:", "server 127.0.0.1:")
    # nginx -t binds what it listens on: ports of our own on loopback, so that neither an
    # unprivileged user nor a web server already on 80/443 fails it; "ssl http2" stay.
    text, listens = re.subn(
        r"^(\s*listen )(\d+)\b", lambda m: f"{m[1]}127.0.0.1:{free_port()}", text, flags=re.M
    )
    assert listens == {"raynet-bridge.conf": 2, "compose.conf": 1}[site]
    (tmp_path / "site.conf").write_text(text)
    temporary = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
        f"http {{ access_log off; {temporary} include site.conf; }}\n"
    )
    result = subprocess.run(
        [NGINX, "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    complaints = [
        line for line in result.stderr.splitlines() if re.search(r"\[(warn|emerg)\]", line)
    ]
    if nginx_version() >= HTTP2_DIRECTIVE:  # newer than the hosts the README targets
        complaints = [line for line in complaints if '"listen ... http2"' not in line]
    assert complaints == []


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*")), ids=lambda p: p.name)
def test_no_real_secrets_in_deployment_files(path: Path) -> None:
    if path.is_file():
        text = path.read_text()
        assert not re.search(r"(?i)(api_key|token|password)\s*[:=]\s*['\"]?[a-f0-9]{24,}", text)


@pytest.mark.parametrize(
    ("language", "other", "heading", "how"),
    [
        ("cs", "en", "Přehled je vypnutý", "nastavte ADMIN_TOKEN (alespoň 16 znaků)"),
        ("en", "cs", "The dashboard is switched off", "set ADMIN_TOKEN (at least 16 characters)"),
    ],
)
def test_dashboard_without_admin_token_says_how_to_switch_it_on(
    client: FlaskClient, language: str, other: str, heading: str, how: str
) -> None:
    """A first look at /admin/ before ADMIN_TOKEN is set: what to do, not "no such page"
    with a link back to the same page."""
    for path in ("/admin/", "/admin/inbox"):
        page = client.get(path, headers={"Accept-Language": language})
        assert page.status_code == 404
        text = page.get_data(as_text=True)
        assert f'<html lang="{language}">' in text
        assert heading in text
        assert how in text
        assert ("restartujte" if language == "cs" else "restart the bridge") in text
        assert "Taková stránka neexistuje" not in text
        assert "There is no such page" not in text
        links = re.findall(r'href="([^"]*)"', text)
        assert links == ["/admin/static/admin.css", f"{path}?lang={other}"]  # none to itself
    api = client.get("/admin/api/cases", headers={"Authorization": "Bearer " + "x" * 20})
    assert (api.status_code, api.mimetype) == (404, "application/json")
    assert "ADMIN_TOKEN" in api.get_json()["message"]
