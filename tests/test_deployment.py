"""docker-compose.yml, read as Docker Compose would read it (no Docker engine runs here).

It must be a valid Compose file (the Compose specification's own JSON schema, vendored in
tests/compose_spec/), on Temporal's supported path (the server image, the schema set up by
admin-tools, never the `auto-setup` development image), with every image pinned to a release,
our search attributes registered from the one list in code, migrations as a one-shot job, a
health check on every service that stays up, start-up ordered by conditions, and two replicas
of the worker and of the API. The worker's health check is run against the suite's own worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import jsonschema_rs
import pytest
import yaml

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.config import PROJECT_ROOT, Settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
SCHEMA = PROJECT_ROOT / "tests" / "compose_spec" / "compose-spec.json"
# Jobs that run once and exit: the services after them wait for service_completed_successfully.
ONE_SHOT = {"temporal-schema", "temporal-namespace", "temporal-search-attributes", "migrate"}
# name:tag with a version in the tag (digits), or pinned by digest.
PINNED = re.compile(r"^[\w./-]+(:[\w.-]*\d[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def test_the_compose_file_is_valid_against_the_compose_specification(compose: dict):
    validator = jsonschema_rs.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert [f"{'/'.join(map(str, error.instance_path))}: {error.message}"
            for error in validator.iter_errors(compose)] == []


def test_the_schema_check_catches_a_mistake(compose: dict):
    """The vendored schema is the real one: a condition Compose does not know is refused."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert not jsonschema_rs.Draft7Validator(json.loads(SCHEMA.read_text())).is_valid(broken)


def test_every_image_is_pinned_to_a_release(services: dict):
    images = {name: service.get("image") for name, service in services.items()}
    assert all(images.values()), [name for name, image in images.items() if not image]
    unpinned = {name: image for name, image in images.items()
                if ":" not in image.split("/")[-1] or image.endswith(":latest") or not PINNED.match(image)}
    assert unpinned == {}
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and re.match(r"python:3\.11\.\d+-", base.group(1)), "the Dockerfile's base is a patch release"


def test_temporal_runs_on_its_supported_path_not_the_development_image(services: dict):
    images = " ".join(service["image"] for service in services.values())
    assert "auto-setup" not in images and "temporalio/auto-setup" not in COMPOSE_FILE.read_text()
    server_tag = services["temporal"]["image"].split(":")[1]
    assert services["temporal"]["image"].startswith("temporalio/server:")
    # The schema job is the same release as the server, and its script runs the schema tool.
    schema = services["temporal-schema"]
    assert schema["image"] == f"temporalio/admin-tools:{server_tag}"
    script = (PROJECT_ROOT / "deploy" / "temporal" / "setup-schema.sh").read_text()
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script
    assert "visibility" in script and "temporal_visibility" in COMPOSE_FILE.read_text()
    assert services["temporal"]["depends_on"] == {"temporal-schema": {"condition": "service_completed_successfully"}}
    # Temporal's PostgreSQL and ours are separate servers.
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "temporal-db"
    assert "@casework-db:5432/" in services["api"]["environment"]["DATABASE_URL"]
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_the_search_attributes_are_registered_from_the_code(services: dict):
    job = services["temporal-search-attributes"]
    assert job["build"] == "." and job["image"] == services["api"]["image"]  # our image: the code's list
    assert job["command"][:3] == ["python", "-m", "devtools.register_search_attributes"]
    assert job["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "COPY devtools devtools" in (PROJECT_ROOT / "Dockerfile").read_text()  # the module it runs
    assert job["depends_on"] == {"temporal-namespace": {"condition": "service_completed_successfully"}}
    for user in ("worker", "api"):
        assert services[user]["depends_on"]["temporal-search-attributes"] == {
            "condition": "service_completed_successfully"}
    # No attribute is named by hand anywhere in the deployment: the code's list is the only one.
    written = COMPOSE_FILE.read_text() + "".join(p.read_text() for p in (PROJECT_ROOT / "deploy").rglob("*")
                                                 if p.is_file() and p.suffix in (".sh", ".yaml", ".yml", ".conf"))
    assert [name for name in SEARCH_ATTRIBUTES if name in written] == []


def test_migrations_run_once_before_the_workers_and_the_api(services: dict):
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["migrate"]["depends_on"] == {"casework-db": {"condition": "service_healthy"}}
    for user in ("worker", "api"):
        assert services[user]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_every_service_that_stays_up_has_a_health_check_and_waits_on_conditions(services: dict):
    assert ONE_SHOT <= set(services)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        else:
            assert service["healthcheck"]["test"], name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for needed, how in depends.items():
            expected = "service_completed_successfully" if needed in ONE_SHOT else "service_healthy"
            assert how == {"condition": expected}, (name, needed)


def test_two_workers_and_two_api_processes_behind_one_address(services: dict):
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["api"]["deploy"]["replicas"] == 2
    assert "ports" not in services["api"]  # reached through the proxy only
    assert services["proxy"]["ports"] == ["8000:80"]
    nginx = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_pass $api;" in nginx and "http://api:8000" in nginx


def test_the_observability_profile_is_optional(services: dict):
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"otel-collector", "prometheus"}
    assert all(services[name]["profiles"] == ["observability"] for name in profiled)
    for config in ("otel-collector.yaml", "prometheus.yml"):
        assert yaml.safe_load((PROJECT_ROOT / "deploy" / config).read_text())
    assert not any(needed in profiled for service in services.values() if not service.get("profiles")
                   for needed in service.get("depends_on", {}))


def test_every_service_built_here_gets_the_same_settings(services: dict):
    built = {name: service for name, service in services.items() if service.get("build") == "."}
    assert set(built) == {"migrate", "temporal-search-attributes", "worker", "api"}
    environments = [service["environment"] for service in built.values()]
    assert all(env == environments[0] for env in environments)
    assert environments[0]["WORKFLOW_RUNNER"] == "sandboxed"
    assert environments[0]["PDF_RENDERER"] == "libreoffice"  # the image installs it
    Settings(**{key.lower(): value for key, value in environments[0].items()})  # settings it accepts


def test_every_file_the_compose_file_mounts_is_in_the_repository(services: dict):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), (name, source)


def _worker_health(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TEMPORAL_ADDRESS": settings.temporal_address, "TASK_QUEUE": settings.task_queue,
           "TEMPORAL_NAMESPACE": settings.temporal_namespace, "ENVIRONMENT": "development"}
    return subprocess.run([sys.executable, "-m", "devtools.worker_health", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_the_worker_health_check_finds_this_hosts_worker_polling(settings: Settings, worker):
    for _ in range(30):  # until the suite's worker has polled both queues
        healthy = await asyncio.to_thread(_worker_health, settings)
        if healthy.returncode == 0:
            break
        await asyncio.sleep(1)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    elsewhere = await asyncio.to_thread(_worker_health, settings, "--host", "another-container")
    assert elsewhere.returncode == 1 and "no worker on another-container polls" in elsewhere.stdout
