"""Opens N keep-alive connections, sends one request on each, keeps them open and idle, and
prints the resident memory (kB) of the given process while they are held. With a sixth
argument `one-by-one`, each answer is read before the next connection is opened (clients
arriving over time) instead of all N requests being in flight at once (a burst)."""
import socket, sys, time

host, port, n, path, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
one_by_one = len(sys.argv) > 6 and sys.argv[6] == "one-by-one"


def answer(s):
    s.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)


conns = []
for _ in range(n):
    s = socket.create_connection((host, port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    conns.append(s)
    if one_by_one:
        answer(s)
if not one_by_one:
    for s in conns:
        answer(s)
time.sleep(1)
rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
print(rss)
for s in conns:
    s.close()
