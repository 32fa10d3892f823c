#!/usr/bin/env bash
# Throwaway single-node Ceph (mon + one memstore OSD + radosgw) on loopback, for local/CI S3 tests.
#
#   eval "$(local/rgw/rgw.sh start [DIR])"   # prints one `export AWS_ENDPOINT_URL_S3=... AWS_REGION=us-east-1` line
#   local/rgw/rgw.sh stop [DIR]              # stops the daemons (TERM, then KILL) and deletes DIR
#   local/rgw/rgw.sh env [DIR]               # prints the export line again (no checks)
#
# DIR defaults to <repo root>/.local/rgw (a relative DIR is taken from the current directory). Everything (config, mon/osd data, logs, PID files, admin sockets)
# lives under DIR; every Ceph command gets an explicit `-c DIR/ceph.conf`, so the host's /etc/ceph and
# /var/lib/ceph are never read or written. Progress goes to stderr; stdout carries only the export line.
# S3 is path-style only (no `rgw dns name`): clients need forcePathStyle: true. See local/rgw/FINDINGS.md.
#
# Environment:
#   RGW_PORT        S3 port on 127.0.0.1 (default 7480)
#   RGW_MON_PORT    monitor port on 127.0.0.1 (default RGW_PORT+1)
#   RGW_ACCESS_KEY  / RGW_SECRET_KEY   fixed S3 credentials (defaults below)
#   RGW_WAIT        seconds to wait for each daemon / for S3 to answer (default 90)
#   RGW_NO_INSTALL  set to 1 to fail instead of running apt-get when packages are missing
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

RGW_PORT="${RGW_PORT:-7480}"
RGW_MON_PORT="${RGW_MON_PORT:-$((RGW_PORT + 1))}"
RGW_ACCESS_KEY="${RGW_ACCESS_KEY:-rgwlocaltestaccesskey}"
RGW_SECRET_KEY="${RGW_SECRET_KEY:-rgwlocaltestsecretkey0000000000000000000}"
RGW_WAIT="${RGW_WAIT:-90}"
MARKER=".rgw-sh-state"

log() { printf '[rgw.sh %3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf '[rgw.sh] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $0 start [DIR]   start (or reuse) the cluster, print the export line on stdout
       $0 stop [DIR]    stop the daemons and delete DIR
       $0 env [DIR]     print the export line
DIR defaults to $REPO_ROOT/.local/rgw
EOF
  exit 2
}

resolve_dir() {
  local d="${1:-$REPO_ROOT/.local/rgw}"
  case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
  # normalise without requiring existence
  d="$(realpath -m -- "$d")"
  [ "$d" != "/" ] || die "refusing to use / as state dir"
  printf '%s' "$d"
}

export_line() {
  printf 'export AWS_ENDPOINT_URL_S3=http://127.0.0.1:%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=us-east-1\n' \
    "$RGW_PORT" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY"
}

# ---------------------------------------------------------------------------------------------- install
PKGS=(ceph-mon ceph-osd radosgw)
BINS=(ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool)

missing_bins() {
  local b out=()
  for b in "${BINS[@]}"; do command -v "$b" >/dev/null 2>&1 || out+=("$b"); done
  printf '%s' "${out[*]:-}"
}

ensure_packages() {
  local miss APT_LOG="$DIR/log/apt.log"
  miss="$(missing_bins)"
  [ -z "$miss" ] && return 0
  [ "${RGW_NO_INSTALL:-0}" = 1 ] && die "missing binaries ($miss) and RGW_NO_INSTALL=1; install: apt-get install --no-install-recommends ${PKGS[*]}"
  command -v apt-get >/dev/null 2>&1 || die "missing binaries ($miss) and no apt-get; install Ceph's ${PKGS[*]} by hand"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing binaries ($miss); need root (or sudo) to apt-get install ${PKGS[*]}"
    sudo=(sudo -n)
  fi
  log "installing ${PKGS[*]} (missing: $miss) ..."
  local t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  local apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0)
  if ! "${sudo[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends "${PKGS[@]}" </dev/null >"$APT_LOG" 2>&1; then
    log "apt-get install failed; running apt-get update and retrying"
    "${sudo[@]}" apt-get update -q </dev/null >>"$APT_LOG" 2>&1 || true
    "${sudo[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends "${PKGS[@]}" </dev/null >>"$APT_LOG" 2>&1 \
      || { tail -n 30 "$APT_LOG" >&2; die "apt-get install ${PKGS[*]} failed"; }
  fi
  miss="$(missing_bins)"
  [ -z "$miss" ] || die "still missing after install: $miss"
  log "installed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- helpers
