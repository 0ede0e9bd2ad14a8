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

/* 1 (once per connection) when the last connection this replica made to
 * peer id was closed by the peer (its process died, or closed it) or by
 * the path (TCP_USER_TIMEOUT); 0 while it is open, or once libraft closed
 * it itself (it dials again). */
int repl_tcp_peer_closed(struct raft_uv_transport *t, raft_id id);

/* Frees what repl_tcp_init made, once libraft closed t (as
 * raft_uv_tcp_close does). */
void repl_tcp_close(struct raft_uv_transport *t);

#endif
