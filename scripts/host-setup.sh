#!/usr/bin/env bash
# Host preparation a node needs before running containers.
#
# On a cgroup v1 hybrid host where a controller (hugetlb, typically) is
# attached to the cgroup2 hierarchy, crun refuses every container ("cgroups
# in hybrid mode not supported"). Mounting that controller as a v1 hierarchy
# moves it off cgroup2 and fixes it.
set -euo pipefail

unified=/sys/fs/cgroup/unified
if [ -f "$unified/cgroup.controllers" ] && [ -d /sys/fs/cgroup/memory ]; then
        for controller in $(cat "$unified/cgroup.controllers"); do
                dir="/sys/fs/cgroup/$controller"
                if ! mountpoint -q "$dir"; then
                        mkdir -p "$dir"
                        mount -t cgroup -o "$controller" cgroup "$dir"
                        echo "mounted the $controller cgroup controller as v1 at $dir"
                fi
        done
fi
