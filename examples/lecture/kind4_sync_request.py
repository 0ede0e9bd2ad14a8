#!/usr/bin/env python3
"""-4- synchroner Auftrag (RPC): the client waits for the reply, not only
for the receipt; the server answers each request."""
import threading

import pubsub

with pubsub.connect() as client, pubsub.connect() as server:
    server.subscribe("jobs", responder=True)

    def serve():
        m = server.recv(timeout=5)
        m.reply(m.text.upper())

    threading.Thread(target=serve, daemon=True).start()
    reply = client.request("jobs", None, "how are you?")  # waits for the answer
    print("client: request('how are you?') -> %s" % reply.text)
