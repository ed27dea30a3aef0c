"""PostgreSQL down or just restarted: reads, registration and /health answer 503 with Retry-After
(never a bare 500), /health says which dependency is out of reach, and once PostgreSQL is back a
connection it dropped is replaced, not surfaced."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import httpx

from casework.platform.db import dispose_engine, make_engine, make_sessionmaker
from devtools import demo
from devtools.embedded import ensure_database, start_postgres
from tests.casefixtures import auth, complaint
from tests.conftest import migrate


async def test_the_api_answers_503_while_postgresql_is_down_and_recovers_when_it_is_back(settings, temporal, worker):
    from api.main import create_app

    # A PostgreSQL of its own, to stop and start (outside pytest's tmp tree, see conftest).
    root = Path(tempfile.mkdtemp(prefix="casework-outage-pg-"))
    server = start_postgres(root / "data")
    try:
        name = f"outage_{uuid.uuid4().hex[:8]}"
        ensure_database(server.url(), name)
        url = server.url(name)
        migrate(url)
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session, session.begin():
            await demo.load(session)
        own = settings.model_copy(update={"database_url": url})
        app = create_app(own, temporal=temporal, engine=engine)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as api:
            assert (await api.get("/cases", headers=auth("coordinator"))).status_code == 200
            assert (await api.get("/health")).json()["checks"] == {"database": {"ok": True}, "temporal": {"ok": True}}

            server.stop()
            for method, path, body in (("GET", "/cases", None), ("GET", "/search/cases", None),
                                       ("POST", "/cases", complaint())):
                answer = await api.request(method, path, json=body, headers=auth("coordinator"))
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["Retry-After"] == "5" and "database" in answer.json()["detail"]
            health = await api.get("/health")
            assert health.status_code == 503 and health.headers["Retry-After"] == "5"
            assert health.json()["checks"]["database"]["ok"] is False
            assert health.json()["checks"]["temporal"] == {"ok": True}
            assert (await api.get("/health/live")).status_code == 200

            server = start_postgres(root / "data")  # the pools still hold connections it dropped
            assert (await api.get("/cases", headers=auth("coordinator"))).status_code == 200
            assert (await api.get("/health")).status_code == 200
        await dispose_engine(engine)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
