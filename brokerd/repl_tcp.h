/*
 * repl_tcp.h - the replication transport: libraft's TCP transport whose
 * outgoing connections fail within a bound on a dead path, so that a
 * healed path carries Raft traffic again at once (repl_tcp.c says why).
 * Used by repl_raft.c only, on its replication thread.
 */
#ifndef REPL_TCP_H
#define REPL_TCP_H

#include <raft/uv.h>

/* Sets up t (as raft_uv_tcp_init does): connections and connects that
 * get no acknowledgement for user_timeout_ms fail.  0 or a RAFT_* code. */
int repl_tcp_init(struct raft_uv_transport *t, struct uv_loop_s *loop, unsigned user_timeout_ms);

/* Frees what repl_tcp_init made, once libraft closed t (as
 * raft_uv_tcp_close does). */
void repl_tcp_close(struct raft_uv_transport *t);

#endif
