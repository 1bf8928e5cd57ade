#!/usr/bin/env bats
# PullImage against the real local registry (docker-registry on 127.0.0.1,
# images from tests/fixtures/mkimage.py): reference forms, names as
# registries.conf rewrites them (locations, mirrors, aliases, search
# registries, blocked), manifest and layer formats, whiteouts, platform
# selection, and the errors for what cannot be pulled.
#
# One registry for the file; a fresh ocid (fresh root) for every test.
# Runs as root (overlay mount, trusted.* xattrs); needs getfattr (Debian's
# attr package).

bats_require_minimum_version 1.5.0

load helpers
load registry
load image/lib

setup_file() {
        start_registry
        push_image library/busybox:latest
        export BB_ID="$IMAGE_ID" BB_DIGEST="$IMAGE_DIGEST" BB_JSON="$IMAGE_JSON"
        # The same image without "library/", for search registries other
        # than docker.io (they get the name as typed).
        push_image busybox:latest
        [ "$IMAGE_ID" = "$BB_ID" ]
        push_image pause:3.9 --format oci --cmd /bin/true
        export PAUSE_ID="$IMAGE_ID" PAUSE_DIGEST="$IMAGE_DIGEST"
        push_image multi:latest --layers 3
        export MULTI_ID="$IMAGE_ID" MULTI_JSON="$IMAGE_JSON"
        push_image formats/docker-none:latest --compression none --layers 2
        export DOCKER_NONE_ID="$IMAGE_ID"
        local c
        for c in gzip zstd none; do
                push_image "formats/oci-$c:latest" --format oci --compression "$c" --layers 2
                export "OCI_${c^^}_ID=$IMAGE_ID" "OCI_${c^^}_TYPE=$(jq -r '.layers[0].mediaType' "$IMAGE_JSON")"
        done
        push_image index/oci:latest --index --format oci
        export INDEX_OCI_ID="$IMAGE_ID" INDEX_OCI_DIGEST="$IMAGE_DIGEST" INDEX_OCI_JSON="$IMAGE_JSON"
        push_image index/docker:latest --index --format docker
        export INDEX_DOCKER_ID="$IMAGE_ID" INDEX_DOCKER_DIGEST="$IMAGE_DIGEST" INDEX_DOCKER_JSON="$IMAGE_JSON"
        push_image index/noamd64:latest --index --platform linux/arm64/v8,linux/s390x
        pyc_setup
}

teardown_file() {
        stop_registries
        pyc_cleanup
}

teardown() {
        show_log_on_failure
        if mountpoint -q "$BATS_TEST_TMPDIR/merged" 2>/dev/null; then
                umount "$BATS_TEST_TMPDIR/merged"
        fi
        stop_ocid
        if [ -n "${SCHEMA1_DIR:-}" ]; then
                stop_registry "$SCHEMA1_DIR"
        fi
}

# A TCP port on 127.0.0.1 that nothing listens on.
dead_port() {
        free_port
}

# The ListImages response as compact JSON.
images_json() {
        "$OCIC" images -o json | jq -c .
}

# ---- reference forms ------------------------------------------------------

