#!/bin/bash
# bench/run.sh -- the benchmark: the send() floor, confabd and the Node
# socket.io peer, one after the other, on the same scenarios, driven by
# bench/cfbench.  Writes bench/results/<stamp>.md and .csv and copies them
# to bench/results/latest.{md,csv}; with BENCH_UPDATE_README=1 the table
# also replaces the section between the bench markers in README.md.
#
#   make bench                         (or: bash bench/run.sh)
#   BENCH_QUICK=1 make bench           small sizes, a minute or two
#
# Sizes (environment, defaults are the issue's):
#   BENCH_IDLE="10000 50000"  idle authenticated connections (RSS)
#   BENCH_FANOUT=1000         members of the one fan-out channel
#   BENCH_CHANNELS=2000 BENCH_MEMBERS=10   the many-channels scenario
#   BENCH_DURABLE=64          durable senders (one channel each)
#   BENCH_SECS=10 BENCH_WARM=3             measured window, warm-up
#   BENCH_WORKERS=auto        confabd workers
#   BENCH_ONLY=idle           only scenario 1 (and 5): idle connections
#   BENCH_ONLY=latency        only scenario 4 (and the peer's saturated
#                             fan-out it is paced from, unless BENCH_LAT_RATE)
#   BENCH_ONLY=durable        only scenario 6: durable sends
#   BENCH_GEN_PROCS=auto      receiving generator processes for the fan-out
#                             scenarios 2 and 4 (cfbench -j; auto: nproc;
#                             0: one process reads every socket)
#   BENCH_LAT_RATE=           scenario 4's msg/s (default: half the peer's
#                             saturated fan-out rate)
#
# Load stays on 127.0.0.0/8; every run is bounded (cfbench -T) and every
# server started here is stopped on exit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_IDLE:=1000 3000}" "${BENCH_FANOUT:=200}"
	: "${BENCH_CHANNELS:=100}" "${BENCH_MEMBERS:=10}"
	: "${BENCH_DURABLE:=16}" "${BENCH_SECS:=3}" "${BENCH_WARM:=1}"
fi
: "${BENCH_IDLE:=10000 50000}" "${BENCH_FANOUT:=1000}"
: "${BENCH_CHANNELS:=2000}" "${BENCH_MEMBERS:=10}" "${BENCH_DURABLE:=64}"
: "${BENCH_SECS:=10}" "${BENCH_WARM:=3}" "${BENCH_WORKERS:=auto}"
: "${BENCH_ONLY:=}" "${BENCH_GEN_PROCS:=auto}" "${BENCH_LAT_RATE:=}"
case $BENCH_ONLY in
''|idle|latency|durable) ;;
*) echo "bench: BENCH_ONLY must be empty, idle, latency or durable" >&2; exit 2 ;;
esac
[ "$BENCH_GEN_PROCS" != auto ] || BENCH_GEN_PROCS=$(nproc)
# The fan-out's receiving sockets are read by BENCH_GEN_PROCS processes
# (the sender in another), for confabd and the peer alike: one process
# reading 1000 sockets in turn delays the last delivery of each message by
# the reads of all the others, and that is the generator, not the server.
fanjobs=""
[ "$BENCH_GEN_PROCS" = 0 ] || fanjobs="-j $BENCH_GEN_PROCS"
SECRET=confabd-bench-secret-0123456789-abcdefgh

log() { printf 'bench: %s\n' "$*" >&2; }

# --- build what is missing -------------------------------------------------
if [ ! -x src/confabd ] || [ ! -x bench/cfbench ] || [ ! -x bench/floor ]; then
	if [ ! -f Makefile ]; then
		log "configuring"
		[ -x configure ] || ./autogen.sh >/dev/null
		./configure >/dev/null
	fi
	log "building"
	make -j"$(nproc)" >/dev/null
fi
command -v node >/dev/null || { log "node is needed (sh scripts/deps.sh test)"; exit 2; }
peer=$here/peers/node-socketio
if [ ! -d "$peer/node_modules/socket.io" ]; then
	log "npm ci in $peer"
	(cd "$peer" && npm ci --no-audit --no-fund --silent)
fi

# Connections need descriptors on both sides; root may raise the hard limit.
want_fd=$(( $(printf '%s\n' $BENCH_IDLE $BENCH_FANOUT $((BENCH_CHANNELS * BENCH_MEMBERS)) |
    sort -n | tail -1) * 2 + 4096 ))
