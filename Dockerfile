# syntax=docker/dockerfile:1
# One image for the API, the worker, migrations and the local MTurk emulator; the `api` and
# `worker` targets only change the default command. Build: docker build --target api -t frtrain .
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ARTIFACT_DIR=/var/lib/frtrain/artifacts \
    FRTRAIN_DATA_DIR=/var/lib/frtrain/data

RUN groupadd --system --gid 10001 frtrain \
 && useradd --system --uid 10001 --gid frtrain --home-dir /home/frtrain --create-home frtrain \
 && mkdir -p /var/lib/frtrain/artifacts /var/lib/frtrain/mturk /var/lib/frtrain/data \
 && chown -R frtrain:frtrain /var/lib/frtrain

WORKDIR /srv/frtrain

# CPU-only torch first, pinned: any looser spec pulls a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies before the source so code edits do not reinstall them.
COPY pyproject.toml setup.py README.md ./
RUN mkdir -p app trainer migrations/versions && touch app/__init__.py trainer/__init__.py \
 && pip install . && pip uninstall -y frtrain && rm -rf app trainer migrations build

# The built wheel, not an editable checkout: what `pip install frtrain-*.whl` gives a user
# (migrations, templates, static files and the packaged data sets inside the package).
COPY MANIFEST.in alembic.ini ./
COPY migrations ./migrations
COPY trainer ./trainer
COPY app ./app
RUN pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && pip install --no-deps /tmp/wheels/frtrain-*.whl \
 && cd / && rm -rf /tmp/wheels /srv/frtrain && mkdir -p /srv/frtrain \
 && python -c "import app.main, trainer.api; from app.core.migrate import script_location; print(script_location())"
WORKDIR /var/lib/frtrain

USER frtrain
EXPOSE 8000 8787
CMD ["frtrain", "--help"]

FROM app AS api
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)" || exit 1
CMD ["frtrain", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM app AS worker
CMD ["frtrain", "worker"]