@test "pull by tag: the image ID is the config digest; images shows the repo tag and repo digest" {
        start_image_ocid
        run -0 ocic pull "$REGISTRY/library/busybox:latest"
        [ "$output" = "Image is up to date for $BB_ID" ]

        run -0 ocic images -o json
        check ".images | length == 1"
        check ".images[0].id == \"$BB_ID\""
        check ".images[0].repoTags == [\"$REGISTRY/library/busybox:latest\"]"
        check ".images[0].repoDigests == [\"$REGISTRY/library/busybox@$BB_DIGEST\"]"
        # Size: the config and the compressed layers.
        local layers
        layers="$(jq '[.layers[].size] | add' "$BB_JSON")"
        check "(.images[0].size | tonumber) > $layers"

        run -0 ocic images -q
        [ "$output" = "$BB_ID" ]

        run -0 ocic images
        [[ "${lines[0]}" =~ ^IMAGE\ +TAG\ +IMAGE\ ID\ +SIZE$ ]]
        [[ "${lines[1]}" =~ ^$REGISTRY/library/busybox\ +latest\ +${BB_ID:7:13}\ +[0-9.]+[kM]?B$ ]]

        run -0 ocic images --digests
        [[ "${lines[0]}" =~ ^IMAGE\ +TAG\ +DIGEST\ +IMAGE\ ID\ +SIZE$ ]]
        [[ "${lines[1]}" =~ ^$REGISTRY/library/busybox\ +latest\ +${BB_DIGEST:7:13}\ +${BB_ID:7:13}\  ]]

        run -0 ocic images --no-trunc
        [[ "${lines[1]}" == *" $BB_ID "* ]]

        # ListImages with a filter.
        run -0 ocic images -q "$REGISTRY/library/busybox:latest"
        [ "$output" = "$BB_ID" ]
        run -0 ocic images -q "$REGISTRY/library/busybox"
        [ "$output" = "$BB_ID" ]
        run -0 ocic images -q "$REGISTRY/library/nothing:latest"
        [ -z "$output" ]
}

@test "pull by digest: listed under its repo digest, without a tag" {
        start_image_ocid
        run -0 ocic pull "$REGISTRY/library/busybox@$BB_DIGEST"
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic images -o json
        check ".images | length == 1"
        check ".images[0].id == \"$BB_ID\""
        check ".images[0].repoTags == []"
        check ".images[0].repoDigests == [\"$REGISTRY/library/busybox@$BB_DIGEST\"]"
        run -0 ocic images
        [[ "${lines[1]}" =~ ^$REGISTRY/library/busybox\ +\<none\>\ +${BB_ID:7:13}\  ]]
        run -0 ocic inspecti "$REGISTRY/library/busybox@$BB_DIGEST"
        check ".status.id == \"$BB_ID\""
        # The tag was never pulled.
        run -1 ocic inspecti "$REGISTRY/library/busybox:latest"
        [[ "$output" == *"no such image"* ]]
}

@test "pull by tag@digest: the digest decides; a digest the registry lacks is NOT_FOUND" {
        start_image_ocid
        run -0 ocic pull "$REGISTRY/library/busybox:latest@$BB_DIGEST"
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic images -o json
        check ".images | length == 1"
        check ".images[0].repoDigests == [\"$REGISTRY/library/busybox@$BB_DIGEST\"]"
        run -0 ocic inspecti "$REGISTRY/library/busybox:latest@$BB_DIGEST"
        check ".status.id == \"$BB_ID\""
        # The manifest is asked for by digest, not by tag.
        grep -q "\"GET /v2/library/busybox/manifests/$BB_DIGEST HTTP/1.1\" 200 .*ocid/" "$REGISTRY_LOG"

        local zero=sha256:0000000000000000000000000000000000000000000000000000000000000000
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest@$zero\"}}"
        check '.code == "NOT_FOUND"'
        check ".details | contains(\"$zero\")"
        run -0 ocic images -q
        [ "$output" = "$BB_ID" ]
}

# ---- names: registries.conf ---------------------------------------------------

