#!/usr/bin/env bash
# Lab responder, run by socat once per TCP connection or UDP datagram:
#   socat TCP4-LISTEN:443,fork,reuseaddr EXEC:"responder.sh NAME tcp"
#   socat UDP4-RECVFROM:7,fork           EXEC:"responder.sh NAME udp"
# It answers with the address it saw the peer come from, so a test can tell
# which source NAT produced: "seen-from=ADDR:PORT server=NAME".
set -u
name=${1:-server}
mode=${2:-tcp}
peer="${SOCAT_PEERADDR:-unknown}:${SOCAT_PEERPORT:-0}"

if [ "$mode" = udp ]; then
	payload=
	IFS= read -r -t 1 payload || true
	printf 'seen-from=%s server=%s echo=%s\n' "$peer" "$name" "$payload"
	exit 0
fi

# TCP, HTTP-ish: consume the request head first (bounded), so closing the
# socket with unread data does not turn into a RST that eats the answer.
while IFS= read -r -t 2 line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
done
body="seen-from=$peer server=$name"
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' \
	$((${#body} + 1)) "$body"
