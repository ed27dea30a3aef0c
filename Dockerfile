# One image for the API, the worker and the migration job.
FROM python:3.11-slim
WORKDIR /app
# Dependencies first, from the pinned, hashed lock (a layer that changes only with the lock).
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md alembic.ini worker.py ./
COPY casework casework
COPY workflows workflows
COPY activities activities
COPY api api
COPY templates templates
# Operations tooling the compose file runs (search-attribute registration, demo data).
COPY devtools devtools
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation .
# Run from /app so the source tree (templates, migrations) is what runs.
ENV ENVIRONMENT=production TEMPLATES_DIR=/app/templates DATA_DIR=/app/data
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
