#!/bin/sh
# Reconnect storm (issue 16): N users connected and authenticated (cfbench
# -I, one tab each), all disconnected at once (the generator killed), and
# all reconnected at once (a second generator, the same user ids), for each
# presence setting in MODES.  Per mode: deliveries sent during the storm
# (confabd_deliveries_out_total of /metrics), the workers' CPU (utime +
# stime of the master's children, /proc), the time from the kill until
# the deliveries stop (settled: no change for 2 s; the time printed
# excludes those 2 s), and the peak RSS of the workers (sampled every
# 100 ms).  Not a test: nothing is asserted.
#
#   bench/presence-storm.sh [N=2000]
# MODES (environment) is a list of label=conf pairs, conf lines joined by
# commas; the default compares presence-broadcast off with each scope.
set -eu
N=${1:-2000}
top=$(cd "$(dirname "$0")/.." && pwd)
confabd=${CONFABD:-$top/src/confabd}
cfbench=${CFBENCH:-$top/bench/cfbench}
SECRET=bench-secret-0123456789abcdef0123456789
MODES=${MODES:-"off=presence-broadcast,no
all-coalesce0=presence-scope,all,presence-coalesce,0
all-coalesce1s=presence-scope,all
channels=presence-scope,channels,presence-coalesce,0
subscribed=presence-scope,subscribed,presence-coalesce,0"}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

metric() {
	curl -s "http://127.0.0.1:$port/metrics" |
	    awk -v m="$1" '$1 ~ "^"m"({|$)" { s += $2 } END { printf "%d\n", s }'
}
# utime + stime (ticks) and VmRSS (kB) summed over the master's children.
workers() { pgrep -P "$1" | tr '\n' ' '; }
cpu() {
	t=0
	for p in $(workers "$1"); do
		t=$((t + $(awk '{ print $14 + $15 }' /proc/$p/stat 2>/dev/null || echo 0)))
	done
	echo $t
}
rss() {
	r=0
	for p in $(workers "$1"); do
		r=$((r + $(awk '/^VmRSS/ { print $2 }' /proc/$p/status 2>/dev/null || echo 0)))
	done
	echo $r
}
gen() {	# hold N connections of users 1..N until killed
	"$cfbench" -I -q -p "$port" -n "$N" -k "$SECRET" -u 1 -H 100000 \
	    -T 100000 >>"$dir/gen.log" 2>&1 &
	echo $!
}
authed() { metric confabd_sessions_authenticated; }

printf '| mode | users | deliveries | server CPU s | settle s | peak RSS MB |\n'
printf '|---|---|---|---|---|---|\n'
echo "$MODES" | while IFS= read -r m; do
	[ -n "$m" ] || continue
	label=${m%%=*}
	conf=$(echo "${m#*=}" | awk -F, '{ for (i = 1; i < NF; i += 2) print $i, $(i + 1) }')
	dir=$(mktemp -d /tmp/confabd-storm-XXXXXX)
	cat >"$dir/confabd.conf" <<EOF
listen 127.0.0.1:$port
workers 2
data-dir $dir
jwt-secret $SECRET
rate-limit 100000 1
presence-slots 131072
max-connections-per-user 1000
max-unauthenticated 1000000
max-unauthenticated-per-ip 0
max-output-buffer 256m
sqlite-synchronous off
log-level warn
$conf
EOF
	"$confabd" -f -c "$dir/confabd.conf" 2>"$dir/log" &
	master=$!
	i=0
	until curl -s "http://127.0.0.1:$port/metrics" >/dev/null; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 100 ] || exit 1
	done
	g=$(gen)
	i=0
	until [ "$(metric confabd_connections)" -ge "$N" ] 2>/dev/null; do
		sleep 0.2; i=$((i + 1)); [ $i -lt 300 ] || break
	done
	sleep 2
	d0=$(metric confabd_deliveries_out_total)
	c0=$(cpu $master)
	peak=$(rss $master)
	t0=$(date +%s.%N)
	kill -9 "$g"
	g=$(gen)
	last=$d0; tlast=$t0; quiet=0; n=0
	while [ $quiet -lt 20 ] && [ $n -lt 600 ]; do
		n=$((n + 1))
		sleep 0.1
		r=$(rss $master); [ "$r" -gt "$peak" ] && peak=$r
		d=$(metric confabd_deliveries_out_total)
		if [ "$d" != "$last" ]; then
			last=$d; tlast=$(date +%s.%N); quiet=0
		else
			quiet=$((quiet + 1))
		fi
	done
	c1=$(cpu $master)
	# Pings (one per 25 s per socket) are deliveries too: negligible here.
	printf '| %s | %s | %s | %.2f | %.2f | %d |\n' "$label" "$N" \
	    $((last - d0)) "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)" \
	    "$(echo "$tlast - $t0" | bc -l)" $((peak / 1024))
	kill -9 "$g" 2>/dev/null || true
	kill -TERM "$master"; wait "$master" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
done
