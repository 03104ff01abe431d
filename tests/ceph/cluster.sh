#!/usr/bin/env bash
# A throw-away Ceph cluster on loopback: 1 mon, 1 mgr, 3 OSDs on memstore, in one
# private folder, for wasm-mgr's real-Ceph tests and benchmarks.
#
#   cluster.sh start DIR [OSDS]   create and start; prints the ceph.conf path
#                                 ($CLUSTER_EXTRA_CONF: more [global] lines;
#                                 $CLUSTER_MONS: monitors a, b, c..., default 1)
#   cluster.sh stop DIR           stop exactly the daemons started in DIR
#   cluster.sh osd-stop DIR ID    stop one OSD (gracefully)
#   cluster.sh osd-start DIR ID   start it again
#   cluster.sh osd-crash DIR ID   SIGSEGV one OSD: it writes a crash report under
#                                 DIR/crash/<crash id>/meta, as a real crash does
#   cluster.sh mon-kill DIR [ID]  kill -9 a monitor (default a)
#   cluster.sh mon-start DIR [ID] start it again
#   cluster.sh mgr-start DIR ID   start ceph-mgr ID (a new one gets a key and its
#                                 own prometheus port in DIR/prometheus-port.ID)
#   cluster.sh mgr-kill DIR ID    kill -9 ceph-mgr ID
#
# Every daemon writes its pid under DIR/run; `stop` signals those pids only. The
# ports are free ones picked at start: the mon's in DIR/mon-port, the real
# ceph-mgr prometheus module's in DIR/prometheus-port.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

need() {
  for b in ceph ceph-mon ceph-mgr ceph-osd ceph-authtool monmaptool uuidgen; do
    command -v "$b" >/dev/null || die "$b not found: install Ceph (make ceph-tools)"
  done
}

pid_of() { cat "$1/run/$2.pid" 2>/dev/null || true; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
  return 1
}

