#!/usr/bin/env bats
# The pull pipeline under stress and faults: concurrent pulls of one image,
# re-pulls, a registry that dies mid-download, a client deadline, a blob
# whose digest does not match, a registry that stops sending (stall
# timeout). After every failure: nothing in the store (no image, no layer
# dir, nothing in ROOT/tmp, no temp file held open), the daemon serving.
#
# Slow and stalled transfers come from image/slowproxy.py, a front for the
# real registry that throttles or stalls large blob bodies.

bats_require_minimum_version 1.5.0

load helpers
load registry
load image/lib

setup_file() {
        start_registry
        export MAIN_REGISTRY="$REGISTRY" MAIN_REGISTRY_DIR="$REGISTRY_DIR" MAIN_REGISTRY_LOG="$REGISTRY_LOG"
        push_image multi:latest --layers 3
        export MULTI_ID="$IMAGE_ID" MULTI_DIGEST="$IMAGE_DIGEST"
        # Its 3 layers and one more.
        push_image multi4:latest --layers 4
        export MULTI4_ID="$IMAGE_ID"
        push_image big:latest --big 24
        export BIG_ID="$IMAGE_ID" BIG_DIGEST="$IMAGE_DIGEST"
        export BIG_BLOB="$(jq -r '.layers[-1].digest' "$IMAGE_JSON")"
        pyc_setup
}

teardown_file() {
        stop_registries
        pyc_cleanup
}

setup() {
        # Tests that start a registry of their own replace these.
        REGISTRY="$MAIN_REGISTRY" REGISTRY_DIR="$MAIN_REGISTRY_DIR" REGISTRY_LOG="$MAIN_REGISTRY_LOG"
}

teardown() {
        show_log_on_failure
        stop_ocid
        stop_proxy
        if [ -n "${OWN_REGISTRY_DIR:-}" ]; then
                stop_registry "$OWN_REGISTRY_DIR"
        fi
}

# A registry for this test only (it will be broken); sets OWN_REGISTRY_DIR.
start_own_registry() {
        start_registry "$@"
        OWN_REGISTRY_DIR="$REGISTRY_DIR"
}

# registries.conf: $1 (HOST:PORT) is plain HTTP.
insecure_registry() {
        write_registries_conf "[[registry]]
location = \"$1\"
insecure = true"
}