@test "docker.io names: 'busybox' and 'docker.io/library/busybox' come from the [[registry]] location, listed as docker.io/library/busybox:latest" {
        write_registries_conf "[[registry]]
prefix = \"docker.io\"
location = \"$REGISTRY\"
insecure = true"
        start_image_ocid
        run -0 ocic pull busybox
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic pull docker.io/library/busybox
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic pull library/busybox:latest
        [ "$output" = "Image is up to date for $BB_ID" ]

        run -0 ocic images -o json
        check ".images | length == 1"
        check '.images[0].repoTags == ["docker.io/library/busybox:latest"]'
        check ".images[0].repoDigests == [\"docker.io/library/busybox@$BB_DIGEST\"]"
        [[ "$output" != *127.0.0.1* ]]
        run -0 ocic images
        [[ "${lines[1]}" =~ ^docker.io/library/busybox\ +latest\  ]]

        # Every spelling finds it.
        local name
        for name in busybox busybox:latest library/busybox docker.io/busybox \
                docker.io/library/busybox:latest "docker.io/library/busybox@$BB_DIGEST" "$BB_ID"; do
                run -0 ocic inspecti "$name"
                check ".status.id == \"$BB_ID\""
                check '.status.repoTags == ["docker.io/library/busybox:latest"]'
        done
        # Served by the local registry, under library/.
        grep -q '"GET /v2/library/busybox/manifests/latest HTTP/1.1" 200 .*ocid/' "$REGISTRY_LOG"
}

@test "a mirror serves the image; the name listed is the one asked for" {
        local dead
        dead="$(dead_port)"
        write_registries_conf "[[registry]]
prefix = \"docker.io\"
location = \"127.0.0.1:$dead\"
insecure = true
[[registry.mirror]]
location = \"$REGISTRY\"
insecure = true

[[registry]]
prefix = \"registry.k8s.io\"
location = \"127.0.0.1:$dead\"
insecure = true
[[registry.mirror]]
location = \"$REGISTRY\"
insecure = true"
        start_image_ocid
        run -0 ocic pull busybox
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic pull registry.k8s.io/pause:3.9
        [ "$output" = "Image is up to date for $PAUSE_ID" ]
        run -0 ocic images -o json
        check ".images | length == 2"
        check "[.images[].repoTags[]] | sort == [\"docker.io/library/busybox:latest\", \"registry.k8s.io/pause:3.9\"]"
        check "[.images[].repoDigests[]] | sort == [\"docker.io/library/busybox@$BB_DIGEST\", \"registry.k8s.io/pause@$PAUSE_DIGEST\"]"
        [[ "$output" != *127.0.0.1* ]]
        run -0 ocic inspecti registry.k8s.io/pause:3.9
        check ".status.id == \"$PAUSE_ID\""
}

@test "the mirror down, or without the image: the pull falls back to the location" {
        local dead
        dead="$(dead_port)"
        write_registries_conf "[[registry]]
prefix = \"docker.io\"
location = \"$REGISTRY\"
insecure = true
[[registry.mirror]]
location = \"127.0.0.1:$dead\"
insecure = true
[[registry.mirror]]
location = \"$REGISTRY/empty-mirror\"
insecure = true"
        start_image_ocid
        run -0 ocic pull busybox
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic images -o json
        check '.images[0].repoTags == ["docker.io/library/busybox:latest"]'
        # Both mirrors were tried, in order, before the location.
        grep -q '"GET /v2/empty-mirror/library/busybox/manifests/latest HTTP/1.1" 404 .*ocid/' "$REGISTRY_LOG"
        grep -q '"GET /v2/library/busybox/manifests/latest HTTP/1.1" 200 .*ocid/' "$REGISTRY_LOG"
}

@test "[aliases]: 'pause:3.9' is registry.k8s.io/pause:3.9, served by the prefix's location" {
        write_registries_conf "[aliases]
\"pause\" = \"registry.k8s.io/pause\"

[[registry]]
prefix = \"registry.k8s.io\"
location = \"$REGISTRY\"
insecure = true"
        start_image_ocid
        run -0 ocic pull pause:3.9
        [ "$output" = "Image is up to date for $PAUSE_ID" ]
        run -0 ocic images -o json
        check '.images[0].repoTags == ["registry.k8s.io/pause:3.9"]'
        check ".images[0].repoDigests == [\"registry.k8s.io/pause@$PAUSE_DIGEST\"]"
        run -0 ocic inspecti pause:3.9
        check ".status.id == \"$PAUSE_ID\""
        # A drop-in in registries.conf.d can alias it too.
        printf '[aliases]\n"sandbox" = "registry.k8s.io/pause"\n' >"$TEST_DIR/registries.conf.d/50-sandbox.conf"
        run -0 ocic pull sandbox:3.9
        [ "$output" = "Image is up to date for $PAUSE_ID" ]
        run -0 ocic images -q
        [ "$output" = "$PAUSE_ID" ]
}