# pid_alive PIDFILE EXPECTED_EXE: succeeds when the PID in the file is alive and is our daemon
pid_alive() {
  local f="$1" exe="$2" pid cmd
  [ -s "$f" ] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  case "$cmd" in *"$exe"*"$CONF"*) return 0 ;; esac
  return 1
}

s3_answers() {
  # radosgw answers an anonymous GET / with an (empty) ListAllMyBucketsResult; anything else is not ours.
  local body
  if command -v curl >/dev/null 2>&1; then
    body="$(curl -s -m 3 "http://127.0.0.1:$RGW_PORT/" 2>/dev/null)" || return 1
  else
    body="$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RGW_PORT && printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3" 2>/dev/null)" || return 1
  fi
  case "$body" in *ListAllMyBucketsResult*) return 0 ;; esac
  return 1
}

port_in_use() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

tail_logs() {
  local f
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [ -s "$f" ] || continue
    printf -- '----- tail %s -----\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}

# fail MESSAGE: report, show the log tails, stop whatever was started (logs stay in DIR), exit 1
fail() {
  log "ERROR: $*"
  tail_logs
  stop_daemons 10 client.rgw.a:radosgw >/dev/null 2>&1 || true
  stop_daemons 10 osd.0:ceph-osd >/dev/null 2>&1 || true
  stop_daemons 10 mon.a:ceph-mon >/dev/null 2>&1 || true
  log "daemons stopped; logs left in $DIR/log (remove with: $0 stop $DIR)"
  exit 1
}

# wait_for DESCRIPTION COMMAND...: bounded poll
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + RGW_WAIT))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${RGW_WAIT}s waiting for $what"
    sleep 0.5
  done
}

ceph_cmd() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@" </dev/null; }

osd_up() { ceph_cmd osd dump 2>/dev/null | grep -Eq '^osd\.0 up +in'; }

# ---------------------------------------------------------------------------------------------- start
write_conf() {
  local fsid="$1"
  cat >"$CONF" <<EOF
# generated by local/rgw/rgw.sh - throwaway single-node cluster, loopback only, no auth
[global]
fsid = $fsid
mon initial members = a
mon host = v1:127.0.0.1:$RGW_MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
mon warn on insecure global id reclaim = false
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = false
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
# a throwaway cluster needs no batching of map updates: radosgw's pools get created in ~0.1 s instead of ~2 s each
paxos propose interval = 0.05
paxos min wait = 0.01
osd objectstore = memstore
memstore device bytes = 2147483648

[mon]
mon data = $DIR/mon/\$cluster-\$id

[osd]
osd data = $DIR/osd/\$cluster-\$id
osd max object name len = 460
osd max object namespace len = 64
# With auth none the OSD can send its start-up crush/device-class mon commands before it has the monmap, and
# the monitor rejects them ("wrong fsid"); the crush entry is added by rgw.sh instead.
osd crush update on start = false
osd class update on start = false

[client.rgw.a]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 64
rgw enable apis = s3, s3website, admin, sts, iam, notifications
log file = $DIR/log/radosgw.log
EOF
}

all_running() {
  pid_alive "$DIR/run/mon.a.pid" ceph-mon && pid_alive "$DIR/run/osd.0.pid" ceph-osd \
    && pid_alive "$DIR/run/client.rgw.a.pid" radosgw
}

