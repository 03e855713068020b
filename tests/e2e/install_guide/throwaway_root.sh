#!/bin/bash
# Run SCRIPT as root in a throw-away root: this machine's own root file system under a
# copy-on-write overlay, in a private mount namespace, so that whatever the script installs,
# creates or deletes stays in WORK/upper and never reaches the real system. /dev is the host's
# (the test's pseudo-terminal is the receiver), /proc and /run are new.
#   unshare --mount --pid --fork --kill-child --propagation private bash throwaway_root.sh WORK SCRIPT
# (the PID namespace ends every process the script started when the script ends).
# The folder of this file goes first on PATH: its systemctl and journalctl stand in for systemd,
# which a chroot does not run.
set -euo pipefail
work=$1
script=$2
shims=$(dirname "$(readlink -f "$0")")
mkdir -p "$work/upper" "$work/overlay-work" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/overlay-work" "$work/root"
mount --rbind /dev "$work/root/dev"
mount -t proc proc "$work/root/proc"
mount -t tmpfs -o mode=0755 tmpfs "$work/root/run"
exec chroot "$work/root" /usr/bin/env -u VIRTUAL_ENV PATH="$shims:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  HOME=/root /bin/bash "$script"