@test "unqualified-search-registries are tried in order; the name is the registry that had it" {
        write_registries_conf "unqualified-search-registries = [\"first.test\", \"second.test\"]

[[registry]]
prefix = \"first.test\"
location = \"$REGISTRY/nothere\"
insecure = true

[[registry]]
prefix = \"second.test\"
location = \"$REGISTRY\"
insecure = true"
        start_image_ocid
        run -0 ocic pull busybox
        [ "$output" = "Image is up to date for $BB_ID" ]
        run -0 ocic images -o json
        check '.images[0].repoTags == ["second.test/busybox:latest"]'
        check ".images[0].repoDigests == [\"second.test/busybox@$BB_DIGEST\"]"
        grep -q '"GET /v2/nothere/busybox/manifests/latest HTTP/1.1" 404 .*ocid/' "$REGISTRY_LOG"
        run -0 ocic inspecti busybox
        check ".status.id == \"$BB_ID\""
        # A short name no search registry has.
        run -1 pyc call ImageService/PullImage '{"image": {"image": "nosuchimage"}}'
        check '.code == "NOT_FOUND"'
        run -0 ocic images -q
        [ "$output" = "$BB_ID" ]
}

@test "a blocked registry: a clear error and no request to it" {
        write_registries_conf "[[registry]]
prefix = \"blocked.test\"
location = \"$REGISTRY\"
insecure = true
blocked = true

[[registry]]
location = \"$REGISTRY\"
insecure = true
blocked = true"
        start_image_ocid
        local before
        before="$(grep -c 'ocid/' "$REGISTRY_LOG" || true)"
        run -1 ocic pull blocked.test/library/busybox:latest
        [[ "$output" == *"'blocked.test'"*blocked* ]]
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest\"}}"
        check '.code == "FAILED_PRECONDITION"'
        check ".details | contains(\"registry '$REGISTRY' is blocked\")"
        [ "$(grep -c 'ocid/' "$REGISTRY_LOG" || true)" = "$before" ]
        store_is_empty
}

# ---- formats ------------------------------------------------------------------

# Pull $1 and check: the ID is $2, 2 layers unpacked with the fixture files.
pull_two_layer_image() {
        run -0 ocic pull "$1"
        [ "$output" = "Image is up to date for $2" ]
        local chains
        chains=($(chain_hexes "$1"))
        [ "${#chains[@]}" = 2 ]
        cmp /bin/busybox "$ROOT/layers/${chains[0]}/diff/bin/busybox"
        [ -x "$ROOT/layers/${chains[0]}/diff/bin/busybox" ]
        [ "$(readlink "$ROOT/layers/${chains[0]}/diff/bin/sh")" = busybox ]
        [ "$(cat "$ROOT/layers/${chains[0]}/diff/etc/fixture/hello.txt")" = "hello from the fixture image" ]
        [ "$(cat "$ROOT/layers/${chains[1]}/diff/etc/fixture/opaque/new.txt")" = "after the opaque marker" ]
}

@test "Docker schema 2 with gzip (default) and uncompressed layers" {
        start_image_ocid
        local before
        before="$(ocid_blob_gets formats/docker-none)"
        pull_two_layer_image "$REGISTRY/formats/docker-none:latest" "$DOCKER_NONE_ID"
        [ "$(ocid_blob_gets formats/docker-none)" = $((before + 3)) ]
        before="$(ocid_blob_gets library/busybox)"
        run -0 ocic pull "$REGISTRY/library/busybox:latest"
        [ "$output" = "Image is up to date for $BB_ID" ]
        [ "$(ocid_blob_gets library/busybox)" = $((before + 2)) ]
        run -0 ocic images -q
        [ "${#lines[@]}" = 2 ]
}

