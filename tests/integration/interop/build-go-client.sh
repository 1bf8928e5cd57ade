#!/bin/bash
# Build the grpc-go interop client offline from Debian's Go packages and
# print the path of the binary.
#
#   golang-go, golang-google-grpc-dev (1.33), golang-goprotobuf-dev (1.3.5,
#   which ships protoc-gen-go as source), protobuf-compiler
#
# GOPATH mode (GO111MODULE=off): GOPATH = a temp dir with our package and the
# generated runtime.v1 code, then /usr/share/gocode. Nothing is fetched.
# The binary is cached in /tmp/ocid-interop-go-<hash>, keyed by this script,
# the client source, the proto, the Go toolchain and the Debian package
# versions; everything else is built in a temp dir that is removed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto_root="$(cd "$here/../../../proto" && pwd)"

hash="$(cat "$here/build-go-client.sh" "$here/goclient/main.go" "$proto_root/runtime/v1/api.proto" \
        <(go version) <(protoc --version) \
        <(dpkg-query -W golang-google-grpc-dev golang-goprotobuf-dev 2>/dev/null) |
        sha256sum | cut -c1-16)"
cache="/tmp/ocid-interop-go-$hash"
if [ -x "$cache/ocid-interop-go" ]; then
        echo "$cache/ocid-interop-go"
        exit 0
fi

work="$(mktemp -d /tmp/ocid-interop-gobuild.XXXXXX)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

export GO111MODULE=off GOFLAGS='' GOPROXY=off CGO_ENABLED=0
export GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache" HOME="$work"

go build -o "$work/protoc-gen-go" github.com/golang/protobuf/protoc-gen-go >&2

pkg="$work/gopath/src/ocidinterop"
mkdir -p "$pkg/runtimev1" "$pkg/cmd" "$work/gen"
protoc --plugin=protoc-gen-go="$work/protoc-gen-go" -I "$proto_root" \
        --go_out=plugins=grpc,paths=source_relative,Mruntime/v1/api.proto=ocidinterop/runtimev1:"$work/gen" \
        runtime/v1/api.proto >&2
cp "$work/gen/runtime/v1/api.pb.go" "$pkg/runtimev1/"
cp "$here/goclient/main.go" "$pkg/cmd/"
mkdir -p "$work/out"
go build -o "$work/out/ocid-interop-go" ocidinterop/cmd >&2

# Publish atomically; a concurrent build may have won the race.
mv -T "$work/out" "$cache" 2>/dev/null || true
# Drop binaries of older sources.
find /tmp -maxdepth 1 -name 'ocid-interop-go-*' ! -name "ocid-interop-go-$hash" -mmin +1440 \
        -exec rm -rf {} + 2>/dev/null || true
echo "$cache/ocid-interop-go"
