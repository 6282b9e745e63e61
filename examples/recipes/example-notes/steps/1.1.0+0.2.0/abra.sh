# Versions of the Docker configs; bump one whenever its file changes.
export APP_PY_VERSION=v2
export DB_ENTRYPOINT_VERSION=v1