@test "OCI image manifests with gzip, zstd and uncompressed layers" {
        [ "$OCI_GZIP_TYPE" = application/vnd.oci.image.layer.v1.tar+gzip ]
        [ "$OCI_ZSTD_TYPE" = application/vnd.oci.image.layer.v1.tar+zstd ]
        [ "$OCI_NONE_TYPE" = application/vnd.oci.image.layer.v1.tar ]
        # The same files and config whatever the compression: one image ID.
        [ "$OCI_GZIP_ID" = "$OCI_ZSTD_ID" ] && [ "$OCI_GZIP_ID" = "$OCI_NONE_ID" ]
        start_image_ocid
        local c chains= before
        for c in gzip zstd none; do
                # From an empty store each time, so every layer is fetched
                # and unpacked from its own format.
                before="$(ocid_blob_gets "formats/oci-$c")"
                pull_two_layer_image "$REGISTRY/formats/oci-$c:latest" "$OCI_GZIP_ID"
                [ "$(ocid_blob_gets "formats/oci-$c")" = $((before + 3)) ]
                [ -z "$chains" ] || [ "$(chain_hexes "$OCI_GZIP_ID")" = "$chains" ]
                chains="$(chain_hexes "$OCI_GZIP_ID")"
                run -0 ocic rmi -a
                store_is_empty
        done
}

@test "three layers with a whiteout and an opaque dir: overlay-ready layer dirs that stack to the image's files" {
        start_image_ocid
        run -0 ocic pull "$REGISTRY/multi:latest"
        [ "$output" = "Image is up to date for $MULTI_ID" ]
        local chains l1 l2 l3
        chains=($(chain_hexes "$REGISTRY/multi:latest"))
        [ "${#chains[@]}" = 3 ]
        l1="$ROOT/layers/${chains[0]}/diff" l2="$ROOT/layers/${chains[1]}/diff" l3="$ROOT/layers/${chains[2]}/diff"

        # Layer 2: the files layer 3 deletes, and a hard link.
        [ -f "$l2/etc/fixture/doomed.txt" ]
        [ -f "$l2/etc/fixture/opaque/old.txt" ]
        [ "$(stat -c %i "$l2/etc/fixture/hello.txt")" = "$(stat -c %i "$l2/etc/fixture/hello.hardlink")" ]
        [ "$(stat -c '%a %u:%g' "$l2/home/app/owned.txt")" = "640 1000:1000" ]
        # Timestamps kept (2000-01-01).
        [ "$(stat -c %Y "$l2/etc/fixture/hello.txt")" = 946684800 ]

        # Layer 3: the whiteout is overlay's 0/0 character device; the
        # opaque directory carries trusted.overlay.opaque=y; no .wh. file
        # is left anywhere.
        [ "$(stat -c '%F %t:%T' "$l3/etc/fixture/doomed.txt")" = "character special file 0:0" ]
        run -0 getfattr --absolute-names --only-values -n trusted.overlay.opaque "$l3/etc/fixture/opaque"
        [ "$output" = y ]
        [ "$(cat "$l3/etc/fixture/opaque/new.txt")" = "after the opaque marker" ]
        [ ! -e "$l3/etc/fixture/opaque/old.txt" ]
        run -0 find "$l1" "$l2" "$l3" -name '.wh.*'
        [ -z "$output" ]
        # Only the opaque dir carries overlay xattrs.
        run getfattr -R -d -m "^trusted\\.overlay\\." --absolute-names "$l1" "$l2" "$l3"
        [ "$(grep -c '^# file:' <<<"$output")" = 1 ]

        # Stacked as overlay lowers: exactly the files of the image, as the
        # image's own layers merged say (deleted files gone, opaque dir
        # emptied of the lower files).
        local layout="$BATS_TEST_TMPDIR/layout" mnt="$BATS_TEST_TMPDIR/merged"
        "$PYTHON" "$MKIMAGE" --output "$layout" --layers 3 multi:latest >"$BATS_TEST_TMPDIR/layout.json"
        [ "$(jq -r .image_id "$BATS_TEST_TMPDIR/layout.json")" = "$MULTI_ID" ]
        mkdir "$mnt"
        mount -t overlay overlay -o "ro,lowerdir=$l3:$l2:$l1" "$mnt"
        "$PYTHON" "$IMAGE_LIB_DIR/rootfs.py" tree "$mnt" >"$BATS_TEST_TMPDIR/actual" || true
        umount "$mnt"
        "$PYTHON" "$IMAGE_LIB_DIR/rootfs.py" layout "$layout" >"$BATS_TEST_TMPDIR/expected"
        diff -u "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/actual"
        ! grep -q doomed "$BATS_TEST_TMPDIR/actual"
        ! grep -q old.txt "$BATS_TEST_TMPDIR/actual"
        grep -q '^etc/fixture/opaque/new.txt f 644 0:0 ' "$BATS_TEST_TMPDIR/actual"
        grep -q '^home/app/owned.txt f 640 1000:1000 ' "$BATS_TEST_TMPDIR/actual"
        grep -q '^tmp d 1777 0:0$' "$BATS_TEST_TMPDIR/actual"
}

