# Debian packages the build and the tests need; sourced by ./run and ./test.
# shellcheck shell=bash

BUILD_PACKAGES=(build-essential meson ninja-build pkg-config libuv1-dev liblmdb-dev
  libsasl2-dev libsasl2-modules libsasl2-modules-db sasl2-bin libssl-dev zlib1g-dev
  libfmt-dev catch2 python3)

# The Cyrus 3.6 peer the tests replicate from (and compare with).
CYRUS_PACKAGES=(cyrus-imapd cyrus-common cyrus-replication cyrus-admin cyrus-clients)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  echo "installing: $missing" >&2
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
    || { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends $missing; }
}

install_build_deps() {
  apt_install "${BUILD_PACKAGES[@]}"
}
