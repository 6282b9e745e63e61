# Versions of the Docker configs; bump one whenever its file changes.
export APP_PY_VERSION=v1
export DB_ENTRYPOINT_VERSION=v1
