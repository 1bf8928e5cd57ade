#!/usr/bin/env bats
# Pulling from registries that want credentials or TLS: htpasswd (basic),
# bearer tokens (the real docker-registry with tests/fixtures/token_server.py
# as the realm), HTTPS with a test CA in certs.d. Every test starts its own
# registry and ocid.

bats_require_minimum_version 1.5.0

load helpers
load registry
load image/lib

USER_PASS="tester:s3cret-pass"

setup_file() {
        pyc_setup
}

teardown_file() {
        pyc_cleanup
}

teardown() {
        show_log_on_failure
        stop_ocid
        stop_registries
}

# The JSON of a PullImage request for $1 with AuthConfig fields $2 (JSON).
pull_request() {
        jq -cn --arg image "$1" --argjson auth "${2:-null}" \
                '{image: {image: $image}} + (if $auth then {auth: $auth} else {} end)'
}

# ---- htpasswd (basic auth) ---------------------------------------------------

@test "htpasswd: without credentials the pull fails with a clear permission error" {
        start_registry --htpasswd "$USER_PASS"
        push_image busybox:latest
        start_image_ocid
        run -1 ocic pull "$IMAGE_REF"
        [[ "$output" == *"'$IMAGE_REF'"* ]]
        [[ "$output" == *"authentication required"* ]]
        [[ "$output" == *"no credentials given"* ]]
        run -1 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF")"
        check '.code == "PERMISSION_DENIED"'
        store_is_empty
}

@test "htpasswd: --creds USER:PASS pulls" {
        start_registry --htpasswd "$USER_PASS"
        push_image busybox:latest
        start_image_ocid
        run -0 ocic pull --creds "$USER_PASS" "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
        run -0 ocic images -o json
        check ".images[0].repoTags == [\"$IMAGE_REF\"]"
        # The registry authorized ocid's requests.
        grep -q 'msg="authorized request".*uri="*/v2/busybox/blobs/.*useragent=ocid/' "$REGISTRY_LOG"
}

@test "htpasswd: --auth BASE64(USER:PASS) pulls" {
        start_registry --htpasswd "$USER_PASS"
        push_image busybox:latest
        start_image_ocid
        run -0 ocic pull --auth "$(printf '%s' "$USER_PASS" | base64 -w0)" "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
        run -0 ocic images -q
        [ "$output" = "$IMAGE_ID" ]
}

@test "htpasswd: a wrong password or an unknown user fails with the registry's answer, nothing stored" {
        start_registry --htpasswd "$USER_PASS"
        push_image busybox:latest
        start_image_ocid
        run -1 ocic pull --creds tester:wrong "$IMAGE_REF"
        [[ "$output" == *"HTTP 401"* ]]
        [[ "$output" == *"authentication required"* ]]
        run -1 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF" '{"username": "nobody", "password": "x"}')"
        check '.code == "PERMISSION_DENIED"'
        check '.details | contains("HTTP 401")'
        run -1 ocic pull --auth "$(printf 'tester:wrong' | base64 -w0)" "$IMAGE_REF"
        store_is_empty
        # The right ones still work afterwards.
        run -0 ocic pull --creds "$USER_PASS" "$IMAGE_REF"
}

@test "python: AuthConfig username/password and auth pull from the htpasswd registry" {
        start_registry --htpasswd "$USER_PASS"
        push_image busybox:latest
        start_image_ocid
        run -0 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF" '{"username": "tester", "password": "s3cret-pass"}')"
        check ".response.imageRef == \"$IMAGE_ID\""
        run -0 ocic rmi -a
        run -0 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF" "{\"auth\": \"$(printf '%s' "$USER_PASS" | base64 -w0)\"}")"
        check ".response.imageRef == \"$IMAGE_ID\""
}

# ---- bearer tokens -------------------------------------------------------------

@test "token registry: with credentials the pull gets a pull token and succeeds" {
        start_registry --token "$USER_PASS"
        push_image library/busybox:latest
        start_image_ocid
        run -0 ocic pull --creds "$USER_PASS" "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
        run -0 ocic images -o json
        check ".images[0].repoTags == [\"$IMAGE_REF\"]"
        # ocid asked the realm for a pull token for this repository, as tester.
        jq -e -s 'map(select(.user == "tester" and .status == 200
                             and (.scopes | index("repository:library/busybox:pull"))))
                  | length >= 1' "$TOKEN_LOG"
}

@test "token registry: without credentials or with a wrong password the pull fails, nothing stored" {
        start_registry --token "$USER_PASS"
        push_image library/busybox:latest
        start_image_ocid
        run -1 ocic pull "$IMAGE_REF"
        [[ "$output" == *"token request refused (HTTP 401)"* ]]
        [[ "$output" == *"credentials may be needed"* ]]
        run -1 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF")"
        check '.code == "PERMISSION_DENIED"'
        run -1 ocic pull --creds tester:wrong "$IMAGE_REF"
        [[ "$output" == *"token request refused (HTTP 401)"* ]]
        store_is_empty
}

