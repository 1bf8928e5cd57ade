#!/usr/bin/env bats
# Managing pulled images: RemoveImage by tag, ID or digest (the whole image
# goes, with all its names), shared layers, rmi -a / --prune, ImageStatus
# (missing image, uid / username, verbose info, pinned), ImageFsInfo, and
# the store across a daemon restart (with its clean-up at start).

bats_require_minimum_version 1.5.0

load helpers
load registry
load image/lib

setup_file() {
        start_registry
        push_image library/busybox:latest
        export BB_ID="$IMAGE_ID" BB_DIGEST="$IMAGE_DIGEST"
        # The same image under a second tag.
        push_image library/busybox:v2
        [ "$IMAGE_ID" = "$BB_ID" ] && [ "$IMAGE_DIGEST" = "$BB_DIGEST" ]
        push_image multi:latest --layers 3
        export MULTI_ID="$IMAGE_ID"
        push_image multi4:latest --layers 4
        export MULTI4_ID="$IMAGE_ID"
        push_image user/uid:latest --user 1000
        export UID_ID="$IMAGE_ID"
        push_image user/uidgid:latest --user 1000:1000
        push_image user/name:latest --user app
        export NAME_ID="$IMAGE_ID"
        push_image user/namegroup:latest --user app:users
        push_image configured:latest --entrypoint '["/bin/sh", "-c"]' --cmd 'echo hi' \
                --env GREETING=hello --workdir /home/app --stop-signal SIGINT --label org.example.team=ocid
        export CONFIGURED_ID="$IMAGE_ID" CONFIGURED_JSON="$IMAGE_JSON"
        pyc_setup
}

teardown_file() {
        stop_registries
        pyc_cleanup
}

setup() {
        start_image_ocid
}

teardown() {
        show_log_on_failure
        stop_ocid
}

pull() {
        run -0 ocic pull "$REGISTRY/$1"
        [[ "$output" == "Image is up to date for sha256:"* ]]
}

layer_count() {
        ls "$ROOT/layers" | wc -l
}

# ---- RemoveImage ----------------------------------------------------------------

@test "RemoveImage by one tag removes the image with all its tags and digests" {
        pull library/busybox:latest
        pull library/busybox:v2
        pull "library/busybox@$BB_DIGEST"
        run -0 ocic images -o json
        check ".images | length == 1"
        check ".images[0].repoTags == [\"$REGISTRY/library/busybox:latest\", \"$REGISTRY/library/busybox:v2\"]"
        check ".images[0].repoDigests == [\"$REGISTRY/library/busybox@$BB_DIGEST\"]"
        run -0 ocic images
        [ "${#lines[@]}" = 3 ]
        [ "$(layer_count)" = 1 ]

        run -0 ocic rmi "$REGISTRY/library/busybox:v2"
        [ "$output" = "Deleted: $REGISTRY/library/busybox:v2" ]
        run -0 ocic images -q
        [ -z "$output" ]
        local name
        for name in "$REGISTRY/library/busybox:latest" "$REGISTRY/library/busybox:v2" \
                "$REGISTRY/library/busybox@$BB_DIGEST" "$BB_ID"; do
                run -1 ocic inspecti "$name"
                [ "$output" = "ocic: no such image '$name'" ]
        done
        store_is_empty
}

@test "RemoveImage by full ID, by bare hex ID and by ID prefix" {
        pull library/busybox:latest
        run -0 ocic rmi "$BB_ID"
        store_is_empty
        pull library/busybox:latest
        run -0 ocic rmi "${BB_ID#sha256:}"
        store_is_empty
        pull library/busybox:latest
        run -0 ocic rmi "${BB_ID:7:12}"
        store_is_empty
}

@test "RemoveImage by repo digest" {
        pull library/busybox:latest
        pull library/busybox:v2
        run -0 ocic rmi "$REGISTRY/library/busybox@$BB_DIGEST"
        store_is_empty
}