cmd_start() {
  if [ -f "$CONF" ] && all_running; then
    # reuse: ports come from the config that is running, not from the environment
    local p
    p="$(sed -n 's/^rgw frontends = beast endpoint=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$CONF")"
    [ -n "$p" ] && RGW_PORT="$p"
    if s3_answers; then
      log "already running from $DIR"
      export_line
      return 0
    fi
    wait_for "running radosgw on 127.0.0.1:$RGW_PORT to answer" s3_answers
    export_line
    return 0
  fi

  if [ -e "$DIR" ]; then
    log "stale or partial state in $DIR; cleaning it first"
    cmd_stop >/dev/null
  fi

  mkdir -p "$DIR"/{mon,osd/ceph-0,rgw,run,log,crash}
  : >"$DIR/$MARKER"
  ensure_packages
  port_in_use "$RGW_PORT" && die "port 127.0.0.1:$RGW_PORT is already in use (set RGW_PORT)"
  port_in_use "$RGW_MON_PORT" && die "port 127.0.0.1:$RGW_MON_PORT is already in use (set RGW_MON_PORT)"

  local t0=$SECONDS
  local fsid osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"
  export CEPH_CONF="$CONF"

  log "creating monitor (127.0.0.1:$RGW_MON_PORT) in $DIR"
  # auth is off, but ceph-mon --mkfs still wants a keyring
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >"$DIR/log/setup.out" 2>&1 \
    || fail "ceph-authtool failed"
  ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >>"$DIR/log/setup.out" 2>&1 || fail "ceph-authtool failed"
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$RGW_MON_PORT]" "$DIR/monmap" >>"$DIR/log/setup.out" 2>&1 \
    || fail "monmaptool failed"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" </dev/null >>"$DIR/log/setup.out" 2>&1 \
    || fail "ceph-mon --mkfs failed"
  ceph-mon -c "$CONF" -i a </dev/null >>"$DIR/log/setup.out" 2>&1 || fail "ceph-mon failed to start"
  wait_for "monitor quorum" ceph_cmd mon stat

  log "creating memstore OSD"
  ceph_cmd osd new "$osd_uuid" >>"$DIR/log/setup.out" 2>&1 || fail "ceph osd new failed"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >>"$DIR/log/setup.out" 2>&1 || fail "ceph-osd --mkfs failed"
  ceph_cmd osd crush add osd.0 1.0 root=default host=localhost >>"$DIR/log/setup.out" 2>&1 || fail "ceph osd crush add failed"
  local try
  for try in 1 2 3; do
    ceph-osd -c "$CONF" -i 0 </dev/null >>"$DIR/log/setup.out" 2>&1 && break
    [ $try -lt 3 ] || fail "ceph-osd failed to start"
    log "ceph-osd failed to start (attempt $try); retrying"
    sleep 1
  done
  wait_for "osd.0 up" osd_up

  log "creating S3 user"
  timeout 60 radosgw-admin -c "$CONF" -n client.rgw.a user create --uid=local --display-name="local test user" \
    --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" </dev/null >>"$DIR/log/setup.out" 2>&1 \
    || fail "radosgw-admin user create failed"

  log "starting radosgw on 127.0.0.1:$RGW_PORT"
  radosgw -c "$CONF" -n client.rgw.a </dev/null >>"$DIR/log/setup.out" 2>&1 || fail "radosgw failed to start"
  wait_for "S3 on 127.0.0.1:$RGW_PORT" s3_answers
  all_running || fail "a daemon exited during startup"
  log "ready in $((SECONDS - t0)) s (state in $DIR)"
  export_line
}

# ---------------------------------------------------------------------------------------------- stop
# stop_daemons TIMEOUT NAME:EXE...: TERM the daemons whose PID files are ours, KILL what is left after TIMEOUT s
stop_daemons() {
  local timeout="$1"; shift
  local spec f exe pid p pids=() left
  for spec in "$@"; do
    exe="${spec#*:}"; f="$DIR/run/${spec%%:*}.pid"
    if pid_alive "$f" "$exe"; then
      pid="$(tr -dc '0-9' <"$f")"
      log "stopping $exe (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid:$exe")
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  local deadline=$((SECONDS + timeout))
  while :; do
    left=()
    for p in "${pids[@]}"; do
      [ -d "/proc/${p%%:*}" ] && left+=("$p")
    done
    [ ${#left[@]} -eq 0 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      for p in "${left[@]}"; do
        log "killing ${p#*:} (pid ${p%%:*}) after ${timeout}s"
        kill -KILL "${p%%:*}" 2>/dev/null || true
      done
      sleep 0.5
      return 0
    fi
    sleep 0.2
  done
}

cmd_stop() {
  if [ ! -e "$DIR" ]; then
    log "nothing to stop in $DIR"
    return 0
  fi
  [ -d "$DIR" ] || die "$DIR is not a directory"
  if [ ! -e "$DIR/$MARKER" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    die "$DIR was not created by rgw.sh (no $MARKER); refusing to delete it"
  fi
  # one at a time, clients first: radosgw can hang on exit while the OSD goes away under it, and an OSD whose
  # monitor is gone waits for it. Each takes ~2 s to exit on TERM.
  stop_daemons 10 client.rgw.a:radosgw
  stop_daemons 10 osd.0:ceph-osd
  stop_daemons 10 mon.a:ceph-mon
  rm -rf -- "$DIR"
  log "stopped; removed $DIR"
}

# ---------------------------------------------------------------------------------------------- main
[ $# -ge 1 ] || usage
ACTION="$1"
DIR="$(resolve_dir "${2:-}")"
CONF="$DIR/ceph.conf"
case "$ACTION" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env)
    if [ -f "$CONF" ]; then
      p="$(sed -n 's/^rgw frontends = beast endpoint=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$CONF")"
      [ -n "$p" ] && RGW_PORT="$p"
    fi
    export_line ;;
  *) usage ;;
esac
