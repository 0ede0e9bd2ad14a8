"""cluster_driver.py - clients of a cluster test (issue 20) that the tools
cannot be: they count what a loop of tools would take too long to run.

    rounds N PUB_ENDPOINT   subscribe on $PUBSUB_BROKER (a topic of its own
                            each round), publish at once through
                            PUB_ENDPOINT (another node), wait up to 2 s for
                            it; prints "delivered D/N"
    noresp N                N requests to a topic nobody answers, on
                            $PUBSUB_BROKER; prints "p50 P99 max" in ms of
                            the "no responders" answers, and "wrong W" for
                            any other outcome

Run with PYTHONPATH at the source tree's python/ and PUBSUB_LIBRARY at the
build's libpubsub.so.1 (lib.sh's run_python, through cluster.sh's on).
"""

import os
import sys
import time

import pubsub


def rounds(n, pub_endpoint):
    delivered = 0
    with pubsub.connect(os.environ["PUBSUB_BROKER"]) as sub, pubsub.connect(pub_endpoint) as pub:
        for i in range(n):
            topic = "r/%d" % i
            sub.subscribe("logs", topic)  # returns at the OK
            pub.publish("logs", topic, str(i))
            pub.flush()
            deadline = time.monotonic() + 2.0
            while True:
                left = deadline - time.monotonic()
                try:
                    m = sub.recv(timeout=max(left, 0.001))
                except pubsub.Timeout:
                    break
                if m.topic == topic and m.text == str(i):
                    delivered += 1
                    break
            sub.unsubscribe("logs", topic)
    print("delivered %d/%d" % (delivered, n))


def noresp(n):
    lat, wrong = [], 0
    with pubsub.connect(os.environ["PUBSUB_BROKER"]) as c:
        for _ in range(n):
            t0 = time.monotonic()
            try:
                c.request("logs", "svc/nobody", b"?", timeout=2.0)
                wrong += 1
            except pubsub.NoResponders:
                lat.append(time.monotonic() - t0)
            except pubsub.PubsubError:
                wrong += 1
    lat.sort()
    pct = lambda p: 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else -1
    print("%.3f %.3f %.3f wrong %d" % (pct(0.50), pct(0.99), pct(1.0), wrong))


if __name__ == "__main__":
    if sys.argv[1] == "rounds":
        rounds(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "noresp":
        noresp(int(sys.argv[2]))
    else:
        sys.exit("cluster_driver.py: unknown command %s" % sys.argv[1])