@test "an OCI index and a Docker manifest list: linux/amd64 is chosen; the repo digest is the index's" {
        [ "$(uname -m)" = x86_64 ] || skip "the fixtures' amd64 entry is this machine's platform only on x86_64"
        start_image_ocid
        local other
        other="$(jq -r '.manifests[] | select(.platform_string == "linux/arm64/v8") | .image_id' "$INDEX_OCI_JSON")"
        [ "$other" != "$INDEX_OCI_ID" ]

        run -0 ocic pull "$REGISTRY/index/oci:latest"
        [ "$output" = "Image is up to date for $INDEX_OCI_ID" ]
        run -0 ocic pull "$REGISTRY/index/docker:latest"
        [ "$output" = "Image is up to date for $INDEX_DOCKER_ID" ]
        # Both are the same amd64 image (same files, same config): one
        # image with two tags and the two index digests as repo digests.
        [ "$INDEX_OCI_ID" = "$INDEX_DOCKER_ID" ]
        run -0 ocic inspecti "$REGISTRY/index/oci:latest"
        check ".status.repoTags == [\"$REGISTRY/index/docker:latest\", \"$REGISTRY/index/oci:latest\"]"
        check ".status.repoDigests == [\"$REGISTRY/index/docker@$INDEX_DOCKER_DIGEST\", \"$REGISTRY/index/oci@$INDEX_OCI_DIGEST\"]"
        check '.info.imageConfig.architecture == "amd64"'
        check '.info.imageConfig.os == "linux"'
        # Only the amd64 manifest and config were fetched.
        local amd64_manifest
        amd64_manifest="$(jq -r '.manifests[] | select(.platform_string == "linux/amd64") | .digest' "$INDEX_OCI_JSON")"
        grep -q "\"GET /v2/index/oci/manifests/$amd64_manifest HTTP/1.1\" 200 .*ocid/" "$REGISTRY_LOG"
        ! grep -q "\"GET /v2/index/oci/blobs/$other " "$REGISTRY_LOG"
        # Pulling the index by its digest gives the same image.
        run -0 ocic pull "$REGISTRY/index/oci@$INDEX_OCI_DIGEST"
        [ "$output" = "Image is up to date for $INDEX_OCI_ID" ]
}