if [ "$(ulimit -n)" -lt "$want_fd" ]; then
	ulimit -Hn "$want_fd" 2>/dev/null || true
	ulimit -n "$want_fd" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
log "ulimit -n $(ulimit -n)"
# One process holds at most the limit.  The idle scenario is not capped for
# confabd: cfbench splits its connections over processes (-j, automatic)
# and confabd runs enough workers that each holds under 3/4 of the limit
# (idle_workers).  The Node peer is one process: its idle sizes, and every
# size of the scenarios with traffic (the many-channels generator is one
# process too), are capped to the limit, and the results say so.
cap=$(( $(ulimit -n) - 256 ))
capnote=""
node_idle=""
for n in $BENCH_IDLE; do
	if [ "$n" -gt "$cap" ]; then
		capnote="$capnote Node peer idle $n -> $cap;"
		n=$cap
	fi
	node_idle="$node_idle $n"
done
node_idle=${node_idle# }
if [ "$BENCH_FANOUT" -gt "$cap" ]; then
	capnote="$capnote fan-out $BENCH_FANOUT -> $cap;"
	BENCH_FANOUT=$cap
fi
if [ $((BENCH_CHANNELS * BENCH_MEMBERS)) -gt "$cap" ]; then
	capnote="$capnote channels $BENCH_CHANNELS -> $((cap / BENCH_MEMBERS));"
	BENCH_CHANNELS=$((cap / BENCH_MEMBERS))
fi
# idle_workers N: confabd workers for N idle connections.
idle_workers() {
	local w need
	if [ "$BENCH_WORKERS" = auto ]; then w=$(nproc); else w=$BENCH_WORKERS; fi
	need=$(( ($1 * 4 + 3 * cap - 1) / (3 * cap) ))
	[ "$need" -gt "$w" ] && w=$need
	echo "$w"
}
# presence_slots N: a power of two >= 2 N (the table is touched a page per
# user until all of it is: a fixed cost that grows with presence-slots).
presence_slots() {
	local s=1024
	while [ "$s" -lt $(( $1 * 2 )) ]; do s=$((s * 2)); done
	echo "$s"
}
[ -z "$capnote" ] || log "sizes capped by ulimit -n $(ulimit -n):$capnote"

work=$(mktemp -d "${TMPDIR:-/tmp}/confabd-bench.XXXXXX")
srv_pid=""
stop_server() {
	if [ -n "$srv_pid" ]; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
		srv_pid=""
	fi
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
	local p
	for p in $(seq 39100 39999); do
		if port_free "$p"; then echo "$p"; return; fi
	done
	log "no free port"; exit 2
}
wait_port() {
	local i
	for i in $(seq 1 200); do
		if ! port_free "$1"; then return 0; fi
		kill -0 "$srv_pid" 2>/dev/null || { log "server died"; cat "$work/server.log" >&2; exit 2; }
		sleep 0.05
	done
	log "server did not listen on $1"; exit 2
}

# start_server confabd|node [WORKERS [PRESENCE_SLOTS]] -> PORT, srv_pid
start_server() {
	local d workers=${2:-$BENCH_WORKERS} slots=${3:-131072}
	PORT=$(pick_port)
	d=$(mktemp -d "$work/srv.XXXXXX")
	if [ "$1" = confabd ]; then
		cat > "$d/confabd.conf" <<-EOF
		listen 127.0.0.1:$PORT
		workers $workers
		data-dir $d
		jwt-secret $SECRET
		rate-limit 100000 1
		max-unauthenticated 1000000
		max-unauthenticated-per-ip 0
		presence-broadcast no
		presence-slots $slots
		log-level warn
		EOF
		src/confabd -f -c "$d/confabd.conf" > "$work/server.log" 2>&1 &
	else
		PORT=$PORT JWT_SECRET=$SECRET DB=$d/peer.db \
		    node "$peer/server.mjs" > "$work/server.log" 2>&1 &
	fi
	srv_pid=$!
	wait_port "$PORT"
}

# gen LABEL ARGS... : runs cfbench against the current server; prints the
# RESULT line's key=value pairs, one per line, prefixed "LABEL ".
gen() {
	local label=$1 out rc=0
	shift
	out=$(bench/cfbench -q -p "$PORT" -k "$SECRET" -P "$srv_pid" -L "$label" \
	    -T 900 "$@") || rc=$?
	if ! printf '%s\n' "$out" | grep -q '^RESULT'; then
		log "$label: cfbench failed (rc $rc)"; printf '%s\n' "$out" >&2
		return 1
	fi
	[ "$rc" = 0 ] || { log "$label: cfbench reported problems (rc $rc):"; printf '%s\n' "$out" | grep -v '^RESULT' >&2 || true; }
	printf '%s\n' "$out" | grep '^RESULT' | tr ' ' '\n' | grep = | sed "s/^/$label /"
}

res=$work/results.txt
: > "$res"
record() { cat >> "$res"; }		# "label key=value" lines
get() {	# get LABEL KEY
	awk -v l="$1" -v k="$2" '$1 == l { split($2, a, "="); if (a[1] == k) v = a[2] } END { print v }' "$res"
}

many_n=$((BENCH_CHANNELS * BENCH_MEMBERS))

# --- the floor ---------------------------------------------------------------
[ -n "$BENCH_ONLY" ] || log "floor: $BENCH_FANOUT and $many_n sockets"
[ -n "$BENCH_ONLY" ] ||
for spec in "fanout $BENCH_FANOUT 1" "many $many_n 1" "fanout-burst8 $BENCH_FANOUT 8"; do
	set -- $spec
	bench/floor -n "$2" -b 200 -k "$3" -d "$BENCH_SECS" | grep '^RESULT' |
	    tr ' ' '\n' | grep = | sed "s/^/floor-$1 /" | record
done

# --- the servers -------------------------------------------------------------
run_server() {	# confabd|node
	local s=$1 n i=0 sizes=$BENCH_IDLE w slots label
	[ "$s" = node ] && sizes=$node_idle
	if [ "$BENCH_ONLY" = latency ]; then
		# only the peer's saturated fan-out, which paces scenario 4
		[ "$s" = node ] && [ -z "$BENCH_LAT_RATE" ] || return 0
		log "$s: fan-out 1 x $BENCH_FANOUT, saturated"
		start_server "$s"
		gen "$s-fanout" $fanjobs -n "$BENCH_FANOUT" -C 1 -r 0 -W 16 -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
		stop_server
		return 0
	fi
	if [ "$BENCH_ONLY" = durable ]; then
		log "$s: durable sends, $BENCH_DURABLE senders"
		start_server "$s"
		gen "$s-durable" -D -n "$BENCH_DURABLE" -C "$BENCH_DURABLE" -r 0 -W 16 -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
		stop_server
		return 0
	fi
	for n in $sizes; do
		# the row is labelled with the size asked for
		i=$((i + 1))
		label=$(echo $BENCH_IDLE | awk -v i=$i '{ print $i }')
		if [ "$s" = confabd ]; then
			w=$(idle_workers "$n")
			slots=$(presence_slots "$n")
			log "$s: idle $n ($w workers, presence-slots $slots)"
			echo "$s-idle-$label workers=$w" | record
			echo "$s-idle-$label presence_slots=$slots" | record
			start_server "$s" "$w" "$slots"
		else
			log "$s: idle $n"
			start_server "$s"
		fi
		gen "$s-idle-$label" -I -n "$n" -c 512 | record || true
		stop_server
	done
	[ "$BENCH_ONLY" != idle ] || return 0
	log "$s: fan-out 1 x $BENCH_FANOUT, saturated"
	start_server "$s"
	gen "$s-fanout" $fanjobs -n "$BENCH_FANOUT" -C 1 -r 0 -W 16 -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
	stop_server
	log "$s: $BENCH_CHANNELS channels x $BENCH_MEMBERS, saturated"
	start_server "$s"
	gen "$s-many" -n "$many_n" -C "$BENCH_CHANNELS" -r 0 -W 2 -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
	stop_server
	log "$s: durable sends, $BENCH_DURABLE senders"
	start_server "$s"
	gen "$s-durable" -D -n "$BENCH_DURABLE" -C "$BENCH_DURABLE" -r 0 -W 16 -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
	stop_server
}
run_server confabd
run_server node

# Latency at one fixed load: half of the peer's saturated fan-out rate.
peer_rate=$(get node-fanout msgs_in_per_s)
[ -n "$peer_rate" ] && [ "$peer_rate" != 0 ] || peer_rate=200
lat_rate=$(awk -v r="$peer_rate" 'BEGIN { r = int(r / 2); print (r < 1 ? 1 : r) }')
[ -z "$BENCH_LAT_RATE" ] || lat_rate=$BENCH_LAT_RATE
[ "$BENCH_ONLY" = idle ] || [ "$BENCH_ONLY" = durable ] ||
for s in confabd node; do
	log "$s: fan-out at $lat_rate msg/s (latency)"
	start_server "$s"
	gen "$s-latency" $fanjobs -n "$BENCH_FANOUT" -C 1 -r "$lat_rate" -w "$BENCH_WARM" -d "$BENCH_SECS" | record || true
	stop_server
done

# --- the report --------------------------------------------------------------
mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
machine="$(nproc) CPUs ($cpu), $mem, Linux $(uname -r), loopback"
csv=bench/results/$stamp.csv
md=bench/results/$stamp.md

{
	echo "label,key,value"
	awk '{ split($2, a, "="); printf "%s,%s,%s\n", $1, a[1], a[2] }' "$res"
} > "$csv"

v() { local x; x=$(get "$1" "$2"); echo "${x:--}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
kib() { awk -v b="$1" 'BEGIN { if (b == "-" || b == "") print "-"; else printf "%.1f", b / 1024 }'; }
met() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN { if (x == "-" || x == "") { print "?"; exit }
	ok = (op == "<=") ? (x + 0 <= t + 0) : (x + 0 >= t + 0); print ok ? "yes" : "**no**" }'; }

{
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $machine, commit \`$commit\`,"
	echo "confabd workers: $BENCH_WORKERS; the Node peer runs on one core."
	echo "Window ${BENCH_SECS} s after ${BENCH_WARM} s of warm-up; CPU = user + system of all server processes."
	[ -z "$capnote" ] || echo "**Sizes capped by the descriptor limit (ulimit -n $(ulimit -n), hard $(ulimit -Hn)):$capnote**"
	echo
	echo "| scenario | metric | floor | confabd | Node peer | confabd / peer |"
	echo "|---|---|---|---|---|---|"
	for n in $BENCH_IDLE; do
		c=$(v confabd-idle-$n pss_per_conn_b); p=$(v node-idle-$n pss_per_conn_b)
		t="1. idle, $n conns (confabd: $(v confabd-idle-$n workers) workers, $(v confabd-idle-$n procs) generator processes)"
		pn=$(v node-idle-$n conns)
		[ "$pn" = "$n" ] || t="$t; Node peer capped at $pn conns (one process)"
		echo "| $t | PSS KiB per connection | | $(kib "$c") | $(kib "$p") | $(ratio "$c" "$p") |"
		c=$(v confabd-idle-$n rss_per_conn_b); p=$(v node-idle-$n rss_per_conn_b)
		echo "| | RSS KiB per connection (sum over processes) | | $(kib "$c") | $(kib "$p") | $(ratio "$c" "$p") |"
	done
	for sc in fanout many; do
		if [ $sc = fanout ]; then t="2. fan-out 1 × $BENCH_FANOUT (generator: $(v confabd-fanout gen_procs) processes)"; else t="3. $BENCH_CHANNELS channels × $BENCH_MEMBERS"; fi
		c=$(v confabd-$sc msgs_in_per_s); p=$(v node-$sc msgs_in_per_s)
		echo "| $t, saturated | messages in / s | | $c | $p | $(ratio "$c" "$p") |"
		c=$(v confabd-$sc deliveries_per_s); p=$(v node-$sc deliveries_per_s)
		echo "| | deliveries out / s | $(v floor-$sc deliveries_per_s) | $c | $p | $(ratio "$c" "$p") |"
		c=$(v confabd-$sc server_cpu_us_per_unit); p=$(v node-$sc server_cpu_us_per_unit)
		echo "| | server CPU µs per delivery | $(v floor-$sc cpu_us_per_delivery) | $c | $p | $(ratio "$c" "$p") |"
		c=$(v confabd-$sc p99_us); p=$(v node-$sc p99_us)
		echo "| | latency p50 / p99 µs (saturated) | | $(v confabd-$sc p50_us) / $c | $(v node-$sc p50_us) / $p | |"
		echo "| | errors / gaps / dups / lost | | $(v confabd-$sc errors) / $(v confabd-$sc gaps) / $(v confabd-$sc dups) / $(v confabd-$sc lost) | $(v node-$sc errors) / $(v node-$sc gaps) / $(v node-$sc dups) / $(v node-$sc lost) | |"
	done
	echo "| | floor, 8 frames per send() | $(v floor-fanout-burst8 cpu_us_per_delivery) µs | | | |"
	for q in p50 p99 p999 max; do
		c=$(v confabd-latency ${q}_us); p=$(v node-latency ${q}_us)
		[ $q = p50 ] && lbl="4. latency at $lat_rate msg/s (fan-out, $([ -n "$BENCH_LAT_RATE" ] && echo 'BENCH_LAT_RATE' || echo '50% of peer max'); generator: $(v confabd-latency gen_procs) processes)" || lbl=""
		echo "| $lbl | $q µs | | $c | $p | $(ratio "$c" "$p") |"
	done
	c=$(v confabd-latency deliveries_per_s); p=$(v node-latency deliveries_per_s)
	echo "| | deliveries / s; CPU µs per delivery | | $c; $(v confabd-latency server_cpu_us_per_unit) | $p; $(v node-latency server_cpu_us_per_unit) | |"
	n1=$(echo $BENCH_IDLE | awk '{ print $1 }')
	c=$(v confabd-idle-$n1 setup_per_s); p=$(v node-idle-$n1 setup_per_s)
	echo "| 5. connection setup ($n1, through authenticate) | connections / s | | $c | $p | $(ratio "$c" "$p") |"
	c=$(v confabd-idle-$n1 setup_cpu_us_per_conn); p=$(v node-idle-$n1 setup_cpu_us_per_conn)
	echo "| | server CPU µs per connection | | $c | $p | $(ratio "$c" "$p") |"
	c=$(v confabd-durable acked_per_s); p=$(v node-durable acked_per_s)
	echo "| 6. durable sends ($BENCH_DURABLE senders × 16 in flight) | messages committed and acked / s | | $c | $p | $(ratio "$c" "$p") |"
	echo
	echo "Targets (issue #7):"
	echo
	echo "| target | value | met |"
	echo "|---|---|---|"
	x=$(ratio "$(v confabd-fanout server_cpu_us_per_unit)" "$(v floor-fanout cpu_us_per_delivery)")
	echo "| fan-out CPU per delivery ≤ 1.25 × floor | $x × | $(met "$x" "<=" 1.25) |"
	x=$(ratio "$(v confabd-many server_cpu_us_per_unit)" "$(v floor-many cpu_us_per_delivery)")
	echo "| many-channels CPU per delivery ≤ 1.25 × floor | $x × | $(met "$x" "<=" 1.25) |"
	x=$(ratio "$(v confabd-fanout deliveries_per_s)" "$(v node-fanout deliveries_per_s)")
	echo "| saturated deliveries/s ≥ 5 × peer (fan-out) | $x × | $(met "$x" ">=" 5) |"
	x=$(ratio "$(v confabd-latency p99_us)" "$(v node-latency p99_us)")
	echo "| p99 at equal load ≤ 1/5 of peer | $x × | $(met "$x" "<=" 0.2) |"
	for n in $BENCH_IDLE; do
		x=$(kib "$(v confabd-idle-$n pss_per_conn_b)")
		echo "| ≤ 4 KiB per idle authenticated WebSocket ($n) | $x KiB | $(met "$x" "<=" 4) |"
	done
	nmax=$(echo $BENCH_IDLE | tr ' ' '\n' | sort -n | tail -1)
	x=$(v confabd-idle-$nmax authed)
	echo "| 50k concurrent connections | $x authenticated | $(met "$x" ">=" 50000) |"
	x=$(v confabd-durable acked_per_s)
	echo "| ≥ 50k committed messages/s | $x | $(met "$x" ">=" 50000) |"
} > "$md"
cp "$md" bench/results/latest.md
cp "$csv" bench/results/latest.csv
log "wrote $md and $csv"
cat "$md"

if [ "${BENCH_UPDATE_README:-0}" = 1 ]; then
	awk -v f="$md" '
		/<!-- bench:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
		/<!-- bench:end -->/ { skip = 0 }
		!skip { print }' README.md > "$work/README.md" && cp "$work/README.md" README.md
	log "README.md updated"
fi
