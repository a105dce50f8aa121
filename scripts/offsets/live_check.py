"""Check the measured offsets against a live interpreter (CPython 3.13+, x86_64 Linux, glibc).

Run it with the interpreter being measured:
    python3.X live_check.py LAYOUT DEBUG [--tls-tstate=N] [--tls-gilstate=N]
LAYOUT and DEBUG are the outputs of the layout and debug_offsets programs built
from the same interpreter's headers; N are fs-relative TLS offsets decoded from
the binary by measure.sh.  Everything is read from this process's own memory
with ctypes (string_at does not release the GIL).  Prints one "ok"/"FAIL" line
per check and exits 1 if any check failed.
"""
import ctypes
import os
import struct
import sys
import threading
import types

failures = 0


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures += 1


def mem(addr, n):
    return ctypes.string_at(addr, n)


def u64(addr):
    return struct.unpack("<Q", mem(addr, 8))[0]


def u32(addr):
    return struct.unpack("<I", mem(addr, 4))[0]


def i32(addr):
    return struct.unpack("<i", mem(addr, 4))[0]


def u8(addr):
    return mem(addr, 1)[0]


# ---------------------------------------------------------------- inputs
args = [a for a in sys.argv[1:] if not a.startswith("--")]
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
L = {}
for line in open(args[0]):
    k, _, v = line.strip().partition(" ")
    v = v.strip()
    if v.isdigit():
        L[k] = int(v)
D = {}
for line in open(args[1]):
    k, pos, val = line.split()
    D[k[len("dbg."):]] = (int(pos), int(val))
TAG = L.get("Py_TAG_BITS", 0)
ver = sys.version_info
print(f"# live check of {sys.version.split()[0]} ({sys.executable})")

# ------------------------------------------------------- find _PyRuntime
rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))


