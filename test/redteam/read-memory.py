"""Red-team helper: read another process's memory and print any needle found in it.

usage: read-memory.py PID METHOD NEEDLE...   (METHOD: procmem | vmreadv)
Prints "FOUND <needle>" for each needle seen, and "ERROR <reason>" when memory cannot be read.
"""
import ctypes
import sys

pid, method, needles = int(sys.argv[1]), sys.argv[2], [n.encode() for n in sys.argv[3:]]


def regions():
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if "r" in parts[1] and end - start < 1 << 31:
                yield start, end


found, errors = set(), []


def scan(data):
    for n in needles:
        if n in data:
            found.add(n)


if method == "procmem":
    try:
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError as e:
        print(f"ERROR open /proc/{pid}/mem: {e.strerror}")
        sys.exit(2)
    for start, end in regions():
        try:
            mem.seek(start)
            scan(mem.read(end - start))
        except OSError as e:
            errors.append(e.strerror)
else:
    libc = ctypes.CDLL(None, use_errno=True)

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    libc.process_vm_readv.restype = ctypes.c_ssize_t
    for start, end in regions():
        size = end - start
        buf = ctypes.create_string_buffer(size)
        local, remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), size), IoVec(start, size)
        n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if n < 0:
            errors.append(ctypes.get_errno())
            continue
        scan(buf.raw[:n])

for n in sorted(found):
    print("FOUND " + n.decode())
if not found and errors:
    print(f"ERROR {len(errors)} region(s) unreadable, e.g. {errors[0]}")
