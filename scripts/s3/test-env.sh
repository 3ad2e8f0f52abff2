#!/bin/bash
# Prepare and start the real S3 servers for S3ClientTests; meant to be sourced (e.g. by .ci/run):
#
#   source scripts/s3/test-env.sh      # installs what is missing, starts moto and radosgw,
#                                      # exports DBBACKUP_TEST_MOTO_ENV and DBBACKUP_TEST_RADOSGW_ENV
#   swift test
#
# Idempotent: packages already installed are not reinstalled, and servers still running under
# $DBBACKUP_TEST_STATE (default /tmp/dbbackup-s3-test) are reused. The servers run until stopped
# (kill the PIDs in the env files' S3_SERVER_PID, and the pid files under radosgw/run/).
# Without sourcing, `bash scripts/s3/test-env.sh` prints the export lines.

_dbb_s3_setup() {
    local here state
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    state=${DBBACKUP_TEST_STATE:-/tmp/dbbackup-s3-test}

    "$here/../install-deps.sh" || return 1

    mkdir -p "$state"
    DBBACKUP_TEST_MOTO_ENV=$(python3 "$here/moto_up.py" 0 "$state/moto" | tail -n 1) || return 1
    DBBACKUP_TEST_RADOSGW_ENV=$(bash "$here/radosgw_up.sh" 0 "$state/radosgw" 2>>"$state/radosgw-start.log" | tail -n 1) || return 1
    export DBBACKUP_TEST_MOTO_ENV DBBACKUP_TEST_RADOSGW_ENV
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _dbb_s3_setup || exit 1
    echo "export DBBACKUP_TEST_MOTO_ENV=$DBBACKUP_TEST_MOTO_ENV"
    echo "export DBBACKUP_TEST_RADOSGW_ENV=$DBBACKUP_TEST_RADOSGW_ENV"
else
    _dbb_s3_setup || return 1
fi
