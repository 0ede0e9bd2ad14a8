#!/usr/bin/env python3
"""-2- synchrone Nachricht: the sender waits until the receiver has the
message and confirmed it (its Quittung); the receiver here is busy first."""
import threading
import time

import pubsub

with pubsub.connect() as sender, pubsub.connect() as receiver:
    receiver.subscribe("alerts")
    busy = threading.Thread(target=lambda: (time.sleep(0.3), print("receiver: %s"
                            % receiver.recv(timeout=5).text)))  # 0.3 s busy, then it receives
    busy.start()
    t0 = time.monotonic()
    confirmed = sender.publish_sync("alerts", None, "disk full")
    print("sender: %s confirmed after %.0f ms" % (confirmed, (time.monotonic() - t0) * 1000))
    busy.join()
