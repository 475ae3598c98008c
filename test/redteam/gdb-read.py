# Red-team helper, run inside gdb attached to the key holder (gdb -p PID -batch -x this):
# reads every readable mapping through ptrace and prints "FOUND <needle>" for each needle
# (from the NEEDLES environment variable, space-separated) seen in the process's memory.
import os

import gdb

needles = [n.encode() for n in os.environ["NEEDLES"].split()]
inferior = gdb.selected_inferior()
found = set()
with open("/proc/%d/maps" % inferior.pid) as maps:
    for line in maps:
        parts = line.split()
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if "r" not in parts[1] or end - start > 1 << 28:
            continue
        try:
            data = bytes(inferior.read_memory(start, end - start))
        except Exception:
            continue
        for n in needles:
            if n in data:
                found.add(n)
for n in sorted(found):
    print("FOUND " + n.decode())
