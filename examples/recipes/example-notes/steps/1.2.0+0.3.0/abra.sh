# Versions of the Docker configs; bump one whenever its file changes.
export APP_PY_VERSION=v3
export DB_ENTRYPOINT_VERSION=v2
