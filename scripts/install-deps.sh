#!/usr/bin/env bash
# Install everything ocid needs to build, run and be tested, from Debian's
# packages. Idempotent.
set -euo pipefail

packages=(
        # build
        build-essential meson ninja-build pkg-config clang
        protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
        libnghttp2-dev libjson-c-dev
        libcurl4-openssl-dev libarchive-dev libsqlite3-dev libssl-dev libzstd-dev libgpgme-dev
        nettle-dev libmd-dev
        # run
        crun runc conmon containernetworking-plugins iptables iproute2
        # test
        libcmocka-dev bats python3 python3-grpcio python3-protobuf
        golang-go golang-google-grpc-dev golang-goprotobuf-dev
        busybox-static docker-registry procps util-linux jq
        zstd apache2-utils curl openssl attr
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        # Debian's docker-registry package enables and starts a service on
        # :5000, every interface. ocid only needs the program (the tests and
        # run-ocid.sh's demo run their own, on 127.0.0.1): a fresh install
        # leaves that service disabled and never started.
        registry_unit=
        if printf '%s\n' "${missing[@]}" | grep -qx docker-registry && [ -d /run/systemd/system ] &&
                [ ! -e /etc/systemd/system/docker-registry.service ]; then
                systemctl mask docker-registry.service
                registry_unit=masked
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
        if [ -n "$registry_unit" ]; then
                systemctl unmask docker-registry.service
                systemctl disable docker-registry.service
        fi
fi
