#!/usr/bin/env python3
"""cpu-breakdown.py PROFILE...: where a counter node's CPU goes, by part of the node.

Reads Go CPU profiles (those legion-bench profile writes) through `go tool pprof
-traces`, puts each sampled stack in the first bucket one of whose markers a frame of it
contains, and prints each bucket's share of the samples and how much of that was spent
in the kernel's entry points (syscalls, futex, epoll). Several profiles are summed.
"""
import subprocess
import sys

# (bucket, markers): the first bucket with a marker in any frame of a stack takes it.
BUCKETS = [
    ("fsync (pebble WAL, fdatasync)", ["unix.Fdatasync", "unix.Fsync", "syscall.Fsync"]),
    ("pebble other (commit pipeline, WAL write, memtable)", ["cockroachdb/pebble"]),
    ("HTTP API (net/http, the handler, Ref.Call)", ["net/http.(*conn).serve"]),
    ("remoting send (endpointWriter, gRPC client)", ["endpointWriter", "loopyWriter", "http2Client", "bufWriter"]),
    ("remoting receive (gRPC server, endpointReader)", ["http2Server", "endpointReader", "grpc.(*Server)"]),
    ("replicas and shards (actor mailboxes)", ["legion-go/legion/actor", "legion-go/legion/lattice", "legion-go/legion/gc"]),
    ("gossip (memberlist)", ["memberlist"]),
    ("garbage collector", ["gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"]),
    ("scheduler (idle Ms looking for work, wake-ups)", ["runtime.schedule", "runtime.findRunnable", "runtime.mcall",
                                                        "runtime.park_m", "runtime.mstart", "runtime.sysmon"]),
]
KERNEL = ["linux.Syscall6", "runtime.futex", "EpollWait", "runtime.usleep", "runtime.nanotime", "runtime.osyield",
          "runtime.write1", "runtime.read", "runtime.madvise", "runtime.mmap", "runtime.tgkill"]


def parse_ms(s):
    s = s.strip()
    for unit, f in (("ms", 1.0), ("us", 1e-3), ("µs", 1e-3), ("s", 1000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return 0.0


def stacks(path):
    out = subprocess.run(["go", "tool", "pprof", "-traces", path], capture_output=True, text=True, check=True).stdout
    for block in out.split("-----------+-------------------------------------------------------")[1:]:
        ms, frames = 0.0, []
        for line in block.strip("\n").split("\n"):
            parts = line.split()
            if not parts or parts[0].endswith(":"):  # a label line (pebble: wal-sync)
                continue
            if not frames and len(parts) >= 2 and parts[0][0].isdigit():
                ms = parse_ms(parts[0])
                frames.append(parts[1])
            else:
                frames.append(parts[-1])
        if frames:
            yield ms, frames


def main(paths):
    total, per, kern = 0.0, {}, {}
    for p in paths:
        for ms, frames in stacks(p):
            total += ms
            name = "other"
            for bucket, markers in BUCKETS:
                if any(m in f for f in frames for m in markers):
                    name = bucket
                    break
            per[name] = per.get(name, 0.0) + ms
            if any(k in frames[0] for k in KERNEL):
                kern[name] = kern.get(name, 0.0) + ms
    print(f"{total:.0f} ms of samples in {len(paths)} profile(s)")
    for name, ms in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * ms / total:5.1f}%  {ms:7.0f} ms  (in the kernel: {100 * kern.get(name, 0) / max(ms, 1e-9):3.0f}%)  {name}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