stop_daemon() { # dir name
  local pid
  pid=$(pid_of "$1" "$2")
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  wait_gone "$pid" 15 || { kill -9 "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
}

c() { ceph -c "$DIR/ceph.conf" "$@"; }

# Daemons fork into the background; what they print before their log opens goes
# to DIR/log/startup.log.
start_osd() { # id
  ceph-osd -c "$DIR/ceph.conf" -i "$1" >>"$DIR/log/startup.log" 2>&1
}

start_mon() { # [id]
  ceph-mon -c "$DIR/ceph.conf" -i "${1:-a}" >>"$DIR/log/startup.log" 2>&1
}

start_mgr() { # id
  local id=$1 keyring="$DIR/mgr/ceph-$1/keyring" port
  if [ ! -f "$keyring" ]; then
    mkdir -p "$DIR/mgr/ceph-$id"
    c auth get-or-create "mgr.$id" mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
      -o "$keyring" >/dev/null
    # Daemons read the cluster keyring ceph.conf names.
    ceph-authtool "$DIR/keyring" --import-keyring "$keyring" >/dev/null
    # A standby's prometheus module listens too: each manager has its own port.
    port=$(free_port)
    echo "$port" >"$DIR/prometheus-port.$id"
    c config set "mgr.$id" mgr/prometheus/server_port "$port" --force >/dev/null
  fi
  rm -f "$DIR/run/mgr.$id.pid"
  ceph-mgr -c "$DIR/ceph.conf" -i "$id" >>"$DIR/log/startup.log" 2>&1
}

wait_for() { # seconds description command...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what"
}

osds_up() { # count
  [ "$(c osd stat --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')" = "$1" ]
}

prometheus_answers() {
  python3 - "$(cat "$DIR/prometheus-port")" <<'EOF'
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read()
EOF
}

start() {
  local nosd=${1:-3} nmon=${CLUSTER_MONS:-1} port prom fsid i uuid m hosts="" members="" ids=()
  need
  [ -e "$DIR/ceph.conf" ] && die "$DIR already holds a cluster; stop it and remove the folder first"
  # Daemons write crash reports under DIR/crash only if the folder exists.
  mkdir -p "$DIR"/{run,log,mon,mgr,osd,crash}
  DIR=$(cd "$DIR" && pwd)
  prom=$(free_port)
  fsid=$(uuidgen)
  # Monitor a's port is DIR/mon-port; the others' DIR/mon-port.ID.
  for ((i = 0; i < nmon; i++)); do
    m=$(echo abcde | cut -c$((i + 1)))
    ids+=("$m")
    port=$(free_port)
    if [ "$m" = a ]; then echo "$port" >"$DIR/mon-port"; else echo "$port" >"$DIR/mon-port.$m"; fi
    hosts="${hosts:+$hosts,}v2:127.0.0.1:$port"
    members="${members:+$members,}$m"
  done
  echo "$prom" >"$DIR/prometheus-port"
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = $hosts
mon initial members = $members
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring
log file = $DIR/log/\$name.log
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
crash dir = $DIR/crash
exporter sock dir = $DIR/run
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 1073741824
osd crush chooseleaf type = 0
ms bind ipv4 = true
ms bind ipv6 = false
public network = 127.0.0.0/8
# Quick down detection, so that tests do not wait Ceph's default 20 s grace.
osd heartbeat interval = 1
osd heartbeat grace = 4
mon osd report timeout = 20
mgr tick period = 1
# Pacific's secure setting: a client reclaims its global id only with its ticket.
auth allow insecure global id reclaim = false
${CLUSTER_EXTRA_CONF:-}

[mon]
mon data = $DIR/mon/\$cluster-\$id

[mgr]
mgr data = $DIR/mgr/\$cluster-\$id

[osd]
osd data = $DIR/osd/\$cluster-\$id
keyring = $DIR/osd/\$cluster-\$id/keyring
osd max object name len = 460
osd max object namespace len = 64
EOF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" "$DIR/monmap" >/dev/null
  for m in "${ids[@]}"; do
    port=$(cat "$DIR/mon-port$([ "$m" = a ] || echo ".$m")")
    monmaptool --addv "$m" "[v2:127.0.0.1:$port]" "$DIR/monmap" >/dev/null
  done
  for m in "${ids[@]}"; do
    ceph-mon -c "$DIR/ceph.conf" --mkfs -i "$m" --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
      >/dev/null 2>&1 || die "ceph-mon --mkfs failed (see $DIR/log/mon.$m.log)"
    start_mon "$m"
  done
  wait_for 30 "the monitor" c -s
  c config set mgr mgr/prometheus/server_addr 127.0.0.1 --force >/dev/null
  c config set mgr mgr/prometheus/server_port "$prom" --force >/dev/null
  mkdir -p "$DIR/mgr/ceph-x"
  cp "$DIR/keyring" "$DIR/mgr/ceph-x/keyring"
  ceph-mgr -c "$DIR/ceph.conf" -i x >>"$DIR/log/startup.log" 2>&1
  for ((i = 0; i < nosd; i++)); do
    uuid=$(uuidgen)
    c osd new "$uuid" >/dev/null 2>&1
    mkdir -p "$DIR/osd/ceph-$i"
    ceph-authtool --create-keyring "$DIR/osd/ceph-$i/keyring" --gen-key -n "osd.$i" >/dev/null
    c auth add "osd.$i" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
      -i "$DIR/osd/ceph-$i/keyring" >/dev/null 2>&1
    ceph-osd -c "$DIR/ceph.conf" -i "$i" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
      die "ceph-osd --mkfs for osd.$i failed (see $DIR/log/osd.$i.log)"
    start_osd "$i"
  done
  wait_for 60 "$nosd OSDs up" osds_up "$nosd"
  # The reference cluster's pools and file system (no MDS runs, as there).
  c osd pool create rbd 8 >/dev/null 2>&1
  c osd pool application enable rbd rbd >/dev/null 2>&1
  c osd pool create cephfs_meta 8 >/dev/null 2>&1
  c osd pool create cephfs_data 8 >/dev/null 2>&1
  c fs new cephfs cephfs_meta cephfs_data >/dev/null 2>&1
  c mgr module enable prometheus >/dev/null 2>&1 || true
  wait_for 60 "ceph-mgr's prometheus module" prometheus_answers
  echo "$DIR/ceph.conf"
}

stop() {
  local f name
  [ -d "$DIR/run" ] || return 0
  for f in "$DIR"/run/osd.*.pid "$DIR"/run/mgr.*.pid "$DIR"/run/mon.*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    stop_daemon "$DIR" "$name"
  done
}

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: cluster.sh start|stop|osd-stop|osd-start|mon-kill|mon-start|mgr-start|mgr-kill DIR [ARG]"
case "$cmd" in
  start) start "${3:-3}" ;;
  stop) stop ;;
  osd-stop) stop_daemon "$DIR" "osd.${3:?osd id}" ;;
  osd-start) rm -f "$DIR/run/osd.$3.pid"; start_osd "${3:?osd id}" ;;
  osd-crash)
    pid=$(pid_of "$DIR" "osd.${3:?osd id}")
    alive "$pid" || die "osd.$3 is not running"
    kill -SEGV "$pid"
    wait_gone "$pid" 30 || die "osd.$3 did not die of SIGSEGV"
    ;;
  mon-kill)
    pid=$(pid_of "$DIR" "mon.${3:-a}")
    alive "$pid" && kill -9 "$pid"
    wait_gone "$pid" 5 || die "mon.${3:-a} did not die"
    ;;
  mon-start) rm -f "$DIR/run/mon.${3:-a}.pid"; start_mon "${3:-a}" ;;
  mgr-start) start_mgr "${3:?mgr id}" ;;
  mgr-kill)
    pid=$(pid_of "$DIR" "mgr.${3:?mgr id}")
    alive "$pid" && kill -9 "$pid"
    wait_gone "$pid" 5 || die "mgr.$3 did not die"
    ;;
  *) die "unknown command $cmd" ;;
esac
