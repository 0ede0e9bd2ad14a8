/*
 * defaults.h - the numbers more than one part of pubsub must agree on, in
 * one place: the default endpoint, frame sizes and the waits a caller gets
 * when it names none.  A value that only one file uses stays in that file;
 * one that the broker and the library (or the tools) both assume lives
 * here, so that changing it cannot leave the two sides disagreeing.
 */
#ifndef PS_DEFAULTS_H
#define PS_DEFAULTS_H

/* The lecture's port on loopback: where the broker listens and the
 * library connects when nobody says otherwise. */
#define PS_DEFAULT_PORT 5242
#define PS_DEFAULT_TCP "tcp://127.0.0.1:5242"

/* Bytes per frame either side packs records into, beyond a single record
 * that is larger on its own.  64 KiB keeps a frame within one socket
 * buffer while amortising the per-frame cost of libzmq. */
#define PS_FRAME_MAX 65536u

/* Slack the broker allows above max_message_size for a whole frame (the
 * record heads and names around the largest payload). */
#define PS_FRAME_SLACK 65536

/* The wait of a sync publish or request whose caller gave 0 ms. */
#define PS_DEFAULT_WAIT_MS 5000

/* Handshake timeout and heartbeat silence a client allows by default,
 * and the broker's default heartbeat timeout. */
#define PS_DEFAULT_TIMEOUT_MS 3000
#define PS_DEFAULT_HEARTBEAT_TIMEOUT_MS 3000

/* How long the tools wait for the broker when the user says nothing. */
#define PS_TOOL_TIMEOUT_MS 5000

#endif
