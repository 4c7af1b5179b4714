# Ring buffer tests, run under MicroPython: persistence across a reboot, acks per boot, and the
# bounded size. Usage: micropython test_ring.py DIR
import sys
import ring

passed = 0
failed = 0


def check(name, condition):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print("FAIL", name)


path = sys.argv[1] + "/ring.dat"
r = ring.Ring(path, capacity=8)
for seq in range(5):
    r.append(1, seq, 1000 + seq, True, [(3, 970 + seq)])
r.close()

r = ring.Ring(path, capacity=8)  # a reboot: the file is all there is
check("survives a reboot", [p[1] for p in r.pending()] == [0, 1, 2, 3, 4])
check("values survive", list(r.pending())[2][4] == [(3, 972)])
r.append(2, 0, 5000, False, [(1, 700), (3, 950)])
check("ack clears only its boot", r.ack(2, 0) == 1 and [p[:2] for p in r.pending()] == [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)])
check("ack clears up to seq", r.ack(1, 2) == 3 and [p[1] for p in r.pending()] == [3, 4])
check("resend range", [p[1] for p in r.pending(1, 4, 9)] == [4])
for seq in range(5, 15):
    r.append(1, seq, 0, True, [(3, 900)])
check("bounded: oldest dropped", r.count == 8 and r.dropped == 4 and list(r.pending())[0][1] == 7)
r.close()
r = ring.Ring(path, capacity=8)
check("wrapped state survives", [p[1] for p in r.pending()] == list(range(7, 15)))
r.close()
print("micropython ring: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
