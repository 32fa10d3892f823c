#!/usr/bin/env bash
# npm run test:rgw: the S3-facing suites against Ceph's radosgw, a throwaway single-node cluster that this
# script installs (Debian packages, when missing), starts on loopback and stops again whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.local/rgw-test
export RGW_PORT="${RGW_PORT:-7490}"
trap 'local/rgw/rgw.sh stop "$dir" >/dev/null 2>&1 || true' EXIT
eval "$(local/rgw/rgw.sh start "$dir")"
export S3_BACKEND=rgw
node --import tsx --test --test-concurrency=1 test/upload.test.ts test/faults.test.ts test/rgw/*.test.ts
