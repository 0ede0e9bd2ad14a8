#!/usr/bin/env python3
"""-3- asynchroner Auftrag: the client sends its requests without waiting
and collects the replies later; meanwhile it does something else."""
import threading

import pubsub

with pubsub.connect() as client, pubsub.connect() as server:
    server.subscribe("jobs", responder=True)

    def serve():  # answers each request with its length
        for _ in range(3):
            m = server.recv(timeout=5)
            m.reply(str(len(m.data)))

    threading.Thread(target=serve, daemon=True).start()
    tickets = {word: client.request_async("jobs", None, word) for word in ("a", "bb", "ccc")}
    print("client: 3 requests sent, doing something else meanwhile")
    for word, ticket in tickets.items():
        print("client: reply to %r: %s" % (word, ticket.result(timeout=5).text))
