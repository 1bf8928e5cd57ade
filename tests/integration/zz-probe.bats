#!/usr/bin/env bats
load helpers
load registry
load container/lib
setup_file() { ctr_file_setup; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod probe; }
teardown() { ctr_test_teardown; }

@test "probe" {
        run_ctr p1 '.linux.security_context.run_as_user = {value: 1000}'
        exec_sync $CTR_ID 5 /bin/sh -c 'ls -la /etc/fixture /etc; cat /etc/fixture/base.txt; cat /etc/fixture/hello.txt; cat /etc/fixture/hello.hardlink; cat /etc/passwd' > /dev/null
        echo "$EXEC_OUT $EXEC_ERR" >&3
        getfattr -d -m - $TEST_DIR/root/layers/*/diff/etc/fixture/* >&3 2>&1
        stat $TEST_DIR/root/layers/*/diff/etc/fixture/hello.txt >&3
}