@test "RemoveImage of an image that is not there succeeds" {
        run -0 ocic rmi "$REGISTRY/library/busybox:latest"
        run -0 ocic rmi nosuch:latest sha256:0000000000000000000000000000000000000000000000000000000000000000
        pull library/busybox:latest
        run -0 ocic rmi "$REGISTRY/library/busybox:latest"
        run -0 ocic rmi "$REGISTRY/library/busybox:latest"
        run -0 ocic rmi "$BB_ID"
        run -0 pyc call ImageService/RemoveImage "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest\"}}"
        check '.code == "OK"'
        # A malformed name is still an error.
        run -1 pyc call ImageService/RemoveImage '{"image": {"image": "Bad:Name"}}'
        check '.code == "INVALID_ARGUMENT"'
        run -0 ocic version
}

@test "shared layers stay while an image uses them and go with the last one" {
        pull multi:latest
        pull multi4:latest
        local c3 c4
        c3=($(chain_hexes "$REGISTRY/multi:latest"))
        c4=($(chain_hexes "$REGISTRY/multi4:latest"))
        [ "${#c3[@]}" = 3 ] && [ "${#c4[@]}" = 4 ]
        [ "${c3[*]}" = "${c4[*]:0:3}" ]
        [ "$(layer_count)" = 4 ]

        # The 4-layer image goes: its own layer goes, the shared ones stay.
        run -0 ocic rmi "$REGISTRY/multi4:latest"
        [ ! -e "$ROOT/layers/${c4[3]}" ]
        local c
        for c in "${c3[@]}"; do
                [ -d "$ROOT/layers/$c/diff" ]
        done
        [ -f "$ROOT/layers/${c3[1]}/diff/etc/fixture/hello.txt" ]
        run -0 ocic inspecti "$REGISTRY/multi:latest"
        check ".status.id == \"$MULTI_ID\""

        # The other order: the 3-layer image goes first, nothing is removed
        # from under the 4-layer one.
        pull multi4:latest
        run -0 ocic rmi "$REGISTRY/multi:latest"
        [ "$(layer_count)" = 4 ]
        for c in "${c4[@]}"; do
                [ -d "$ROOT/layers/$c/diff" ]
        done
        run -0 ocic rmi "$REGISTRY/multi4:latest"
        store_is_empty

        # Two images with the very same layers (busybox and one that only
        # sets USER): one layer dir, gone with the second image.
        pull library/busybox:latest
        pull user/uid:latest
        [ "$(layer_count)" = 1 ]
        run -0 ocic rmi "$BB_ID"
        [ "$(layer_count)" = 1 ]
        run -0 ocic rmi "$UID_ID"
        store_is_empty
}

@test "rmi -a removes every image; rmi --prune every unused one" {
        pull library/busybox:latest
        pull multi:latest
        pull multi4:latest
        run -0 ocic images -q
        [ "${#lines[@]}" = 3 ]
        run -0 ocic rmi -a
        [ "${#lines[@]}" = 3 ]
        store_is_empty
        pull library/busybox:latest
        pull multi:latest
        run -0 ocic rmi --prune
        store_is_empty
}

# ---- ImageStatus --------------------------------------------------------------------

@test "ImageStatus of a missing image: no image (ocic inspecti: no such image, exit 1)" {
        run -1 ocic inspecti "$REGISTRY/library/busybox:latest"
        [ "$output" = "ocic: no such image '$REGISTRY/library/busybox:latest'" ]
        run -0 pyc call ImageService/ImageStatus "{\"image\": {\"image\": \"$REGISTRY/library/busybox:latest\"}}"
        check '.response.image == null'
        run -1 ocic inspecti sha256:0000000000000000000000000000000000000000000000000000000000000000
        [[ "$output" == *"no such image"* ]]
        # One missing among present ones: the others are shown, exit 1.
        pull library/busybox:latest
        run -1 ocic inspecti "$REGISTRY/library/busybox:latest" nosuch:latest
        [[ "$output" == *"\"id\": \"$BB_ID\""* ]]
        [[ "$output" == *"no such image 'nosuch:latest'"* ]]
}

