# CNI fixtures shared by interop.bats and daemon.bats: a test plugin whose
# STATUS behaviour comes from its own network configuration, and helpers
# that write configurations atomically (ocid reads the directory on every
# Status call, so a half-written file must never be visible).

# Write the test plugin "ocid-test-status" into dir $1.
#
# Plugin configuration keys it reads (all optional):
#   "statusSleep":  seconds STATUS sleeps before answering
#   "statusError":  STATUS fails with this message (CNI error code 50)
#   "pidfile":      STATUS writes its pid (= its process group) here first
write_test_plugin() {
        local dir="$1"
        mkdir -p "$dir"
        cat >"$dir/ocid-test-status.tmp" <<'PLUGIN'
#!/bin/sh
# ocid test CNI plugin: VERSION and STATUS only.
conf=$(cat)
get() { printf '%s' "$conf" | /usr/bin/jq -r --arg k "$1" '.[$k] // empty'; }
case "$CNI_COMMAND" in
VERSION)
        echo '{"cniVersion":"1.1.0","supportedVersions":["1.1.0"]}'
        ;;
STATUS)
        pidfile=$(get pidfile)
        [ -n "$pidfile" ] && echo $$ >"$pidfile"
        secs=$(get statusSleep)
        [ -n "$secs" ] && sleep "$secs"
        msg=$(get statusError)
        if [ -n "$msg" ]; then
                /usr/bin/jq -cn --arg m "$msg" '{cniVersion:"1.1.0",code:50,msg:$m}'
                exit 1
        fi
        ;;
*)
        /usr/bin/jq -cn --arg c "$CNI_COMMAND" '{cniVersion:"1.1.0",code:4,msg:("unsupported command " + $c)}'
        exit 1
        ;;
esac
exit 0
PLUGIN
        chmod 0755 "$dir/ocid-test-status.tmp"
        mv -f "$dir/ocid-test-status.tmp" "$dir/ocid-test-status"
}

# write_conflist DIR NAME JSON: replace every configuration in DIR with
# NAME.conflist holding JSON, atomically.
write_conflist() {
        local dir="$1" name="$2" json="$3"
        printf '%s\n' "$json" >"$dir/.$name.tmp"
        find "$dir" -maxdepth 1 -type f ! -name ".$name.tmp" -delete
        mv -f "$dir/.$name.tmp" "$dir/$name.conflist"
}

# status_conflist NAME PLUGIN_EXTRA_JSON: a cniVersion 1.1.0 list with the
# test plugin, its configuration extended with the given object.
status_conflist() {
        local name="$1" extra="${2:-{\}}"
        /usr/bin/jq -cn --arg n "$name" --argjson x "$extra" \
                '{cniVersion:"1.1.0",name:$n,plugins:[({type:"ocid-test-status"} + $x)]}'
}

# True when no live process of group $1 is left. Zombies do not count: a
# killed plugin's children are re-parented to this sandbox's init, which
# may take a while to reap them.
pgroup_gone() {
        ! ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
