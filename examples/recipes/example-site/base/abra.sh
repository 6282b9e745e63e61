# Versions of the Docker configs; bump one whenever its file changes.
export NGINX_CONF_VERSION=v1
