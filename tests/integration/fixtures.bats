#!/usr/bin/env bats
# Self-test of the image fixtures and registry harness (registry.bash,
# ../fixtures/mkimage.py, ../fixtures/token_server.py): every registry
# variant starts, every kind of image pushes, and what the registry serves
# back (fetched with curl on 127.0.0.1) has the media types and digests
# mkimage.py reported. No ocid involved.

bats_require_minimum_version 1.5.0

load registry

ALL_ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
ALL_ACCEPT+=",application/vnd.docker.distribution.manifest.list.v2+json"
ALL_ACCEPT+=",application/vnd.docker.distribution.manifest.v2+json"

teardown() {
        stop_registries
}

sha256_of() {
        echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

header_of() {           # header_of FILE NAME: a response header's value
        grep -i "^$2:" "$1" | head -n1 | cut -d' ' -f2- | tr -d '\r'
}

# Fetch manifest NAME/REF with ACCEPT; check status, content type and digest
# (of the body and of the Docker-Content-Digest header) against EXPECTED.
# Leaves the body in $M.
check_manifest() {
        local name="$1" ref="$2" accept="$3" media_type="$4" digest="$5"
        M="$BATS_TEST_TMPDIR/manifest.json"
        local h="$BATS_TEST_TMPDIR/headers"
        registry_curl "/v2/$name/manifests/$ref" -H "Accept: $accept" -D "$h" -o "$M"
        [ "$(head -n1 "$h" | cut -d' ' -f2)" = 200 ] || { cat "$h" "$M" >&2; return 1; }
        [ "$(header_of "$h" Content-Type)" = "$media_type" ]
        [ "$(header_of "$h" Docker-Content-Digest)" = "$digest" ]
        [ "$(sha256_of "$M")" = "$digest" ]
        [ "$(jq -r .mediaType "$M")" = "$media_type" ]
}

# Fetch blob NAME/DIGEST; check its digest and size. Leaves it in $B.
check_blob() {
        local name="$1" digest="$2" size="$3"
        B="$BATS_TEST_TMPDIR/blob"
        registry_curl "/v2/$name/blobs/$digest" -o "$B"
        [ "$(sha256_of "$B")" = "$digest" ] || { echo "blob $digest: got $(sha256_of "$B")" >&2; return 1; }
        [ "$(stat -c %s "$B")" = "$size" ]
}

# Uncompress a layer blob by its media type onto stdout.
uncompress() {
        case "$1" in
        *+gzip|*.tar.gzip) gzip -dc "$2" ;;
        *+zstd) zstd -dcq "$2" ;;
        *) cat "$2" ;;
        esac
}

# Walk one image manifest (already in $M): the config blob is the image ID,
# every layer blob matches its digest, and uncompressed its config diff_id.
check_image_manifest() {
        local name="$1" image_id="$2" config_type="$3" layer_type="$4"
        local manifest="$BATS_TEST_TMPDIR/image-manifest.json" config="$BATS_TEST_TMPDIR/config.json"
        cp "$M" "$manifest"
        [ "$(jq -r .config.mediaType "$manifest")" = "$config_type" ]
        [ "$(jq -r .config.digest "$manifest")" = "$image_id" ]
        check_blob "$name" "$image_id" "$(jq -r .config.size "$manifest")"
        cp "$B" "$config"
        local n i digest
        n="$(jq '.layers | length' "$manifest")"
        [ "$n" = "$(jq '.rootfs.diff_ids | length' "$config")" ]
        for ((i = 0; i < n; i++)); do
                [ "$(jq -r ".layers[$i].mediaType" "$manifest")" = "$layer_type" ]
                digest="$(jq -r ".layers[$i].digest" "$manifest")"
                check_blob "$name" "$digest" "$(jq -r ".layers[$i].size" "$manifest")"
                [ "sha256:$(uncompress "$layer_type" "$B" | sha256sum | cut -d' ' -f1)" = \
                  "$(jq -r ".rootfs.diff_ids[$i]" "$config")" ]
        done
}

