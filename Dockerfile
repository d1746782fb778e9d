# One image for every process: web (gunicorn), worker and scheduler (huey_consumer).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ASTRONOTE_ENV=production \
    PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 astronote
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=astronote:astronote astronote ./astronote
COPY --chown=astronote:astronote templates ./templates
COPY --chown=astronote:astronote static ./static
COPY --chown=astronote:astronote migrations ./migrations
COPY --chown=astronote:astronote wsgi.py Procfile ./
USER astronote

EXPOSE 8000
# huey_consumer treats SIGINT as "finish the running task, then stop"; SIGTERM stops at once.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')" || exit 1

# Web by default. Worker:    docker run IMAGE huey_consumer astronote.worker.huey -w 4 -k thread -n
#                 Scheduler: docker run IMAGE huey_consumer astronote.worker.huey -w 1 -k thread
#                 Migrate:   docker run IMAGE flask --app wsgi db upgrade
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} --worker-class gthread --workers ${WEB_CONCURRENCY:-2} --threads 4 --timeout 120 --access-logfile - --forwarded-allow-ips='*' wsgi:app"]
