#!/usr/bin/env python3
"""-1- asynchrone Nachricht: the sender does not wait for the receiver; the
queue 'jobs' keeps the message until a receiver takes it."""
import time

import pubsub

with pubsub.connect() as sender, pubsub.connect() as receiver:
    t0 = time.monotonic()
    sender.publish("jobs", None, "build 1")  # returns once the message is in the send buffer
    print("sender: publish() returned after %.1f ms; nobody has received it yet"
          % ((time.monotonic() - t0) * 1000))
    sender.flush()  # the broker holds it now, still nobody received it
    receiver.subscribe("jobs")
    m = receiver.recv(timeout=5)
    m.ack()
    print("receiver, later: %s" % m.text)
