#!/bin/sh
# As the official image's entrypoint: arguments that start with a dash are nats-server's flags.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- nats-server "$@"
fi
exec "$@"
