#!/usr/bin/env bash
# Podman on a machine with no Docker engine: install it (root, apt) where it is missing, and configure it the way
# that works on hosts with cgroups v1/hybrid and no systemd (runc, cgroupfs, no default ulimits).
set -euo pipefail
if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "podman, runc and debootstrap are needed (root with apt-get installs them)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
conf=/etc/containers/containers.conf
if [ "$(id -u)" = "0" ] && ! grep -qs 'runtime = "runc"' "$conf"; then
    mkdir -p /etc/containers
    cat >> "$conf" <<'CONF'
# antq: crun fails on cgroups v1/hybrid hosts and with the default rlimits; healthchecks need no systemd timer.
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
fi
podman info --format '{{.Host.OCIRuntime.Name}} {{.Version.Version}}'
