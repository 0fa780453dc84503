#!/usr/bin/env bash
# Times sfbtrace's full diagnosis against the bare gopacket loop (the
# yardstick), tshark's conversation statistics and ndpiReader on the same
# benchmark corpus, in one run, and prints a markdown table: wall, Mpps,
# MB/s, max RSS and the ratios the performance issue sets as targets.
#
# Usage: internal/bench/compare.sh [CORPUS] (default /tmp/sfbtrace-bench.pcap,
# generated with `make benchdata` when missing). RUNS=3 by default (sfbtrace
# and the bare loop), OTHER_RUNS (default RUNS) for tshark and ndpiReader;
# the median wall time of the runs is reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${1:-${BENCHDATA:-/tmp/sfbtrace-bench.pcap}}
RUNS=${RUNS:-3}
OTHER_RUNS=${OTHER_RUNS:-$RUNS} # tshark takes a minute a run
SIZE=${SIZE:-1000000000}

if [ ! -s "$CORPUS" ]; then
  echo "generating $CORPUS ($SIZE bytes)..." >&2
  go run ./pcaps/gen -bench "$CORPUS" -size "$SIZE" -seed 1 >&2
fi
missing=()
command -v tshark >/dev/null || missing+=(tshark)
command -v ndpiReader >/dev/null || missing+=(libndpi-bin)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$bin/sfbtrace" ./cmd/sfbtrace
go build -o "$bin/bareloop" ./internal/bench/bareloop

bytes=$(stat -c %s "$CORPUS")
packets=$(capinfos -c -M "$CORPUS" | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}')

# run NAME CMD...: median wall seconds and max RSS (KB) over OTHER_RUNS runs.
declare -A WALL RSS
run() {
  local name=$1; shift
  local walls=() rss=0
  for _ in $(seq "$OTHER_RUNS"); do
    local out
    /usr/bin/time -f '%e %M' -o "$bin/time" "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$bin/time")
    walls+=("${out% *}")
    local r=${out#* }
    [ "$r" -gt "$rss" ] && rss=$r
  done
  WALL[$name]=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  RSS[$name]=$rss
}

# sfbtrace and the bare loop alternate, run by run, and the ratio is the
# median of the pairwise ratios: on a shared machine the speed drifts
# between runs more than it differs between neighbours.
pairs=()
WALL[sfbtrace]=""; WALL[bareloop]=""; RSS[sfbtrace]=0; RSS[bareloop]=0
sw=(); bw=()
for _ in $(seq "$RUNS"); do
  for t in bareloop sfbtrace; do
    if [ "$t" = bareloop ]; then cmd=("$bin/bareloop" "$CORPUS"); else cmd=("$bin/sfbtrace" analyze "$CORPUS"); fi
    /usr/bin/time -f '%e %M' -o "$bin/time" "${cmd[@]}" >/dev/null 2>&1 || true
    out=$(tail -1 "$bin/time")
    r=${out#* }
    [ "$r" -gt "${RSS[$t]}" ] && RSS[$t]=$r
    if [ "$t" = bareloop ]; then bw+=("${out% *}"); else sw+=("${out% *}"); fi
  done
  pairs+=("$(awk -v s="${sw[-1]}" -v b="${bw[-1]}" 'BEGIN {print s/b}')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
WALL[sfbtrace]=$(median "${sw[@]}")
WALL[bareloop]=$(median "${bw[@]}")
PAIR=$(median "${pairs[@]}")
# The spread of the pairwise ratios: the host's load moves them by more
# than a change of a few percent, so a single median can mislead.
SPREAD=$(printf '%s\n' "${pairs[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f-%.2f", a[1], a[NR]}')
run ndpiReader ndpiReader -q -i "$CORPUS"
run tshark tshark -q -z conv,tcp -z conv,udp -r "$CORPUS"

echo "corpus: $CORPUS, $bytes bytes, $packets packets; $(nproc) cores; $(date -u +%F); median of $RUNS runs"
echo
echo "| tool | wall s | Mpps | MB/s | max RSS MiB | wall vs sfbtrace |"
echo "|---|---:|---:|---:|---:|---:|"
for t in sfbtrace bareloop ndpiReader tshark; do
  awk -v t="$t" -v w="${WALL[$t]}" -v r="${RSS[$t]}" -v p="$packets" -v b="$bytes" -v s="${WALL[sfbtrace]}" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2fx |\n", t, w, p/w/1e6, b/w/1e6, r/1024, w/s }'
done
echo
awk -v s="${WALL[sfbtrace]}" -v p="$PAIR" -v sp="$SPREAD" -v n="${WALL[ndpiReader]}" -v t="${WALL[tshark]}" -v r="${RSS[sfbtrace]}" 'BEGIN {
  printf "targets: sfbtrace/bare loop %.2fx (median of pairwise ratios, %sx from lowest to highest; <= 1.5x), tshark/sfbtrace %.1fx (>= 40x), ndpiReader/sfbtrace %.1fx (>= 4x), sfbtrace RSS %.0f MiB (<= 150 MB)\n", p, sp, t/s, n/s, r/1024 }'
