#!/usr/bin/env bash
# Downloads into .gpu-debs/ the Debian 12 packages that building and running tokenfocus needs on the
# GPU machine, which has CUDA, PyTorch, a compiler, CMake and ninja but none of our -dev libraries
# and no network. scripts/gpu-check.sh unpacks them there into a prefix under /tmp.
#
# The set: the -dev packages of scripts/install-deps.sh that CMake looks for, pkgconf (for
# FindPkgConfig) and zlib1g-dev (FindPNG asks for ZLIB), plus the closure of their Depends and
# Pre-Depends (the first alternative of each), recursing only into library packages. Left out, and
# not recursed into:
# - what every glibc system has: libc6 and the GCC runtime (libgcc-s1, libstdc++6, libgomp1); a
#   machine with a compiler has them, newer than Debian 12's. zlib1g, on every system too, stays:
#   it is 90 kB, and without it the prefix's libz.so development link would dangle;
# - programs: compilers (the machine brings its own; Fortran is unused), perl, python, debconf,
#   dpkg, ssh, googletest's sources, JavaScript documentation (libjs-*);
# - -dev packages other than the roots (headers and static libraries nothing here uses);
# - what only optional plugins load: the fabrics behind Open MPI's UCX/OFI/verbs/PSM plugins, the
#   X11/OpenCL plugins of hwloc, Fortran's runtime (gpu-check.sh removes plugins left without their
#   libraries). One process on one GPU needs Open MPI's self/shared-memory transports only.
# Idempotent: downloads only what is missing and removes packages no longer in the set.
# usage: scripts/fetch-gpu-debs.sh   (prints the packages and their total size)
set -euo pipefail
cd "$(dirname "$0")/.."

roots=(
  libopenmpi-dev openmpi-bin libyaml-cpp-dev libhdf5-dev libgtest-dev nlohmann-json3-dev
  libcli11-dev libfmt-dev libssl-dev libpng-dev libjpeg62-turbo-dev libwebp-dev libpcre2-dev
  libutf8proc-dev libxgboost-dev pkgconf zlib1g-dev
)
# Non-library packages that are needed too: Open MPI's help texts, wrapper data and MCA defaults,
# the pkgconf binary, and zlib (its name does not start with lib).
extras=(openmpi-common pkgconf-bin zlib1g)
skip='^(libc6|libgcc-s1|libstdc\+\+6|libgomp1|libgfortran[0-9]+|libjs-.*|libhwloc-plugins|libfabric1|libucx0|libibverbs1|libpsm2-2|libpsm-infinipath1)$'

if ! apt-cache show libopenmpi-dev >/dev/null 2>&1; then
  echo "fetch-gpu-debs: no package lists; running apt-get update" >&2
  apt-get update -qq
fi

wanted() {  # wanted PACKAGE: part of the set (roots, extras, other library packages)
  local p=$1 r
  for r in "${roots[@]}" "${extras[@]}"; do [ "$p" = "$r" ] && return 0; done
  [[ $p == lib* && $p != *-dev && ! $p =~ $skip ]]
}

# Depends and Pre-Depends of one package, first alternative of each group ("|Depends:" lines
# continue a group; virtual packages, in <>, are passed over).
first_alternatives() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "$1" | awk '
    /^ *\|?(Pre)?Depends:/ {
      name = $2
      if (!chosen && name !~ /^</) { print name; chosen = 1 }
      if ($1 !~ /^\|/) chosen = 0
    }'
}

declare -A seen=()
queue=("${roots[@]}")
packages=()
while [ ${#queue[@]} -gt 0 ]; do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  wanted "$p" || continue
  packages+=("$p")
  while read -r dep; do
    [ -z "${seen[$dep]:-}" ] && queue+=("$dep")
  done < <(first_alternatives "$p")
done

mkdir -p .gpu-debs
cd .gpu-debs
# The file name apt-get download writes for each package (package_version_arch.deb); asked from an
# empty folder, since --print-uris leaves out the files already in the current one.
declare -A file_of=()
while read -r _ file _; do
  file_of[${file%%_*}]=$file
done < <(cd "$(mktemp -d)" && apt-get download --print-uris "${packages[@]}" && rmdir "$PWD")
missing=()
for p in "${packages[@]}"; do
  [ -f "${file_of[$p]}" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || apt-get download -q "${missing[@]}" >/dev/null 2>&1
for f in *.deb; do
  [ "${file_of[${f%%_*}]:-}" = "$f" ] || { echo "fetch-gpu-debs: removing stale $f"; rm -f "$f"; }
done
printf '%s\n' "${packages[@]}" | sort | tr '\n' ' '
echo
echo "fetch-gpu-debs: ${#packages[@]} packages, $(du -ch ./*.deb | tail -1 | cut -f1) in .gpu-debs/"