@test "ImageStatus: uid for USER 1000 and 1000:1000, username for USER app and app:users, neither without USER" {
        pull user/uid:latest
        pull user/uidgid:latest
        pull user/name:latest
        pull user/namegroup:latest
        pull library/busybox:latest
        run -0 ocic inspecti "$REGISTRY/user/uid:latest"
        check '.status.uid.value == "1000" and .status.username == ""'
        check '.info.imageConfig.config.User == "1000"'
        run -0 ocic inspecti "$REGISTRY/user/uidgid:latest"
        check '.status.uid.value == "1000" and .status.username == ""'
        run -0 ocic inspecti "$REGISTRY/user/name:latest"
        check '.status.uid == null and .status.username == "app"'
        run -0 ocic inspecti "$REGISTRY/user/namegroup:latest"
        check '.status.uid == null and .status.username == "app"'
        run -0 ocic inspecti "$REGISTRY/library/busybox:latest"
        check '.status.uid == null and .status.username == ""'
        # The same through ListImages and grpcio.
        run -0 pyc call ImageService/ListImages "{\"filter\": {\"image\": {\"image\": \"$REGISTRY/user/uid:latest\"}}}"
        check '.response.images[0].uid.value == "1000"'
        run -0 pyc call ImageService/ImageStatus "{\"image\": {\"image\": \"$REGISTRY/user/name:latest\"}}"
        check '.response.image.username == "app"'
        check '.response.image | has("uid") | not'
}

@test "ImageStatus verbose info carries the image config, manifest digest and chain IDs" {
        pull configured:latest
        run -0 ocic inspecti "$REGISTRY/configured:latest"
        check ".info.id == \"$CONFIGURED_ID\""
        check ".info.manifestDigest == \"$(jq -r .digest "$CONFIGURED_JSON")\""
        check '.info.chainIDs | length == 1'
        check '.info.imageConfig.config.Entrypoint == ["/bin/sh", "-c"]'
        check '.info.imageConfig.config.Cmd == ["echo", "hi"]'
        check '.info.imageConfig.config.Env | index("GREETING=hello") != null'
        check '.info.imageConfig.config.WorkingDir == "/home/app"'
        check '.info.imageConfig.config.StopSignal == "SIGINT"'
        check '.info.imageConfig.config.Labels["org.example.team"] == "ocid"'
        check ".info.imageConfig.rootfs.diff_ids == $(jq -c '[.layers[].diff_id]' "$CONFIGURED_JSON")"
        # Not verbose: no info.
        run -0 pyc call ImageService/ImageStatus "{\"image\": {\"image\": \"$REGISTRY/configured:latest\"}}"
        check '.response | has("info") | not'
        run -0 pyc call ImageService/ImageStatus "{\"image\": {\"image\": \"$REGISTRY/configured:latest\"}, \"verbose\": true}"
        check '.response.info.info | fromjson | .imageConfig.config.StopSignal == "SIGINT"'
}

@test "pinned_images marks matching images pinned (exact name, pattern, ID)" {
        stop_ocid
        prepare_ocid_dirs
        cat >"$TEST_DIR/conf.d/10-pinned.conf" <<EOF
[ocid.image]
pinned_images = ["$REGISTRY/library/busybox:latest", "$REGISTRY/user/na*", "$MULTI_ID"]
EOF
        start_image_ocid
        pull library/busybox:latest
        pull user/name:latest
        pull user/uid:latest
        pull multi:latest
        run -0 ocic images -o json
        check "[.images[] | select(.pinned) | .id] | sort == $(jq -cn --arg a "$BB_ID" --arg b "$NAME_ID" --arg c "$MULTI_ID" '[$a, $b, $c] | sort')"
        check ".images[] | select(.id == \"$UID_ID\") | .pinned == false"
        run -0 ocic inspecti "$REGISTRY/library/busybox:latest"
        check '.status.pinned == true'
        # The flag works too.
        stop_ocid
        start_image_ocid --pinned-images "$REGISTRY/user/uid:*"
        pull user/uid:latest
        run -0 ocic inspecti "$REGISTRY/user/uid:latest"
        check '.status.pinned == true'
}