@test "an index without linux/amd64 is refused, naming the platforms it has" {
        [ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 machine"
        start_image_ocid
        run -1 ocic pull "$REGISTRY/index/noamd64:latest"
        [[ "$output" == *"linux/amd64"* ]]
        [[ "$output" == *"linux/arm64/v8"* ]]
        [[ "$output" == *"linux/s390x"* ]]
        store_is_empty
}

@test "Docker schema 1 is refused with a message that says so" {
        local main_dir="$REGISTRY_DIR" main_reg="$REGISTRY" main_log="$REGISTRY_LOG"
        start_registry --schema1
        export SCHEMA1_DIR="$REGISTRY_DIR"
        push_image old:v1 --schema1
        [ "$IMAGE_MEDIA_TYPE" = application/vnd.docker.distribution.manifest.v1+prettyjws ]
        local s1="$REGISTRY"
        REGISTRY="$main_reg" REGISTRY_DIR="$main_dir" REGISTRY_LOG="$main_log"
        write_registries_conf "[[registry]]
location = \"$s1\"
insecure = true"
        start_image_ocid
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$s1/old:v1\"}}"
        check '.details | test("schema 1"; "i")'
        run -1 ocic pull "$s1/old:v1"
        [[ "$output" == *"'$s1/old:v1'"* ]]
        [[ "${output,,}" == *"schema 1"* ]]
        store_is_empty
        run -0 ocic version
}

@test "malformed references: INVALID_ARGUMENT, the reference quoted, nothing stored" {
        start_image_ocid
        local ref
        for ref in 'Busybox:latest' 'busybox:' 'busybox:bad tag' '/busybox' 'a//b' \
                'busybox@sha256:1234' 'busybox@md5:0123456789abcdef0123456789abcdef' \
                "$REGISTRY/busybox:-x" 'busybox:latest:more'; do
                run -1 ocic pull "$ref"
                [[ "$output" == *"'$ref'"* ]] || { echo "ref $ref: $output" >&2; return 1; }
                [[ "$output" == *"invalid reference"* ]] || { echo "ref $ref: $output" >&2; return 1; }
                run -1 pyc call ImageService/PullImage "$(jq -cn --arg r "$ref" '{image: {image: $r}}')"
                check '.code == "INVALID_ARGUMENT"'
        done
        run -1 pyc call ImageService/PullImage '{"image": {"image": ""}}'
        check '.code == "INVALID_ARGUMENT"'
        store_is_empty
        run -0 ocic version
}

@test "an unknown repository or tag: NOT_FOUND with the registry's answer, nothing stored" {
        start_image_ocid
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/library/busybox:nosuchtag\"}}"
        check '.code == "NOT_FOUND"'
        check '.details | contains("manifest unknown")'
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/nosuch/repository:latest\"}}"
        check '.code == "NOT_FOUND"'
        run -1 ocic pull "$REGISTRY/nosuch/repository:latest"
        [[ "$output" == *"'$REGISTRY/nosuch/repository:latest'"* ]]
        store_is_empty
}

@test "an unreachable registry: UNAVAILABLE, nothing stored, the daemon keeps serving" {
        local dead
        dead="$(dead_port)"
        write_registries_conf "[[registry]]
location = \"127.0.0.1:$dead\"
insecure = true"
        start_image_ocid
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"127.0.0.1:$dead/busybox:latest\"}}"
        check '.code == "UNAVAILABLE"'
        check ".details | contains(\"127.0.0.1:$dead\")"
        store_is_empty
        run -0 ocic version
}

@test "python: PullImage, ListImages and ImageStatus through grpcio" {
        start_image_ocid
        run -0 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest\"}}"
        check ".response.imageRef == \"$BB_ID\""
        run -0 pyc call ImageService/ListImages '{}'
        check ".response.images | length == 1"
        check ".response.images[0].repoTags == [\"$REGISTRY/library/busybox:latest\"]"
        run -0 pyc call ImageService/ListImages "{\"filter\": {\"image\": {\"image\": \"$BB_ID\"}}}"
        check ".response.images[0].id == \"$BB_ID\""
        run -0 pyc call ImageService/ImageStatus "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest\"}, \"verbose\": true}"
        check ".response.image.id == \"$BB_ID\""
        check '.response.info.info | fromjson | .imageConfig.config.Cmd == ["/bin/sh"]'
}