def elf_symbol(path, name):
    """(st_value, e_type, phdrs) of a symbol in .dynsym/.symtab of an ELF64 file."""
    data = open(path, "rb").read()
    e_type = struct.unpack_from("<H", data, 16)[0]
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 54)
    phdrs = [struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize) for i in range(e_phnum)]
    shdrs = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    found = {}
    for sh in shdrs:
        if sh[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strtab = shdrs[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", strtab[4] + st_name)
            if st_shndx != 0 and data[strtab[4] + st_name:end] == name.encode():  # defined here
                found["dynsym" if sh[1] == 11 else "symtab"] = st_value
    return found, e_type, phdrs


def elf_runtime_address(name):
    maps = [l.split() for l in open("/proc/self/maps")]
    files = []
    for m in maps:
        if len(m) >= 6 and m[5] not in files and ("python" in m[5]):
            files.append(m[5])
    for path in files:
        found, e_type, phdrs = elf_symbol(path, name)
        if not found:
            continue
        st_value = found.get("dynsym", found.get("symtab"))
        if e_type == 2:  # ET_EXEC: no load bias
            return path, "ET_EXEC", st_value + 0, found
        for m in maps:  # ET_DYN: bias from the mapping of the first PT_LOAD
            if len(m) >= 6 and m[5] == path:
                start, off = int(m[0].split("-")[0], 16), int(m[2], 16)
                for ph in phdrs:
                    if ph[0] == 1 and (ph[2] & ~0xFFF) == off:
                        return path, "ET_DYN", start - (ph[3] & ~0xFFF) + st_value, found
    return None, None, None, {}


path, etype, rt_elf, found = elf_runtime_address("_PyRuntime")
print(f"# _PyRuntime at {rt:#x} (ctypes); ELF {path} {etype} symbol tables {sorted(found)} -> {rt_elf:#x}")
check(rt == rt_elf, "_PyRuntime address from ELF symbol + /proc/self/maps == ctypes address")

# ------------------------------------------ _Py_DebugOffsets stored values
check(mem(rt, 8) == b"xdebugpy", "cookie 'xdebugpy' at _PyRuntime+0")
for field, (pos, want) in sorted(D.items(), key=lambda kv: kv[1][0]):
    if field in ("sizeof", "cookie"):
        continue
    got = u64(rt + pos)
    check(got == want, f"_Py_DebugOffsets.{field} @+{pos}: stored {got}, offsetof {want}")

# ---------------------------------------------------------------- threads
libc = ctypes.CDLL(None, use_errno=True)
libc.pthread_self.restype = ctypes.c_ulong
libc.pthread_getspecific.restype = ctypes.c_void_p
libc.pthread_getspecific.argtypes = [ctypes.c_uint]
libc.syscall.restype = ctypes.c_long
ctypes.pythonapi.PyThreadState_Get.restype = ctypes.c_void_p
ctypes.pythonapi.PyInterpreterState_Main.restype = ctypes.c_void_p

tss_key = None
if "_PyRuntimeState.autoTSSkey" in L:
    k = L["_PyRuntimeState.autoTSSkey"]
    check(i32(rt + k) == 1, f"autoTSSkey._is_initialized == 1 at _PyRuntime+{k}")
    tss_key = u32(rt + L["_PyRuntimeState.autoTSSkey._key"])
    print(f"# autoTSSkey._key = {tss_key}")


def fsbase():
    out = ctypes.c_ulong()
    libc.syscall(158, 0x1003, ctypes.byref(out))  # arch_prctl(ARCH_GET_FS)
    return out.value


def me():
    return dict(
        name=threading.current_thread().name,
        ident=threading.get_ident(),
        native=threading.get_native_id(),
        pthread_self=libc.pthread_self(),
        fsbase=fsbase(),
        tstate=ctypes.pythonapi.PyThreadState_Get(),
        tss=libc.pthread_getspecific(tss_key) if tss_key is not None else None,
    )


info = {}
stop = threading.Event()
ready = threading.Barrier(3)


def spinner():
    info["spinner"] = me()
    ready.wait()
    x = 0
    while not stop.is_set():
        x += 1


def sleeper():
    info["sleeper"] = me()
    ready.wait()
    stop.wait()


threads = [threading.Thread(target=spinner, name="spinner"), threading.Thread(target=sleeper, name="sleeper")]
for t in threads:
    t.start()
info["main"] = me()
ready.wait()
import time

time.sleep(0.2)  # let the sleeper block in stop.wait() (GIL released)

for who, i in info.items():
    check(i["ident"] == i["pthread_self"] == i["fsbase"],
          f"{who}: threading.get_ident() == pthread_self() == fsbase ({i['fsbase']:#x})")
    if tss_key is not None:
        check(i["tss"] == i["tstate"], f"{who}: pthread_getspecific(autoTSSkey) == tstate")

interp = u64(rt + L["_PyRuntimeState.interpreters.head"])
check(interp == ctypes.pythonapi.PyInterpreterState_Main(),
      "_PyRuntime.interpreters.head == PyInterpreterState_Main() (single interpreter)")
check(u64(interp + L["PyInterpreterState.next"]) == 0, "main interp .next == NULL")
walk = {}
ts = u64(interp + L["PyInterpreterState.threads.head"])
n = 0
while ts and n < 100:
    walk[ts] = dict(thread_id=u64(ts + L["PyThreadState.thread_id"]),
                    native=u64(ts + L["PyThreadState.native_thread_id"]),
                    interp=u64(ts + L["PyThreadState.interp"]),
                    state=i32(ts + L["PyThreadState.state"]),
                    holds_gil=(i32(ts + L["PyThreadState.holds_gil"]) if "PyThreadState.holds_gil" in L
                               else (u32(ts + L["PyThreadState._status"]) >> 5) & 1))
    ts = u64(ts + L["PyThreadState.next"])
    n += 1
print(f"# thread walk found {len(walk)} tstates")
check(set(walk) == {i["tstate"] for i in info.values()},
      "walk interpreters.head -> threads.head -> next finds exactly the 3 live tstates")
for who, i in info.items():
    w = walk.get(i["tstate"])
    if not w:
        continue
    check(w["thread_id"] == i["pthread_self"], f"{who}: tstate.thread_id == pthread_self()")
    check(w["native"] == i["native"], f"{who}: tstate.native_thread_id == gettid()")
    check(w["interp"] == interp, f"{who}: tstate.interp == interp")
    print(f"#   {who}: state={w['state']} holds_gil={w['holds_gil']}")
check(walk[info["main"]["tstate"]]["state"] == 1 and walk[info["main"]["tstate"]]["holds_gil"] == 1,
      "main (running this check): state == 1 (attached), holds_gil == 1")
check(walk[info["sleeper"]["tstate"]]["state"] == 0 and walk[info["sleeper"]["tstate"]]["holds_gil"] == 0,
      "sleeper (blocked in C): state == 0 (detached), holds_gil == 0")
gil = u64(interp + L["PyInterpreterState.ceval.gil"])
check(gil == interp + L["PyInterpreterState._gil"], "interp.ceval.gil == &interp._gil (own GIL)")
check(u64(interp + L["PyInterpreterState._gil.last_holder"]) == info["main"]["tstate"]
      and i32(interp + L["PyInterpreterState._gil.locked"]) == 1,
      "interp._gil.last_holder == main tstate and _gil.locked == 1")

# TLS variables at fixed fs offsets (static executables, local-exec model).
for opt, name in (("tls-gilstate", "_Py_tss_gilstate"), ("tls-tstate", "_Py_tss_tstate")):
    if opt not in opts:
        continue
    off = int(opts[opt], 0)
    vals = {who: u64(i["fsbase"] + off) for who, i in info.items()}
    desc = ", ".join(f"{who}={'tstate' if v == info[who]['tstate'] else hex(v)}" for who, v in vals.items())
    print(f"# {name} at fs{off:+#x}: {desc}")
    if opt == "tls-gilstate":
        check(all(v == info[w]["tstate"] for w, v in vals.items()),
              f"{name} at fs{off:+#x} == tstate in every thread (also the detached sleeper)")
    else:
        check(vals["main"] == info["main"]["tstate"] and vals["sleeper"] == 0,
              f"{name} at fs{off:+#x}: == tstate for the running main thread, NULL for the detached sleeper")

# glibc TSD slot of the autoTSSkey inside struct pthread (scan for the value).
if tss_key is not None:
    i = info["sleeper"]
    # struct pthread ends the thread's stack mapping: stay well inside it.
    hits = [o for o in range(0, 0x600, 8) if u64(i["fsbase"] + o) == i["tstate"]]
    base = [o - 16 * tss_key - 8 for o in hits]
    print(f"# glibc: sleeper tstate found at fs+{[hex(h) for h in hits]}; "
          f"=> specific_1stblock base {[hex(b) for b in base]} (slot = base + 16*key + 8)")
    check(0x310 + 16 * tss_key + 8 in hits, "glibc TSD slot at fs + 0x310 + 16*key + 8")

stop.set()
for t in threads:
    t.join()

# ----------------------------------------------------------------- frames
CO_OWNED_NON_PY = 3  # FRAME_OWNED_BY_CSTACK (3.13) / FRAME_OWNED_BY_INTERPRETER (3.14, 3.15)


def pystr(addr):
    state = u32(addr + L["PyASCIIObject.state"])
    length = u64(addr + L["PyASCIIObject.length"])
    assert state & 0x60 == 0x60, hex(state)  # compact ASCII
    return mem(addr + L["sizeof(PyASCIIObject)"], length).decode()


def check_frames():
    # The walk is written inline with ctypes' C-level from_address so that no
    # helper Python frame sits on top of (or overwrites) the chain being read:
    # the top frame is check_frames itself.
    Q, B = ctypes.c_uint64.from_address, ctypes.c_uint8.from_address
    ts = ctypes.pythonapi.PyThreadState_Get()
    f = Q(ts + L["PyThreadState.current_frame"]).value
    raw = []
    while f and len(raw) < 200:
        raw.append((f, B(f + L["_PyInterpreterFrame.owner"]).value,
                    Q(f + L["_PyInterpreterFrame.f_executable"]).value & ~TAG,
                    Q(f + L["_PyInterpreterFrame.instr_ptr"]).value))
        f = Q(f + L["_PyInterpreterFrame.previous"]).value
    py = []
    fr = sys._getframe()
    while fr:
        py.append(fr)
        fr = fr.f_back
    owners = [o for _, o, _, _ in raw]
    print(f"# frame chain owners (top first): {owners}")
    pyframes = [r for r in raw if r[1] < CO_OWNED_NON_PY]
    check(len(pyframes) == len(py), f"{len(pyframes)} Python frames in raw walk == {len(py)} from sys._getframe()")
    for k, ((f, owner, code, ip), pf) in enumerate(zip(pyframes, py)):
        c = pf.f_code
        ok = (code == id(c) and u64(code + 8) == id(types.CodeType)
              and pystr(u64(code + L["PyCodeObject.co_qualname"])) == c.co_qualname
              and u64(code + L["PyCodeObject.co_name"]) == id(c.co_name)
              and u64(code + L["PyCodeObject.co_filename"]) == id(c.co_filename)
              and u64(code + L["PyCodeObject.co_linetable"]) == id(c.co_linetable)
              and i32(code + L["PyCodeObject.co_firstlineno"]) == c.co_firstlineno
              and i32(code + L["PyCodeObject.co_argcount"]) == c.co_argcount
              and i32(code + L["PyCodeObject.co_flags"]) == c.co_flags
              and i32(code + L["PyCodeObject.co_nlocalsplus"]) == c.co_nlocals + len(c.co_cellvars) + len(c.co_freevars))
        lasti = ip - (code + L["PyCodeObject.co_code_adaptive"])
        if k > 0:  # the top frame (this function) keeps executing
            ok = ok and lasti == pf.f_lasti
        check(ok, f"frame {k} owner={owner} {c.co_qualname}: code fields and instr_ptr-co_code_adaptive={lasti}"
                  f" (f_lasti {pf.f_lasti})")
    bottom = raw[-1]
    print(f"# bottom frame: owner={bottom[1]} executable={bottom[2]:#x} (None is {id(None):#x})")
    if "PyThreadState.base_frame" in L:
        bf = u64(ts + L["PyThreadState.base_frame"])
        check(bf == bottom[0] and bf == ts + L["_PyThreadStateImpl.base_frame"],
              f"tstate.base_frame == last frame of the walk == tstate + {L['_PyThreadStateImpl.base_frame']}")
    return True


def gen():
    yield check_frames()


class K:
    def method(self):
        return next(gen())


K().method()

# ---------------------------------------------------------- subinterpreter
try:
    import _interpreters
except ImportError:
    _interpreters = None
if _interpreters is not None:
    sub = _interpreters.create()
    heads = []
    it = u64(rt + L["_PyRuntimeState.interpreters.head"])
    while it and len(heads) < 10:
        heads.append(it)
        it = u64(it + L["PyInterpreterState.next"])
    check(len(heads) == len(_interpreters.list_all()) and heads[-1] == ctypes.pythonapi.PyInterpreterState_Main(),
          f"with a subinterpreter: interpreters.head -> next chain has {len(heads)} interpreters, ending at main")
    _interpreters.destroy(sub)

print(f"# {failures} failure(s)")
sys.exit(1 if failures else 0)