# ---- ImageFsInfo ---------------------------------------------------------------------

@test "ImageFsInfo: bytes and inodes of the layer store grow with a pull and shrink with a removal" {
        fsinfo() {
                ocic imagefsinfo | jq -r ".imageFilesystems[0].$1.value"
        }
        run -0 ocic imagefsinfo
        check ".imageFilesystems[0].fsId.mountpoint == \"$ROOT/layers\""
        check '.containerFilesystems | length == 1'
        [ "$(fsinfo usedBytes)" = 0 ] && [ "$(fsinfo inodesUsed)" = 0 ]

        pull library/busybox:latest
        local b1 i1 b2 i2
        b1="$(fsinfo usedBytes)" i1="$(fsinfo inodesUsed)"
        # At least busybox itself; about a hundred entries.
        [ "$b1" -ge "$(stat -c %s /bin/busybox)" ]
        [ "$i1" -ge 100 ]
        pull multi4:latest
        b2="$(fsinfo usedBytes)" i2="$(fsinfo inodesUsed)"
        [ "$b2" -gt "$b1" ] && [ "$i2" -gt "$i1" ]

        run -0 ocic rmi "$REGISTRY/multi4:latest"
        [ "$(fsinfo usedBytes)" = "$b1" ] && [ "$(fsinfo inodesUsed)" = "$i1" ]
        run -0 ocic rmi -a
        [ "$(fsinfo usedBytes)" = 0 ] && [ "$(fsinfo inodesUsed)" = 0 ]
}

# ---- restart ---------------------------------------------------------------------------

@test "images survive a daemon restart" {
        pull library/busybox:latest
        pull library/busybox:v2
        pull multi:latest
        local before layers
        before="$(ocic images -o json | jq -S -c '.images | sort_by(.id)')"
        layers="$(ls "$ROOT/layers")"
        restart_ocid
        [ "$(ocic images -o json | jq -S -c '.images | sort_by(.id)')" = "$before" ]
        [ "$(ls "$ROOT/layers")" = "$layers" ]
        run -0 ocic inspecti "$REGISTRY/multi:latest"
        check ".status.id == \"$MULTI_ID\""
        # Nothing to fetch again.
        local blobs
        blobs="$(ocid_blob_gets multi)"
        pull multi:latest
        [ "$(ocid_blob_gets multi)" = "$blobs" ]
        # And removal still works on what was stored before the restart.
        run -0 ocic rmi -a
        store_is_empty
}

@test "at start, leftovers in ROOT/tmp and unreferenced layer dirs are removed; referenced ones kept" {
        pull multi:latest
        local chains
        chains="$(chain_hexes "$REGISTRY/multi:latest" | sort)"
        stop_ocid_keep_dirs
        # What a crash mid-pull leaves: a half-unpacked layer in tmp/, a
        # stray file, and a layer dir that no image's transaction recorded.
        mkdir -p "$ROOT/tmp/layer-0123-abcdef/diff/etc" "$ROOT/tmp/junk"
        echo partial >"$ROOT/tmp/layer-0123-abcdef/diff/etc/file"
        echo junk >"$ROOT/tmp/blob.partial"
        local orphan=0000000000000000000000000000000000000000000000000000000000000abc
        mkdir -p "$ROOT/layers/$orphan/diff/bin"
        echo x >"$ROOT/layers/$orphan/diff/bin/x"
        start_image_ocid
        [ -z "$(ls -A "$ROOT/tmp")" ]
        [ ! -e "$ROOT/layers/$orphan" ]
        [ "$(ls "$ROOT/layers" | sort)" = "$chains" ]
        run -0 ocic inspecti "$REGISTRY/multi:latest"
        check ".status.id == \"$MULTI_ID\""
        grep -q "removing unreferenced layer $orphan" "$OCID_LOG"
}
