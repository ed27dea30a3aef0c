# One image for the API, the worker and the one-shot jobs (migrations, search attributes).
# Pinned to a Python patch release on Debian 12, the Debian CI runs on.
FROM python:3.11.13-slim-bookworm
# LibreOffice prints letters to PDF (PDF_RENDERER, docs/letters-and-templates.md#pdfs): Writer
# without the desktop (Debian's -nogui build), and fonts metric-compatible with Arial, Times and
# Courier, which the templates name, so lines break where Word breaks them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libreoffice-writer-nogui fonts-liberation2 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
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
# Operations tooling the compose file runs (search-attribute registration, worker health, demo data).
COPY devtools devtools
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation .
# Bytecode in the image: Temporal's sandbox imports the workflow modules afresh for every case it
# loads, and without it compiles their source each time (the worker also writes it at start).
RUN python -m compileall -q casework workflows activities api
# Run from /app so the source tree (templates, migrations) is what runs. HOME for LibreOffice,
# which writes there besides each conversion's own throwaway profile.
ENV ENVIRONMENT=production TEMPLATES_DIR=/app/templates DATA_DIR=/app/data PDF_RENDERER=libreoffice HOME=/tmp
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