# The file the registry stores blob $1 in.
registry_blob_file() {
        local hex="${1#sha256:}"
        echo "$REGISTRY_DIR/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

@test "two pulls of the same image at once: both succeed, every blob fetched once" {
        # Throttled, so that the two pulls surely overlap.
        start_proxy --rate $((8 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        local before
        before="$(ocid_blob_gets big)"
        ocic pull "$PROXY/big:latest" >"$BATS_TEST_TMPDIR/pull1" 2>&1 &
        local p1=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$BIG_BLOB "
        ocic pull "$PROXY/big:latest" >"$BATS_TEST_TMPDIR/pull2" 2>&1 &
        local p2=$!
        wait "$p1"
        wait "$p2"
        [ "$(cat "$BATS_TEST_TMPDIR/pull1")" = "Image is up to date for $BIG_ID" ]
        [ "$(cat "$BATS_TEST_TMPDIR/pull2")" = "Image is up to date for $BIG_ID" ]
        # Config + 2 layers, once.
        [ "$(ocid_blob_gets big)" = $((before + 3)) ]
        [ "$(grep -c "^BEGIN GET /v2/big/blobs/$BIG_BLOB " "$PROXY_LOG")" = 1 ]
        grep -q "joining the download in progress" "$OCID_LOG"
        run -0 ocic images -q
        [ "$output" = "$BIG_ID" ]
}

@test "two pulls at once under two spellings of one name ('dbig', 'docker.io/library/dbig:latest'): fetched once" {
        start_proxy --rate $((8 << 20))
        write_registries_conf "[[registry]]
prefix = \"docker.io/library/dbig\"
location = \"$PROXY/big\"
insecure = true"
        start_image_ocid
        local before
        before="$(ocid_blob_gets big)"
        ocic pull dbig >"$BATS_TEST_TMPDIR/pull1" 2>&1 &
        local p1=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$BIG_BLOB "
        ocic pull docker.io/library/dbig:latest >"$BATS_TEST_TMPDIR/pull2" 2>&1 &
        local p2=$!
        wait "$p1"
        wait "$p2"
        [ "$(cat "$BATS_TEST_TMPDIR/pull1")" = "Image is up to date for $BIG_ID" ]
        [ "$(cat "$BATS_TEST_TMPDIR/pull2")" = "Image is up to date for $BIG_ID" ]
        [ "$(ocid_blob_gets big)" = $((before + 3)) ]
        run -0 ocic images -o json
        check '.images[0].repoTags == ["docker.io/library/dbig:latest"]'
}

@test "a tag and a digest of one image pulled at once: every layer fetched once" {
        start_proxy --rate $((8 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        ocic pull "$PROXY/big:latest" >"$BATS_TEST_TMPDIR/pull1" 2>&1 &
        local p1=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$BIG_BLOB "
        ocic pull "$PROXY/big@$BIG_DIGEST" >"$BATS_TEST_TMPDIR/pull2" 2>&1 &
        local p2=$!
        wait "$p1"
        wait "$p2"
        [ "$(cat "$BATS_TEST_TMPDIR/pull1")" = "Image is up to date for $BIG_ID" ]
        [ "$(cat "$BATS_TEST_TMPDIR/pull2")" = "Image is up to date for $BIG_ID" ]
        # Two references, so two downloads were started: the layer went
        # over the wire once, the second pull waited for it.
        [ "$(grep -c "^BEGIN GET /v2/big/blobs/$BIG_BLOB " "$PROXY_LOG")" = 1 ]
        grep -q "came from another pull" "$OCID_LOG"
        run -0 ocic images -o json
        check '.images | length == 1'
        check '.images[0].repoTags == ["'"$PROXY"'/big:latest"]'
}

@test "a layer another pull has just unpacked is counted in ImageFsInfo by the image that records it first" {
        # big = the busybox layer + a 24 MiB layer; busybox = that first
        # layer only. While big's second layer crawls through the proxy,
        # busybox finds its layer on disk (big unpacked it) and records
        # the image first.
        push_image busybox:latest
        start_proxy --rate $((8 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        ocic pull "$PROXY/big:latest" >"$BATS_TEST_TMPDIR/pull" 2>&1 &
        local p=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$BIG_BLOB "
        # Wait for big's first layer to be on disk.
        local i
        for i in $(seq 1 100); do
                [ -n "$(ls -A "$ROOT/layers")" ] && break
                sleep 0.05
        done
        [ "$(ls "$ROOT/layers" | wc -l)" = 1 ]
        local before
        before="$(ocid_blob_gets busybox)"
        run -0 ocic pull "$PROXY/busybox:latest"
        # Only its config was fetched: the layer was there already.
        [ "$(ocid_blob_gets busybox)" = $((before + 1)) ]
        kill -0 "$p"
        wait "$p"
        local concurrent sequential
        concurrent="$(ocic imagefsinfo | jq -c '.imageFilesystems[0] | [.usedBytes.value, .inodesUsed.value]')"
        # The same two images pulled one after the other.
        run -0 ocic rmi -a
        store_is_empty
        run -0 ocic pull "$PROXY/busybox:latest"
        run -0 ocic pull "$PROXY/big:latest"
        sequential="$(ocic imagefsinfo | jq -c '.imageFilesystems[0] | [.usedBytes.value, .inodesUsed.value]')"
        [ "$concurrent" = "$sequential" ]
}

@test "a second pull of an image already present fetches no blob, only the manifest" {
        insecure_registry "$REGISTRY"
        start_image_ocid
        local blobs manifests
        run -0 ocic pull "$REGISTRY/multi:latest"
        blobs="$(ocid_blob_gets multi)"
        manifests="$(grep -c '"GET /v2/multi/manifests/latest HTTP/1.1" 200 .*ocid/' "$REGISTRY_LOG")"
        run -0 ocic pull "$REGISTRY/multi:latest"
        [ "$output" = "Image is up to date for $MULTI_ID" ]
        run -0 ocic pull "$REGISTRY/multi@$MULTI_DIGEST"
        [ "$output" = "Image is up to date for $MULTI_ID" ]
        [ "$(ocid_blob_gets multi)" = "$blobs" ]
        [ "$(grep -c '"GET /v2/multi/manifests/latest HTTP/1.1" 200 .*ocid/' "$REGISTRY_LOG")" = $((manifests + 1)) ]
        run -0 ocic images -q
        [ "$output" = "$MULTI_ID" ]

        # An image sharing three layers with it (another repository):
        # only its config and its own fourth layer are fetched.
        blobs="$(ocid_blob_gets multi4)"
        run -0 ocic pull "$REGISTRY/multi4:latest"
        [ "$output" = "Image is up to date for $MULTI4_ID" ]
        [ "$(ocid_blob_gets multi4)" = $((blobs + 2)) ]
        [ "$(ls "$ROOT/layers" | wc -l)" = 4 ]
}

@test "the registry dies mid-download: the pull fails and leaves nothing behind" {
        start_own_registry
        push_image big:latest --big 200
        local blob
        blob="$(jq -r '.layers[-1].digest' "$IMAGE_JSON")"
        # Throttled to ~40 MB/s, so the 200 MB blob is surely in flight
        # when the registry is killed.
        start_proxy --rate $((40 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        ocic pull "$PROXY/big:latest" >"$BATS_TEST_TMPDIR/pull" 2>&1 &
        local pull=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$blob "
        sleep 0.5
        # Downloading into an unnamed temp file under ROOT/tmp right now.
        [ -n "$(ocid_tmp_fds)" ]
        kill -KILL "$REGISTRY_PID"
        local rc=0
        wait "$pull" || rc=$?
        [ "$rc" = 1 ]
        grep -q "'$PROXY/big:latest'" "$BATS_TEST_TMPDIR/pull"
        grep -q "$blob" "$BATS_TEST_TMPDIR/pull"
        grep -q "^UPSTREAM-LOST GET /v2/big/blobs/$blob " "$PROXY_LOG"
        wait_store_empty 10
        run -0 ocic version
}

@test "a pull cancelled by the client's deadline leaves nothing once the daemon notices" {
        # 24 MiB at 4 MiB/s: 6 s, far beyond the 1 s deadline.
        start_proxy --rate $((4 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        SECONDS=0
        run -1 ocic -t 1s pull "$PROXY/big:latest"
        [[ "$output" == *"deadline exceeded"* ]]
        [ "$SECONDS" -le 3 ]
        # The daemon drops the download (the proxy sees the connection
        # close long before the blob is through) and cleans up.
        wait_proxy_log "^CLOSED GET /v2/big/blobs/$BIG_BLOB " 5
        wait_store_empty 5
        grep -q "PullImage: DEADLINE_EXCEEDED" "$OCID_LOG"
        # The helper that was downloading is gone with it.
        [ -z "$(pgrep -P "$OCID_PID" ocid-fetch)" ]
        # It keeps serving, and the same pull without a deadline works.
        run -0 ocic version
        insecure_registry "$REGISTRY"
        run -0 ocic pull "$REGISTRY/big:latest"
        [ "$output" = "Image is up to date for $BIG_ID" ]
}

@test "the fetch helper killed mid-download: the pull fails with a clear error, nothing left, the daemon keeps serving" {
        start_proxy --rate $((4 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        ocic pull "$PROXY/big:latest" >"$TEST_DIR/pull.out" 2>&1 &
        local pull=$!
        wait_proxy_log "^BEGIN GET /v2/big/blobs/$BIG_BLOB " 10
        local helpers
        helpers="$(pgrep -P "$OCID_PID" ocid-fetch)"
        [ -n "$helpers" ]
        kill -9 $helpers
        local rc=0
        wait "$pull" || rc=$?
        cat "$TEST_DIR/pull.out"
        [ "$rc" -ne 0 ]
        # Whichever of them was at work: a registry session or an unpack.
        grep -Eq "the (registry|unpack) helper ocid-fetch was killed by signal 9" "$TEST_DIR/pull.out"
        wait_store_empty 5
        [ -z "$(pgrep -P "$OCID_PID" ocid-fetch)" ]
        run -0 ocic version
        insecure_registry "$REGISTRY"
        run -0 ocic pull "$REGISTRY/big:latest"
}

@test "an ocid-fetch that fails at once: the pull fails naming its exit status; one that cannot run: a warning at start" {
        # The daemon looks for its helper next to itself first.
        local bin
        bin="$(mktemp -d /tmp/ocid-bin.XXXXXX)"
        cp "$OCID" "$bin/ocid"
        printf '#!/bin/sh\nexit 3\n' >"$bin/ocid-fetch"
        chmod 0755 "$bin/ocid-fetch"
        OCID="$bin/ocid" start_image_ocid
        run -1 ocic pull "$REGISTRY/big:latest"
        [[ "$output" == *"the registry helper ocid-fetch exited with status 3"* ]]
        wait_store_empty 5
        run -0 ocic version
        stop_ocid
        chmod 0644 "$bin/ocid-fetch"
        OCID="$bin/ocid" start_image_ocid
        grep -q "image pulls will fail: cannot run $bin/ocid-fetch" "$OCID_LOG"
        run -1 ocic pull "$REGISTRY/big:latest"
        [[ "$output" == *"cannot run $bin/ocid-fetch"* ]]
        rm -rf "$bin"
}

@test "the daemon never maps the registry client's or the unpacker's libraries: ocid-fetch does that work" {
        start_image_ocid
        run -0 ocic pull "$REGISTRY/big:latest"
        run -0 ocic version
        ! grep -E "libcurl|libarchive|libssl|libcrypto|libgnutls" "/proc/$OCID_PID/maps"
}

@test "python: a PullImage with a 1 s deadline is DEADLINE_EXCEEDED and leaves nothing" {
        start_proxy --rate $((4 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        run -1 pyc --timeout 1 call ImageService/PullImage "{\"image\": {\"image\": \"$PROXY/big:latest\"}}"
        check '.code == "DEADLINE_EXCEEDED"'
        check '.elapsed < 2.5'
        wait_proxy_log "^CLOSED GET /v2/big/blobs/$BIG_BLOB " 5
        wait_store_empty 5
}

@test "a layer whose content does not match its digest: the pull fails with a digest error, nothing left" {
        start_own_registry
        push_image multi:latest --layers 3
        local id="$IMAGE_ID" bad file
        # Corrupt the middle layer in the registry's storage (same size).
        bad="$(jq -r '.layers[1].digest' "$IMAGE_JSON")"
        file="$(registry_blob_file "$bad")"
        [ -f "$file" ]
        printf 'XXXXXXXX' | dd of="$file" bs=1 seek=100 conv=notrunc status=none
        insecure_registry "$REGISTRY"
        start_image_ocid
        run -1 ocic pull "$REGISTRY/multi:latest"
        [[ "$output" == *"blob $bad: content has digest sha256:"* ]]
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$REGISTRY/multi:latest\"}}"
        check '.code == "INVALID_ARGUMENT"'
        check ".details | contains(\"$bad\")"
        # The good layers that were unpacked meanwhile are gone too.
        store_is_empty
        [ "$(ocid_blob_gets multi)" -ge 4 ]
        run -0 ocic version
        run -1 ocic inspecti "$REGISTRY/multi:latest"
        [[ "$output" == *"no such image"* ]]
}

@test "a config blob whose content does not match its digest: refused, nothing left" {
        start_own_registry
        push_image busybox:latest
        local file
        file="$(registry_blob_file "$IMAGE_ID")"
        printf '{"x":1}' | dd of="$file" bs=1 seek=1 conv=notrunc status=none
        insecure_registry "$REGISTRY"
        start_image_ocid
        run -1 ocic pull "$REGISTRY/busybox:latest"
        [[ "$output" == *"blob $IMAGE_ID: content has digest"* ]]
        store_is_empty
}

@test "a registry that stops sending mid-blob: --pull-progress-timeout 2 fails the pull in seconds" {
        start_proxy --stall-after 100000
        insecure_registry "$PROXY"
        start_image_ocid --pull-progress-timeout 2
        SECONDS=0
        run -1 ocic pull "$PROXY/big:latest"
        local took=$SECONDS
        [[ "$output" == *"$BIG_BLOB: timed out (no progress for 2 s)"* ]]
        [ "$took" -ge 2 ] && [ "$took" -le 6 ]
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$PROXY/big:latest\"}}"
        check '.code == "UNAVAILABLE"'
        check '.details | contains("timed out (no progress")'
        grep -q "^STALL GET /v2/big/blobs/$BIG_BLOB 100000" "$PROXY_LOG"
        wait_proxy_log "^CLOSED GET /v2/big/blobs/$BIG_BLOB " 5
        wait_store_empty 5
        run -0 ocic version
}

@test "blobs redirected to another host (as to blob storage) are followed and verified" {
        start_proxy --redirect-blobs
        insecure_registry "$PROXY"
        start_image_ocid
        run -0 ocic pull "$PROXY/big:latest"
        [ "$output" = "Image is up to date for $BIG_ID" ]
        # Every blob came through a redirect to the registry's own address.
        grep -q "^REDIRECT GET /v2/big/blobs/$BIG_BLOB" "$PROXY_LOG"
        grep -q "GET /v2/big/blobs/$BIG_BLOB" "$REGISTRY_LOG"
}

@test "a slow but moving download is not a stall" {
        # 24 MiB at 8 MiB/s: 3 s, longer than the 2 s progress timeout, but
        # bytes keep coming.
        start_proxy --rate $((8 << 20))
        insecure_registry "$PROXY"
        start_image_ocid --pull-progress-timeout 2
        run -0 ocic pull "$PROXY/big:latest"
        [ "$output" = "Image is up to date for $BIG_ID" ]
        grep -q "^END GET /v2/big/blobs/$BIG_BLOB " "$PROXY_LOG"
}

# ---- hostile images (image/pushraw.py) ---------------------------------------

push_raw() {
        local out
        out="$("$PYTHON" "$IMAGE_LIB_DIR/pushraw.py" --registry "$REGISTRY" "$@")" || return 1
        RAW_REF="$(jq -r .reference <<<"$out")"
        RAW_ID="$(jq -r .image_id <<<"$out")"
        RAW_LAYER="$(jq -r .layer <<<"$out")"
}

@test "a truncated gzip layer: the pull fails, nothing stored" {
        push_raw --kind truncated-gzip raw/truncated:v1
        insecure_registry "$REGISTRY"
        start_image_ocid
        run -1 ocic pull "$RAW_REF"
        [[ "$output" == *"'$RAW_REF'"* ]]
        [[ "${output,,}" == *"truncated"* || "${output,,}" == *"unexpected end"* || "${output,,}" == *"eof"* ]]
        store_is_empty
        run -0 ocic version
}

@test "a layer with ../ entries writes nothing outside its directory" {
        local tag="t$$"
        push_raw --kind dotdot "raw/dotdot:$tag"
        insecure_registry "$REGISTRY"
        start_image_ocid
        run ocic pull "$RAW_REF"
        # Refused, or unpacked with the entries kept inside: never outside.
        if [ "$status" = 0 ]; then
                # Accepted: the ../ were resolved inside the layer's root.
                local chain
                chain="$(chain_hexes "$RAW_REF")"
                [ "$(cat "$ROOT/layers/$chain/diff/escape-$tag")" = escaped ]
                [ "$(cat "$ROOT/layers/$chain/diff/inside.txt")" = inside ]
        fi
        # ../../ from ROOT/layers/HEX/diff or ROOT/tmp/WORK/diff, and further up.
        run -0 find "$TEST_DIR" -name "escape-$tag" -not -path "$ROOT/layers/*/diff/*"
        [ -z "$output" ]
        run -0 find / /tmp /tmp/.. -maxdepth 1 -name "escape-$tag"
        [ -z "$output" ]
        wait_store_empty 1 || [ "$(ocic images -q)" = "$RAW_ID" ]
        [ -z "$(ls -A "$ROOT/tmp")" ]
        run -0 ocic version
}

@test "a symlink pointing outside, then a file through it: nothing written outside" {
        local target="$BATS_TEST_TMPDIR/outside"
        mkdir "$target"
        push_raw --kind symlink-escape --target "$target" raw/symlink:v1
        insecure_registry "$REGISTRY"
        start_image_ocid
        run ocic pull "$RAW_REF"
        [ ! -e "$target/pwned" ]
        [ -z "$(ls -A "$target")" ]
        wait_store_empty 1 || [ "$(ocic images -q)" = "$RAW_ID" ]
        [ -z "$(ls -A "$ROOT/tmp")" ]
        run -0 ocic version
}

@test "a hard link to a file outside the layer: refused or kept inside, the outside file untouched" {
        local canary="$BATS_TEST_TMPDIR/canary"
        echo canary >"$canary"
        push_raw --kind hardlink-escape --target "$canary" raw/hardlink:v1
        insecure_registry "$REGISTRY"
        start_image_ocid
        run ocic pull "$RAW_REF"
        [ "$(stat -c %h "$canary")" = 1 ]
        [ "$(cat "$canary")" = canary ]
        wait_store_empty 1 || [ "$(ocic images -q)" = "$RAW_ID" ]
        run -0 ocic version
}

@test "a manifest larger than 4 MiB is refused (RESOURCE_EXHAUSTED), nothing stored" {
        start_proxy --pad-manifests $((4 << 20))
        insecure_registry "$PROXY"
        start_image_ocid
        run -1 pyc call ImageService/PullImage "{\"image\": {\"image\": \"$PROXY/multi:latest\"}}"
        check '.code == "RESOURCE_EXHAUSTED"'
        check '.details | contains("manifest larger than")'
        store_is_empty
        # The same padding below the bound is fine (whitespace in JSON).
        stop_proxy
        start_proxy --pad-manifests 1000
        insecure_registry "$PROXY"
        run -0 ocic pull "$PROXY/multi:latest"
        [ "$output" = "Image is up to date for $MULTI_ID" ]
}
