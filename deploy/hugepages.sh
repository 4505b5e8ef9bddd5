#!/usr/bin/env bash
# deploy/hugepages.sh: reserve hugepages for dpnat and mount hugetlbfs.
# Idempotent: run it at every boot (or before every start); it only ever
# raises the reservation (other DPDK processes may be holding pages) and only
# mounts what is not mounted yet.
#
#   deploy/hugepages.sh [PAGES] [--size 2M|1G] [--node N] [--mount DIR]
#                       [--dry-run] [--status]
#
#   PAGES     pages to have reserved (default $DPNAT_HUGEPAGES or 1024,
#             i.e. 2 GiB of 2 MiB pages)
#   --size    page size (default 2M; 1G pages are best reserved at boot with
#             default_hugepagesz=1G hugepagesz=1G hugepages=N on the kernel
#             command line, as memory fragments after boot)
#   --node    reserve on one NUMA node (the NIC's) instead of system-wide
#   --mount   hugetlbfs mount point (default /dev/hugepages)
#   --dry-run say what would change, change nothing
#   --status  print the current reservation and mounts, change nothing
#
# A dpnat config that uses hugepages sets `no_huge = false` in [eal] and a
# `memory_mb` the reservation covers (plus what other DPDK apps use).
set -euo pipefail

pages=${DPNAT_HUGEPAGES:-1024}
size=2M
node=
mnt=/dev/hugepages
dry=
status=

usage() {
	sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--node) node=$2; shift 2 ;;
	--mount) mnt=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	--status) status=1; shift ;;
	-h | --help) usage ;;
	[0-9]*) pages=$1; shift ;;
	*) usage ;;
	esac
done

case $size in
2M | 2m | 2048k | 2048kB) size=2M; kb=2048 ;;
1G | 1g | 1048576k | 1048576kB) size=1G; kb=1048576 ;;
*) echo "hugepages: unsupported page size '$size' (2M or 1G)" >&2; exit 2 ;;
esac
case $pages in *[!0-9]* | "") echo "hugepages: PAGES must be a number" >&2; exit 2 ;; esac

if [ -n "$node" ]; then
	nr=/sys/devices/system/node/node$node/hugepages/hugepages-${kb}kB/nr_hugepages
else
	nr=/sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages
fi
[ -e "$nr" ] || { echo "hugepages: $nr missing (no $size pages on this kernel/node?)" >&2; exit 1; }

show() {
	echo "hugepages: $size pages reserved${node:+ on node $node}: $(cat "$nr") (free $(cat "${nr%nr_hugepages}free_hugepages"))"
	grep -E '^(HugePages_|Hugepagesize|Hugetlb)' /proc/meminfo | sed 's/^/  /'
	echo "hugetlbfs mounts:"
	awk '$3 == "hugetlbfs" { print "  " $2 " (" $4 ")" }' /proc/mounts
}

if [ -n "$status" ]; then
	show
	exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "hugepages: needs root" >&2; exit 1; }

# 1. Reservation: only ever raise it.
cur=$(cat "$nr")
if [ "$cur" -ge "$pages" ]; then
	echo "hugepages: $cur $size pages already reserved (want $pages): unchanged"
elif [ -n "$dry" ]; then
	echo "hugepages: would raise $size pages from $cur to $pages"
else
	echo "$pages" >"$nr"
	got=$(cat "$nr")
	if [ "$got" -lt "$pages" ]; then
		# Fragmented memory: compact once and retry.
		echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
		echo "$pages" >"$nr"
		got=$(cat "$nr")
	fi
	if [ "$got" -lt "$pages" ]; then
		echo "hugepages: asked for $pages $size pages, the kernel gave $got" >&2
		exit 1
	fi
	echo "hugepages: reserved $got $size pages (was $cur)"
fi

# 2. Mount: a hugetlbfs of this page size at $mnt.
mounted=$(awk -v m="$mnt" '$2 == m && $3 == "hugetlbfs" { print $4 }' /proc/mounts)
if [ -n "$mounted" ]; then
	case ",$mounted," in
	*",pagesize=$size,"* | *",pagesize=${size,,},"*) echo "hugepages: $mnt already mounted ($mounted)" ;;
	*)
		if [ "$size" = 2M ] && [[ ",$mounted," != *",pagesize="* ]]; then
			echo "hugepages: $mnt already mounted ($mounted)"
		else
			echo "hugepages: $mnt is a hugetlbfs with another page size ($mounted); use --mount" >&2
			exit 1
		fi
		;;
	esac
elif [ -n "$dry" ]; then
	echo "hugepages: would mount hugetlbfs (pagesize=$size) on $mnt"
else
	mkdir -p "$mnt"
	mount -t hugetlbfs -o "pagesize=$size" nodev "$mnt"
	echo "hugepages: mounted hugetlbfs (pagesize=$size) on $mnt"
fi

[ -n "$dry" ] || show
