#!/usr/bin/env bash
# Install the system packages the tests use, from Debian's packages, when they are missing:
# PostgreSQL, Chromium and Java (Spark engine).
set -euo pipefail
need=()
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
# Java for the Spark engine (SVOC_ENGINE=spark; PySpark itself comes from PyPI).
command -v java >/dev/null || need+=(default-jre-headless)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "system-deps: please install ${need[*]} (apt-get install ${need[*]}); tests needing them will be skipped" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "system-deps: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a cluster on port 5432; the tests start their own, so stop it.
if command -v pg_ctlcluster >/dev/null; then $SUDO pg_ctlcluster --force "$(ls /usr/lib/postgresql | sort -V | tail -1)" main stop 2>/dev/null || true; fi