# The merged file system of an OCI layout written by mkimage.py --output:
# layers applied in order with whiteouts and opaque directories, one line
# per path: "path type mode uid:gid [link target]".
merged_rootfs() {
        "$REGISTRY_PYTHON" - "$1" <<'EOF'
import json, os, sys, tarfile
root = sys.argv[1]
blob = lambda d: os.path.join(root, "blobs", "sha256", d.split(":")[1])
index = json.load(open(os.path.join(root, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
fs = {}
for layer in manifest["layers"]:
    members = tarfile.open(blob(layer["digest"])).getmembers()
    for m in members:
        d, base = os.path.split(m.name)
        if base == ".wh..wh..opq":
            for p in [p for p in fs if p.startswith(d + "/")]:
                del fs[p]
        elif base.startswith(".wh."):
            gone = os.path.join(d, base[4:])
            for p in [p for p in fs if p == gone or p.startswith(gone + "/")]:
                del fs[p]
    for m in members:
        if not os.path.basename(m.name).startswith(".wh."):
            link = " -> " + m.linkname if m.issym() else " => " + m.linkname if m.islnk() else ""
            fs[m.name] = f"{m.name} {m.type.decode()} {m.mode:o} {m.uid}:{m.gid}{link}"
print("\n".join(fs[p] for p in sorted(fs)))
EOF
}

@test "plain registry: docker schema 2 image, manifest and blobs as pushed" {
        start_registry
        [ "$REGISTRY_AUTH" = none ] && [ -z "$REGISTRY_CA" ] && [[ "$REGISTRY" == 127.0.0.1:* ]]
        kill -0 "$REGISTRY_PID"
        push_image busybox:latest
        [ "$IMAGE_REF" = "$REGISTRY/busybox:latest" ]
        [ "$IMAGE_MEDIA_TYPE" = application/vnd.docker.distribution.manifest.v2+json ]
        check_manifest busybox latest "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_image_manifest busybox "$IMAGE_ID" application/vnd.docker.container.image.v1+json \
                application/vnd.docker.image.rootfs.diff.tar.gzip
        # The same manifest by digest, and through plain curl as the brief says.
        check_manifest busybox "$IMAGE_DIGEST" "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        [ "$(curl -s -H "Accept: $IMAGE_MEDIA_TYPE" "http://$REGISTRY/v2/busybox/manifests/latest" |
             sha256sum | cut -d' ' -f1)" = "${IMAGE_DIGEST#sha256:}" ]
        # The base layer holds busybox itself and the users.
        registry_curl "/v2/busybox/blobs/$(jq -r '.layers[0].digest' "$IMAGE_JSON")" |
                tar -tvzf - >"$BATS_TEST_TMPDIR/list"
        grep -q ' bin/busybox$' "$BATS_TEST_TMPDIR/list"
        grep -q ' bin/sh -> busybox$' "$BATS_TEST_TMPDIR/list"
        grep -q ' bin/ls -> busybox$' "$BATS_TEST_TMPDIR/list"
        grep -q '^drwxrwxrwt .* tmp/$' "$BATS_TEST_TMPDIR/list"
        registry_curl "/v2/busybox/blobs/$(jq -r '.layers[0].digest' "$IMAGE_JSON")" |
                tar -xzOf - etc/passwd | grep -qx 'app:x:1000:1000:app:/home/app:/bin/sh'
}

@test "OCI images with gzip, zstd and uncompressed layers, 4 layers each" {
        start_registry
        local c type
        for c in gzip zstd none; do
                push_image "oci:$c" --format oci --compression "$c" --layers 4
                [ "$IMAGE_MEDIA_TYPE" = application/vnd.oci.image.manifest.v1+json ]
                check_manifest oci "$c" "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
                [ "$(jq '.layers | length' "$M")" = 4 ]
                case "$c" in
                gzip) type=application/vnd.oci.image.layer.v1.tar+gzip ;;
                zstd) type=application/vnd.oci.image.layer.v1.tar+zstd ;;
                none) type=application/vnd.oci.image.layer.v1.tar ;;
                esac
                check_image_manifest oci "$IMAGE_ID" application/vnd.oci.image.config.v1+json "$type"
        done
        # The config names the uncompressed layers (diff_ids) only, so the
        # image ID does not depend on the compression.
        [ "$(jq -r .image_id "$REGISTRY_DIR"/push.*.json | sort -u | wc -l)" = 1 ]
}

@test "layers carry a hard link, a whiteout and an opaque directory" {
        start_registry
        push_image layered:1 --format oci --layers 3
        local d=() i
        for i in 0 1 2; do
                d[i]="$(jq -r ".layers[$i].digest" "$IMAGE_JSON")"
        done
        registry_curl "/v2/layered/blobs/${d[1]}" | tar -tvzf - >"$BATS_TEST_TMPDIR/l1"
        grep -q '^hrw-r--r-- .* etc/fixture/hello.hardlink link to etc/fixture/hello.txt$' "$BATS_TEST_TMPDIR/l1"
        grep -q '^-rw-r----- 1000/1000 .* home/app/owned.txt$' "$BATS_TEST_TMPDIR/l1"
        grep -q ' etc/fixture/doomed.txt$' "$BATS_TEST_TMPDIR/l1"
        registry_curl "/v2/layered/blobs/${d[2]}" | tar -tzf - >"$BATS_TEST_TMPDIR/l2"
        grep -qx 'etc/fixture/.wh.doomed.txt' "$BATS_TEST_TMPDIR/l2"
        grep -qx 'etc/fixture/opaque/.wh..wh..opq' "$BATS_TEST_TMPDIR/l2"
        grep -qx 'etc/fixture/opaque/new.txt' "$BATS_TEST_TMPDIR/l2"
}

@test "the merged file system is the same for 1, 2, 3 and 5 layers" {
        local n
        for n in 1 2 3 5; do
                "$REGISTRY_PYTHON" "$MKIMAGE" --output "$BATS_TEST_TMPDIR/layout$n" --format oci --layers "$n" x:y >/dev/null
                merged_rootfs "$BATS_TEST_TMPDIR/layout$n" | grep -v '^etc/fixture/layers' >"$BATS_TEST_TMPDIR/fs$n"
        done
        diff "$BATS_TEST_TMPDIR/fs1" "$BATS_TEST_TMPDIR/fs2"
        diff "$BATS_TEST_TMPDIR/fs1" "$BATS_TEST_TMPDIR/fs3"
        diff "$BATS_TEST_TMPDIR/fs1" "$BATS_TEST_TMPDIR/fs5"
        local fs="$BATS_TEST_TMPDIR/fs1"
        grep -qx 'etc/fixture/opaque/new.txt 0 644 0:0' "$fs"
        ! grep -q 'doomed\|old.txt\|old2.txt\|\.wh\.' "$fs"
        grep -qx 'etc/fixture/hello.hardlink 1 644 0:0 => etc/fixture/hello.txt' "$fs"
        grep -qx 'tmp 5 1777 0:0' "$fs"
        grep -qx 'root 5 700 0:0' "$fs"
        grep -qx 'home/app 5 755 1000:1000' "$fs"
        grep -qx 'bin/busybox 0 755 0:0' "$fs"
        merged_rootfs "$BATS_TEST_TMPDIR/layout5" | grep -qx 'etc/fixture/layers/5 0 644 0:0'
}

@test "digests are the same on every run" {
        start_registry
        push_image det:a --format oci --layers 3 --compression zstd --env A=1
        local first="$IMAGE_DIGEST" first_id="$IMAGE_ID"
        push_image det:b --format oci --layers 3 --compression zstd --env A=1
        [ "$IMAGE_DIGEST" = "$first" ] && [ "$IMAGE_ID" = "$first_id" ]
        push_image det:c --format oci --layers 3 --compression zstd --env A=2
        [ "$IMAGE_DIGEST" != "$first" ]
        "$REGISTRY_PYTHON" "$MKIMAGE" --output "$BATS_TEST_TMPDIR/l1" --layers 2 x:y >"$BATS_TEST_TMPDIR/1.json"
        "$REGISTRY_PYTHON" "$MKIMAGE" --output "$BATS_TEST_TMPDIR/l2" --layers 2 x:y >"$BATS_TEST_TMPDIR/2.json"
        [ "$(jq -r .digest "$BATS_TEST_TMPDIR/1.json")" = "$(jq -r .digest "$BATS_TEST_TMPDIR/2.json")" ]
        diff -r "$BATS_TEST_TMPDIR/l1" "$BATS_TEST_TMPDIR/l2"
}

@test "config options land in the image config" {
        start_registry
        push_image conf:1 --format oci --user app --entrypoint '["/bin/sh","-c"]' --cmd 'echo "hi there"' \
                --env FOO=bar --env PATH=/bin --workdir /home/app --stop-signal SIGUSR1 \
                --label org.example.a=1 --label b=two --platform linux/arm64/v8
        check_manifest conf 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_blob conf "$IMAGE_ID" "$(jq -r .config.size "$M")"
        local c="$B"
        jq -e '.config.User == "app"' "$c"
        jq -e '.config.Entrypoint == ["/bin/sh", "-c"]' "$c"
        jq -e '.config.Cmd == ["echo", "hi there"]' "$c"
        jq -e '.config.Env == ["PATH=/bin", "FOO=bar"]' "$c"
        jq -e '.config.WorkingDir == "/home/app" and .config.StopSignal == "SIGUSR1"' "$c"
        jq -e '.config.Labels == {"org.example.a": "1", "b": "two"}' "$c"
        jq -e '.architecture == "arm64" and .variant == "v8" and .os == "linux"' "$c"
        # The defaults.
        push_image conf:2 --user 1000:1000
        check_manifest conf 2 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_blob conf "$IMAGE_ID" "$(jq -r .config.size "$M")"
        jq -e '.config.User == "1000:1000" and .config.Cmd == ["/bin/sh"] and (.config | has("Entrypoint") | not)' "$B"
        jq -e '.architecture == "amd64" and (has("variant") | not)' "$B"
}

@test "OCI index and Docker manifest list with three platforms" {
        start_registry
        local fmt list_type image_type i plat arch
        for fmt in oci docker; do
                if [ "$fmt" = oci ]; then
                        list_type=application/vnd.oci.image.index.v1+json
                        image_type=application/vnd.oci.image.manifest.v1+json
                else
                        list_type=application/vnd.docker.distribution.manifest.list.v2+json
                        image_type=application/vnd.docker.distribution.manifest.v2+json
                fi
                push_image "multi:$fmt" --index --format "$fmt" --layers 2
                [ "$IMAGE_MEDIA_TYPE" = "$list_type" ]
                check_manifest multi "$fmt" "$ALL_ACCEPT" "$list_type" "$IMAGE_DIGEST"
                local index="$BATS_TEST_TMPDIR/index.json"
                cp "$M" "$index"
                jq -e '[.manifests[].platform | [.os, .architecture, .variant // ""] | join("/")]
                       == ["linux/amd64/", "linux/arm64/v8", "linux/s390x/"]' "$index"
                # The amd64 entry's config is the reported image ID.
                [ "$(jq -r '.manifests[0].image_id' "$IMAGE_JSON")" = "$IMAGE_ID" ]
                for i in 0 1 2; do
                        check_manifest multi "$(jq -r ".manifests[$i].digest" "$index")" "$ALL_ACCEPT" \
                                "$image_type" "$(jq -r ".manifests[$i].digest" "$index")"
                        [ "$(stat -c %s "$M")" = "$(jq -r ".manifests[$i].size" "$index")" ]
                        check_image_manifest multi "$(jq -r ".manifests[$i].image_id" "$IMAGE_JSON")" \
                                "$(jq -r .config.mediaType "$M")" "$(jq -r '.layers[0].mediaType' "$M")"
                        arch="$(jq -r ".manifests[$i].platform.architecture" "$index")"
                        jq -e --arg a "$arch" '.architecture == $a' "$BATS_TEST_TMPDIR/config.json"
                done
        done
        # A chosen set of platforms, none of them amd64.
        push_image multi:foreign --index --format oci --platform linux/arm64/v8,linux/ppc64le
        check_manifest multi foreign "$ALL_ACCEPT" application/vnd.oci.image.index.v1+json "$IMAGE_DIGEST"
        jq -e '[.manifests[].platform.architecture] == ["arm64", "ppc64le"]' "$M"
}

@test "mkimage.py refuses what the formats cannot express" {
        start_registry
        run -1 push_image bad:1 --format docker --compression zstd
        [[ "$output" == *"Docker schema 2 has no zstd"* ]]
        run -2 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" --platform linux/amd64,linux/s390x x:y
        [[ "$output" == *"several platforms need --index"* ]]
        run -2 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" --schema1 --format oci x:y
        run -2 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" --layers 0 x:y
}

@test "--big adds a layer of random data; --add adds host files" {
        start_registry
        printf '#!/bin/sh\necho added\n' >"$BATS_TEST_TMPDIR/tool"
        push_image big:1 --format oci --big 20 --add "$BATS_TEST_TMPDIR/tool:/usr/bin/tool:0755"
        check_manifest big 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        [ "$(jq '.layers | length' "$M")" = 3 ]
        jq -e '.layers[2].size > 20 * 1024 * 1024' "$M"
        check_image_manifest big "$IMAGE_ID" application/vnd.oci.image.config.v1+json \
                application/vnd.oci.image.layer.v1.tar+gzip
        registry_curl "/v2/big/blobs/$(jq -r '.layers[1].digest' "$M")" | tar -tvzf - | grep -q '^-rwxr-xr-x .* usr/bin/tool$'
        registry_curl "/v2/big/blobs/$(jq -r '.layers[2].digest' "$M")" | tar -tvzf - |
                grep -q "^-rw-r--r-- .* $((20 << 20)) .* big/random.bin$"
}

@test "htpasswd registry: basic auth required, push and pull with credentials" {
        start_registry --htpasswd alice:s3cret
        [ "$REGISTRY_AUTH" = basic ] && [ "$REGISTRY_USER" = alice ] && [ "$REGISTRY_PASS" = s3cret ]
        grep -q '^alice:\$2y\$' "$REGISTRY_DIR/htpasswd"
        push_image secret:1 --format oci --layers 2
        check_manifest secret 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_image_manifest secret "$IMAGE_ID" application/vnd.oci.image.config.v1+json \
                application/vnd.oci.image.layer.v1.tar+gzip
        local url="http://$REGISTRY/v2/secret/manifests/1"
        run curl -s -o /dev/null -w '%{http_code}' -H "Accept: $IMAGE_MEDIA_TYPE" "$url"
        [ "$output" = 401 ]
        run curl -s -D - -o /dev/null "$url"
        [[ "$output" == *'Www-Authenticate: Basic realm="ocid-test-registry"'* ]]
        run curl -s -o /dev/null -w '%{http_code}' -u alice:wrong "$url"
        [ "$output" = 401 ]
        # mkimage.py without credentials is refused.
        run -1 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" other:1
        [[ "$output" == *"--creds"* ]]
        run -1 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" --creds alice:wrong other:1
}

@test "TLS registry: served with the test CA only; certs.d layout" {
        start_registry --tls
        [ "$REGISTRY_SCHEME" = https ] && [ -f "$REGISTRY_CA" ]
        [[ "$REGISTRY_URL" == https://127.0.0.1:* ]]
        openssl verify -CAfile "$REGISTRY_CA" "$REGISTRY_DIR/server.crt"
        push_image tls:1 --format docker --layers 3
        check_manifest tls 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_image_manifest tls "$IMAGE_ID" application/vnd.docker.container.image.v1+json \
                application/vnd.docker.image.rootfs.diff.tar.gzip
        # Unknown CA: curl error 60. Plain HTTP to the TLS port: 400.
        run -60 curl -s "https://$REGISTRY/v2/"
        run curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
        [ "$output" = 400 ]
        # The name localhost is in the certificate too.
        curl -sf --cacert "$REGISTRY_CA" "https://localhost:${REGISTRY#*:}/v2/" >/dev/null
        install_registry_ca "$BATS_TEST_TMPDIR/certs.d"
        cmp "$REGISTRY_CA" "$BATS_TEST_TMPDIR/certs.d/$REGISTRY/ca.crt"
        # mkimage.py without the CA is refused.
        run -1 "$REGISTRY_PYTHON" "$MKIMAGE" --registry "$REGISTRY" --scheme https other:1
}

@test "TLS + htpasswd registry" {
        start_registry --tls --htpasswd bob:pw
        push_image both:1 --format oci --compression zstd
        check_manifest both 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_image_manifest both "$IMAGE_ID" application/vnd.oci.image.config.v1+json \
                application/vnd.oci.image.layer.v1.tar+zstd
        run curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" "$REGISTRY_URL/v2/"
        [ "$output" = 401 ]
}

# A JWT signed by a key the registry does not trust (same claims otherwise).
forged_token() {
        local key="$BATS_TEST_TMPDIR/rogue.key" crt="$BATS_TEST_TMPDIR/rogue.crt"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$key" -out "$crt" -days 1 \
                -subj "/CN=ocid-test-token-issuer" 2>/dev/null
        local b64url='base64 -w0 | tr "+/" "-_" | tr -d "="'
        local x5c header claims now input
        x5c="$(openssl x509 -in "$crt" -outform DER | base64 -w0)"
        now="$(date +%s)"
        header="$(printf '{"typ":"JWT","alg":"RS256","x5c":["%s"]}' "$x5c" | eval "$b64url")"
        claims="$(printf '{"iss":"ocid-test-token-issuer","sub":"x","aud":"%s","exp":%d,"nbf":%d,"iat":%d,"jti":"j","access":[{"type":"repository","name":"%s","actions":["pull"]}]}' \
                "$TOKEN_SERVICE" $((now + 300)) $((now - 10)) "$now" "$1" | eval "$b64url")"
        input="$header.$claims"
        echo "$input.$(printf '%s' "$input" | openssl dgst -sha256 -sign "$key" | eval "$b64url")"
}

@test "token registry: real docker-registry token auth with RS256 JWTs" {
        start_registry --token carol:pw
        [ "$REGISTRY_AUTH" = token ] && kill -0 "$TOKEN_SERVER_PID"
        [[ "$TOKEN_REALM" == http://127.0.0.1:*/token ]]
        grep -q '^  token:' "$REGISTRY_DIR/config.yml"
        push_image tok:1 --format oci --layers 2
        check_manifest tok 1 "$IMAGE_MEDIA_TYPE" "$IMAGE_MEDIA_TYPE" "$IMAGE_DIGEST"
        check_image_manifest tok "$IMAGE_ID" application/vnd.oci.image.config.v1+json \
                application/vnd.oci.image.layer.v1.tar+gzip
        # The challenge names the realm, the service and the scope.
        run curl -s -D - -o /dev/null "http://$REGISTRY/v2/tok/manifests/1"
        [[ "$output" == *"HTTP/1.1 401"* ]]
        [[ "$output" == *"Www-Authenticate: Bearer realm=\"$TOKEN_REALM\",service=\"$TOKEN_SERVICE\",scope=\"repository:tok:pull\""* ]]
        # The token server wants valid credentials.
        run curl -s -o /dev/null -w '%{http_code}' "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=repository:tok:pull"
        [ "$output" = 401 ]
        run curl -s -o /dev/null -w '%{http_code}' -u carol:nope "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=repository:tok:pull"
        [ "$output" = 401 ]
        # OAuth2 form (POST) too.
        run curl -s -d grant_type=password -d username=carol -d password=pw -d "service=$TOKEN_SERVICE" \
                -d scope=repository:tok:pull "$TOKEN_REALM"
        jq -e '.access_token | length > 100' <<<"$output"
        # A pull token cannot push; a token for another repository cannot pull.
        local pull
        pull="$(registry_token repository:tok:pull)"
        run curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $pull" \
                "http://$REGISTRY/v2/tok/blobs/uploads/"
        [ "$output" = 401 ]
        run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(registry_token repository:other:pull)" \
                -H "Accept: $IMAGE_MEDIA_TYPE" "http://$REGISTRY/v2/tok/manifests/1"
        [ "$output" = 401 ]
        # The registry checks the signature: a token from another key is refused.
        run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(forged_token tok)" \
                -H "Accept: $IMAGE_MEDIA_TYPE" "http://$REGISTRY/v2/tok/manifests/1"
        [ "$output" = 401 ]
        grep -q 'unable to verify certificate signature\|x509\|token signature' "$REGISTRY_LOG"
        # The token log shows who asked for what.
        jq -se 'map(select(.status == 200 and .user == "carol"
                           and .scopes == ["repository:tok:pull,push"])) | length == 1' "$TOKEN_LOG"
}

@test "token registry over TLS, and anonymous pull tokens" {
        start_registry --token dave:pw --tls
        [[ "$TOKEN_REALM" == https://127.0.0.1:*/token ]]
        push_image tok:1 --index --format docker
        check_manifest tok 1 "$ALL_ACCEPT" application/vnd.docker.distribution.manifest.list.v2+json "$IMAGE_DIGEST"
        stop_registry

        start_registry --token erin:pw --anonymous-pull
        push_image pub:1
        local anon
        anon="$(curl -sf "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=repository:pub:pull,push" | jq -r .token)"
        [ "$(curl -s -H "Authorization: Bearer $anon" -H "Accept: $IMAGE_MEDIA_TYPE" \
                "http://$REGISTRY/v2/pub/manifests/1" | sha256sum | cut -d' ' -f1)" = "${IMAGE_DIGEST#sha256:}" ]
        run curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $anon" \
                "http://$REGISTRY/v2/pub/blobs/uploads/"
        [ "$output" = 401 ]
        jq -se 'map(select(.user == null)) | .[0].granted == [{"type": "repository", "name": "pub", "actions": ["pull"]}]' "$TOKEN_LOG"
}

@test "schema 1: refused by default, accepted signed with --schema1" {
        start_registry
        run -1 push_image old:1 --schema1
        [[ "$output" == *"HTTP 500"* ]]
        grep -q 'manifest schema v1 unsupported' "$REGISTRY_LOG"
        stop_registry

        start_registry --schema1
        push_image old:1 --schema1
        [ "$IMAGE_MEDIA_TYPE" = application/vnd.docker.distribution.manifest.v1+prettyjws ]
        [ -z "$IMAGE_ID" ]
        local h="$BATS_TEST_TMPDIR/h" m="$BATS_TEST_TMPDIR/m"
        registry_curl /v2/old/manifests/1 -H "Accept: $IMAGE_MEDIA_TYPE" -D "$h" -o "$m"
        [ "$(header_of "$h" Content-Type)" = "$IMAGE_MEDIA_TYPE" ]
        [ "$(header_of "$h" Docker-Content-Digest)" = "$IMAGE_DIGEST" ]
        jq -e '.schemaVersion == 1 and (.fsLayers | length) == 1 and (.signatures | length) == 1' "$m"
        check_blob old "$(jq -r '.fsLayers[0].blobSum' "$m")" "$(jq -r '.layers[0].size' "$IMAGE_JSON")"
        # Unsigned schema 1 is refused even then.
        run -1 push_image old:2 --schema1-unsigned
        [[ "$output" == *"MANIFEST_INVALID"* ]]
        # A client that accepts nothing newer gets a schema 2 image converted
        # to schema 1, a different digest (docker-registry 2.8 converts on
        # GET whether or not schema 1 is enabled).
        push_image new:1
        registry_curl /v2/new/manifests/1 -D "$h" -o "$m"
        [ "$(header_of "$h" Content-Type)" = application/vnd.docker.distribution.manifest.v1+prettyjws ]
        [ "$(header_of "$h" Docker-Content-Digest)" != "$IMAGE_DIGEST" ]
}

@test "two registries at once; stop_registry kills by PID and removes the dir" {
        start_registry
        local first="$REGISTRY" first_dir="$REGISTRY_DIR" first_pid="$REGISTRY_PID"
        push_image one:1
        start_registry --token u:p
        local token_pid="$TOKEN_SERVER_PID"
        [ "$REGISTRY" != "$first" ]
        push_image two:1
        run curl -s -o /dev/null -w '%{http_code}' "http://$first/v2/one/tags/list"
        [ "$output" = 200 ]
        stop_registry "$first_dir"
        ! kill -0 "$first_pid" 2>/dev/null
        [ ! -e "$first_dir" ]
        run curl -s -o /dev/null -w '%{http_code}' "http://$first/v2/"
        [ "$output" = 000 ]
        # The second one still serves.
        registry_curl /v2/two/tags/list | jq -e '.tags == ["1"]'
        local dir="$REGISTRY_DIR" pid="$REGISTRY_PID"
        stop_registry
        ! kill -0 "$pid" 2>/dev/null
        ! kill -0 "$token_pid" 2>/dev/null
        [ ! -e "$dir" ] && [ -z "$REGISTRY" ]
        [ -z "$(echo $REGISTRY_DIRS)" ]
}