@test "token registry with --anonymous-pull: no credentials needed" {
        start_registry --token "$USER_PASS" --anonymous-pull
        push_image library/busybox:latest
        start_image_ocid
        run -0 ocic pull "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
        jq -e -s 'map(select(.user == null and .status == 200)) | length >= 1' "$TOKEN_LOG"
}

@test "python: AuthConfig registry_token and identity_token against the token registry" {
        start_registry --token "$USER_PASS"
        push_image library/busybox:latest
        start_image_ocid
        # A registry token (bearer, used as is).
        local token
        token="$(registry_token repository:library/busybox:pull)"
        [ -n "$token" ] && [ "$token" != null ]
        run -0 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF" "{\"registryToken\": \"$token\"}")"
        check ".response.imageRef == \"$IMAGE_ID\""
        run -0 ocic rmi -a
        # An identity token: an OAuth2 refresh token (the token server's are
        # "refresh-USER"), exchanged at the realm with a POST.
        run -0 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF" '{"identityToken": "refresh-tester"}')"
        check ".response.imageRef == \"$IMAGE_ID\""
        jq -e -s 'map(select(.method == "POST" and .user == "tester" and .status == 200)) | length >= 1' "$TOKEN_LOG"
}

# ---- TLS ---------------------------------------------------------------------------

@test "TLS: with the registry's CA in certs.d/HOST:PORT/ca.crt the pull works over HTTPS" {
        start_registry --tls
        push_image busybox:latest
        write_registries_conf ""
        start_image_ocid
        install_registry_ca "$CERTS_DIR"
        [ -f "$CERTS_DIR/$REGISTRY/ca.crt" ]
        run -0 ocic pull "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
        run -0 ocic images -q
        [ "$output" = "$IMAGE_ID" ]
}

@test "TLS: a registry requiring client certificates gets certs.d's client.cert and client.key" {
        start_registry --tls --client-certs
        push_image busybox:latest
        write_registries_conf ""
        start_image_ocid
        install_registry_ca "$CERTS_DIR"
        # The CA alone: the registry refuses the handshake, nothing stored.
        run ocic pull "$IMAGE_REF"
        [ "$status" -ne 0 ]
        [ -z "$(ocic images -q)" ]
        cp "$REGISTRY_CLIENT_CERT" "$CERTS_DIR/$REGISTRY/client.cert"
        cp "$REGISTRY_CLIENT_KEY" "$CERTS_DIR/$REGISTRY/client.key"
        run -0 ocic pull "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
}

@test "TLS: without the CA the pull fails with a certificate error, nothing stored" {
        start_registry --tls
        push_image busybox:latest
        write_registries_conf ""
        start_image_ocid
        run -1 ocic pull "$IMAGE_REF"
        [[ "$output" == *"'$IMAGE_REF'"* ]]
        [[ "${output,,}" == *certificate* ]]
        run -1 pyc call ImageService/PullImage "$(pull_request "$IMAGE_REF")"
        check '.code == "UNAVAILABLE"'
        store_is_empty
        # The CA of another registry does not help.
        mkdir -p "$CERTS_DIR/$REGISTRY"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$BATS_TEST_TMPDIR/other.key" -out "$CERTS_DIR/$REGISTRY/ca.crt" \
                -days 1 -subj "/CN=another CA" 2>/dev/null
        run -1 ocic pull "$IMAGE_REF"
        [[ "${output,,}" == *certificate* ]]
        store_is_empty
}

@test "TLS: a registry marked insecure is spoken to in plain HTTP, which a TLS port refuses" {
        start_registry --tls
        push_image busybox:latest
        write_registries_conf
        start_image_ocid
        install_registry_ca "$CERTS_DIR"
        run -1 ocic pull "$IMAGE_REF"
        [[ "$output" == *"http://$REGISTRY/"* ]]
        store_is_empty
}

@test "TLS + htpasswd and TLS + token: credentials over HTTPS" {
        start_registry --tls --htpasswd "$USER_PASS"
        push_image busybox:latest
        local basic_ref="$IMAGE_REF" basic_id="$IMAGE_ID"
        write_registries_conf ""
        start_image_ocid
        install_registry_ca "$CERTS_DIR"
        run -1 ocic pull "$basic_ref"
        run -0 ocic pull --creds "$USER_PASS" "$basic_ref"
        [ "$output" = "Image is up to date for $basic_id" ]

        # The token server shares the registry's CA (and host), so one
        # certs.d entry for the registry covers the realm too.
        start_registry --tls --token "$USER_PASS"
        push_image library/busybox:latest
        install_registry_ca "$CERTS_DIR"
        [[ "$TOKEN_REALM" == https://127.0.0.1:* ]]
        run -0 ocic pull --creds "$USER_PASS" "$IMAGE_REF"
        [ "$output" = "Image is up to date for $IMAGE_ID" ]
}
