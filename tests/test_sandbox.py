"""The sandbox of a student's process: what it can see, reach and use (d2lgrade.sandbox).

Every test here asks a real confined child, forked from one zygote. Run as
root (as CI runs) every protection applies; otherwise the tests that need
one skip, saying which.
"""

import functools
import json
import os
import tempfile
import textwrap
import time

import pytest

from d2lgrade import sandbox, wire
from d2lgrade.transport import ChildTransport, TransportDied

STARTUP = 60.0


def run(transport: ChildTransport, source: str, timeout: float = 30.0) -> dict:
    return transport.request({"op": "run_cell", "source": textwrap.dedent(source)}, timeout=timeout)


def printed(transport: ChildTransport, source: str, timeout: float = 30.0) -> str:
    answer = run(transport, source, timeout)
    assert answer["status"] == "ok", answer
    return answer["stdout"].strip()


def needs(transport: ChildTransport, protection: str) -> None:
    if transport.confinement.get(protection) is not True:
        pytest.skip(f"{protection} is not confined here: {transport.confinement.get(protection)}")


def test_the_child_reports_what_was_applied(spawn):
    child = spawn()
    protections = ("network", "filesystem", "own_uid", "own_processes", "own_ipc", "syscall_filter")
    assert set(child.confinement) >= {"uid", *protections}
    assert child.confinement["memory"] == sandbox.MEMORY_ACCOUNTING
    if os.geteuid() == 0:  # as CI runs: everything applies
        assert [child.confinement[protection] for protection in protections] == [True] * len(protections), child.confinement
        assert child.confinement["uid"] == sandbox.UID_BASE + child.pid


def test_the_child_sees_no_file_of_the_grading_side(spawn, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the hidden answer")
    child = spawn()
    needs(child, "filesystem")
    seen = printed(child, f"""
        import os
        print([os.path.exists(p) for p in ({str(secret)!r}, {str(tmp_path)!r}, {os.getcwd()!r} + '/graders')])
        print(os.path.exists({str(tmp_path.parents[1])!r}), os.getcwd())
        """)
    assert seen.splitlines() == ["[False, False, False]", "False /home/student"]


def test_the_child_cannot_write_outside_its_tmpfs(spawn):
    child = spawn()
    needs(child, "filesystem")
    seen = printed(child, """
        import errno
        for path in ('/etc/evil', '/usr/evil', '/evil', '/work/evil'):
            try:
                open(path, 'w')
                print('wrote', path)
            except OSError as exc:
                print(errno.errorcode[exc.errno])
        """)
    assert "wrote" not in seen, seen


def test_the_child_has_no_network(spawn):
    child = spawn()
    needs(child, "network")
    seen = printed(child, """
        import socket
        for address in (('127.0.0.1', 22), ('1.1.1.1', 80)):
            try:
                socket.create_connection(address, timeout=2).close()
                print('connected')
            except OSError as exc:
                print(type(exc).__name__)
        """)
    assert "connected" not in seen, seen


def test_the_child_can_signal_neither_the_zygote_nor_the_grader(spawn, zygote):
    child = spawn()
    needs(child, "own_uid")
    seen = printed(child, f"""
        import os
        for pid in ({zygote.process.pid}, {os.getpid()}):
            try:
                os.kill(pid, 0)
                print('reachable')
            except PermissionError:
                print('refused')
            except ProcessLookupError:  # its own pid namespace: they are not even there
                print('invisible')
        """)
    assert len(seen.split()) == 2 and "reachable" not in seen.split(), seen


def test_the_child_sees_only_its_own_processes_and_they_all_end_with_it(spawn):
    """Its /proc is its pid namespace's: no command lines of the grader's or another student's. When the student's
    process ends, the kernel ends every process left in there, one that left its session included."""
    child = spawn()
    needs(child, "own_processes")
    needs(child, "own_uid")
    seen = printed(child, """
        import os, signal, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
            os._exit(0)
        time.sleep(0.2)
        processes = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
        print(processes[:2], len(processes), os.getpid(), os.getppid())
        os.kill(1, signal.SIGKILL)  # the namespace's init: a signal it has no handler for is dropped
        """)
    assert seen == "[1, 2] 3 2 1"  # the init, itself and the one it started
    uid = child.confinement["uid"]
    assert len(sandbox.processes_of(uid=uid)) == 4, "waiting outside, the init, the student's process and the one it left"
    student = next(pid for pid in sandbox.processes_of(uid=uid) if _namespace_pid(pid) == 2)
    os.kill(student, 9)  # not through the transport, whose close would sweep the uid itself
    deadline = time.monotonic() + 10
    while sandbox.processes_of(uid=uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.processes_of(uid=uid) == []


def _namespace_pid(pid: int) -> int:
    """The pid a process has in its innermost pid namespace."""
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("\nNSpid:", 1)[1].split("\n", 1)[0].split()[-1])


SHM = textwrap.dedent("""
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    libc.shmat.argtypes, libc.shmat.restype = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int], ctypes.c_void_p
    """)


def _host_segment(key: int) -> int:
    """A SysV shared-memory segment of this process's namespace, holding b"host" (IPC_CREAT | 0o666)."""
    import ctypes

    namespace = {}
    exec(SHM, namespace)
    libc = namespace["libc"]
    segment = libc.shmget(key, 4096, 0o1000 | 0o666)
    assert segment >= 0, os.strerror(ctypes.get_errno())
    address = libc.shmat(segment, None, 0)
    ctypes.memmove(address, b"host", 4)
    libc.shmdt(ctypes.c_void_p(address))
    return segment


def _remove_segment(segment: int) -> None:
    import ctypes

    ctypes.CDLL(None).shmctl(segment, 0, None)  # IPC_RMID


def test_the_child_has_an_ipc_namespace_of_its_own_and_bounded(spawn):
    """A segment of the host's or of a classmate's is not there for the child, and its own limits hold."""
    host_key, classmate_key = 0x2D1A0001, 0x2D1A0002
    host_segment = _host_segment(host_key)
    try:
        writer, reader = spawn(), spawn()
        needs(reader, "own_ipc")
        made = printed(writer, SHM + textwrap.dedent(f"""
            segment = libc.shmget({classmate_key}, 4096, 0o1000 | 0o666)
            ctypes.memmove(libc.shmat(segment, None, 0), b"note", 4)
            print(segment >= 0)
            """))
        assert made == "True"
        seen = printed(reader, SHM + textwrap.dedent(f"""
            print([libc.shmget(key, 0, 0) for key in ({host_key}, {classmate_key})])
            print(len(open('/proc/sysvipc/shm').read().splitlines()) - 1)
            print(open('/proc/sys/kernel/shmmax').read().strip(), libc.shmget(0, 300 * 2**20, 0o1000 | 0o600))
            """))
    finally:
        _remove_segment(host_segment)
    assert seen.splitlines() == ["[-1, -1]", "0", f"{sandbox.IPC_LIMITS['shmmax']} -1"]
    assert f"{classmate_key:10d}" not in open("/proc/sysvipc/shm").read()  # nor left on the host


def test_the_child_can_make_no_user_namespace_nor_io_uring_but_threads_and_processes(spawn):
    """In a user namespace of its own it could mount a filesystem whose memory no watch sees."""
    child = spawn()
    needs(child, "syscall_filter")
    seen = printed(child, """
        import ctypes, errno, os, subprocess, threading
        libc = ctypes.CDLL(None, use_errno=True)
        reader, writer = os.pipe()
        if os.fork() == 0:  # one thread, as unshare wants
            made = libc.unshare(0x10000000 | 0x00020000) == 0  # a user and a mount namespace
            os.write(writer, b'made' if made else errno.errorcode[ctypes.get_errno()].encode())
            os._exit(0)
        print(os.read(reader, 16).decode())
        libc.syscall(425, 8, None)  # io_uring_setup
        print(errno.errorcode[ctypes.get_errno()])
        worker = threading.Thread(target=print, args=('thread',))
        worker.start(); worker.join()
        print(subprocess.run(['true']).returncode)
        """)
    assert seen.split() == ["EPERM", "ENOSYS", "thread", "0"]


def test_the_child_cannot_start_too_many_processes(spawn):
    child = spawn(policy=sandbox.Policy(processes=40))
    needs(child, "own_uid")
    seen = printed(child, """
        import os, time
        started = 0
        for _ in range(100):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            started += 1
        print(started)
        """)
    assert int(seen) < 40


def test_a_memory_bomb_is_stopped_with_a_clear_message(spawn):
    child = spawn(memory=1024**3)
    started = time.monotonic()
    with pytest.raises(TransportDied, match="more than 1 GiB of memory"):
        run(child, """
            hoard = []
            for _ in range(24):  # 3 GiB at most, in 128 MiB steps
                hoard.append(bytearray(128 * 1024 * 1024))
            """)
    assert time.monotonic() - started < 20


def test_memory_is_measured_as_pss_where_the_resident_size_overcounts():
    """A forked process shares its pages with its parent: its resident size counts them whole, its PSS by half.
    The cheap resident size may only rule a limit out, never call it crossed."""
    data = bytearray(os.urandom(64 * 1024 * 1024))  # private pages the fork will share
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(0.2)
        pss, resident = sandbox.memory_used([pid]), sandbox._resident([pid])
        assert resident > 1.3 * pss, (resident, pss)
        assert not sandbox.memory_over([pid], (resident + pss) // 2)
        assert sandbox.memory_over([pid], pss // 2)
        assert not sandbox.memory_over([pid], 2 * resident)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    del data


def test_memory_held_in_an_unmapped_memfd_counts_once_however_shared():
    """A memfd holds memory without any mapping, so no PSS shows it; a forked process shares it."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        memfd = os.memfd_create("hoard")
        os.write(memfd, b"\x01" * (48 * 1024 * 1024))
        os.fork()  # both hold the same memfd
        os.write(writer, b".")
        time.sleep(30)
        os._exit(0)
    try:
        os.read(reader, 1)
        holders = [pid, *_children_of(pid)]
        assert len(holders) == 2
        assert 48 * 1024**2 <= sandbox.held_in_files(holders) < 49 * 1024**2
        pss = sandbox._pss(holders)
        assert sandbox.memory_used(holders) >= pss + 48 * 1024**2
        assert sandbox.memory_over(holders, pss + 40 * 1024**2)
    finally:
        for holder in [*_children_of(pid), pid]:
            os.kill(holder, 9)
        os.waitpid(pid, 0)


def _children_of(pid: int) -> list[int]:
    return [int(child) for child in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_memory_held_in_the_childs_own_tmpfs_counts(spawn):
    """A file in its /tmp, even deleted but still open, is memory too; the host's tmpfs is not the child's."""
    child = spawn()
    needs(child, "filesystem")
    before = sandbox.held_in_files(child._processes())
    printed(child, """
        import os
        hoard = open('/tmp/hoard', 'wb')
        hoard.write(b'\x01' * 32 * 1024 * 1024)
        hoard.flush()
        os.unlink('/tmp/hoard')
        print('held')
        """)
    held = sandbox.held_in_files(child._processes()) - before
    assert 32 * 1024**2 <= held < 33 * 1024**2, held


def test_a_tmpfs_whose_path_now_leads_elsewhere_counts_nothing(monkeypatch):
    """A child setting up its sandbox moves its mounts: a tmpfs read from its mountinfo may by then
    lead to the host's disk, whose usage must not count as the child's memory."""
    disk = os.stat("/").st_dev
    elsewhere = f"{os.major(disk)}:{os.minor(disk) + 1}"  # a tmpfs device that is not the disk's
    monkeypatch.setattr(sandbox, "_mount_namespace", lambda pid: "self" if pid == "self" else "the child's")
    monkeypatch.setattr(sandbox, "_tmpfs_mounts", lambda pid: [] if pid == "self" else [(elsewhere, "/")])
    assert sandbox._own_tmpfs_bytes([os.getpid()]) == 0
    still = f"{os.major(disk)}:{os.minor(disk)}"
    monkeypatch.setattr(sandbox, "_tmpfs_mounts", lambda pid: [] if pid == "self" else [(still, "/")])
    assert sandbox._own_tmpfs_bytes([os.getpid()]) > 0  # the same path, still that device: counted


def test_a_memory_bomb_of_memfds_is_stopped(spawn):
    child = spawn(memory=1024**3)
    started = time.monotonic()
    with pytest.raises(TransportDied, match="more than 1 GiB of memory"):
        run(child, """
            import os
            hoard = []
            for _ in range(32):  # 2 GiB at most, in 64 MiB files that are never mapped
                hoard.append(os.memfd_create('hoard'))
                os.ftruncate(hoard[-1], 64 * 1024 * 1024)
                os.pwrite(hoard[-1], b'\x01' * 64 * 1024 * 1024, 0)
            """)
    assert time.monotonic() - started < 20


def test_closing_the_child_ends_every_process_it_started(spawn):
    child = spawn()
    answer = run(child, """
        import os, time
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()  # out of the child's session and process group
                time.sleep(60)
                os._exit(0)
        """)
    assert answer["status"] == "ok", answer
    confinement, pid = child.confinement, child.pid
    child.close()
    left = functools.partial(sandbox.processes_of, **({"uid": confinement["uid"]} if confinement.get("own_uid") is True
                                                        else {"session": pid}))
    deadline = time.monotonic() + 5  # killed, they may take the kernel a moment to end; unkilled, 60 s
    while left() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left() == []


def test_values_still_cross_the_wire(spawn):
    child = spawn()
    run(child, "import torch\ndef double(x):\n    return x * 2")
    answer = child.request({"op": "call", "name": "double", "args": wire.encode_argument([3]), "seed": 0}, timeout=10)
    assert wire.decode(answer["value"]) == 6


def test_without_root_what_could_not_be_applied_is_recorded():
    """A process that is not root confines itself as far as the kernel lets it, and says what it could not."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user for the test")
    root = tempfile.mkdtemp(prefix="d2lgrade-test-")  # in /tmp: pytest's own folders are root's alone
    os.chmod(root, 0o777)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            report = sandbox.confine(sandbox.Policy(), root)
            os.write(writer, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    os.rmdir(root)
    report = json.loads(os.read(reader, 65536))
    assert report["uid"] == 65534
    assert report["own_uid"] == "the grader does not run as root"
    for protection in ("network", "filesystem", "own_processes", "own_ipc", "syscall_filter"):
        assert report[protection] is True or isinstance(report[protection], str)


def test_the_graders_environment_stays_behind(tmp_path, monkeypatch):
    """A secret in the grader's environment is neither in os.environ nor in /proc/self/environ of the child."""
    monkeypatch.setenv("D2LGRADE_TEST_SECRET", "hunter2")
    assert "D2LGRADE_TEST_SECRET" not in sandbox.child_environment({})
    child = ChildTransport(tmp_path, startup_timeout=STARTUP)  # started afresh, not forked
    child.start()
    try:
        seen = printed(child, """
            import os
            try:
                first = open('/proc/self/environ', 'rb').read()
            except PermissionError:  # a process that changed uid may not even read its own
                first = b''
            print('hunter2' in str(os.environ), b'hunter2' in first)
            """)
    finally:
        child.close()
    assert seen == "False False"


def test_the_table_warns_staff_when_a_protection_was_missing():
    from rich.console import Console

    from d2lgrade.results import SubmissionResult
    from d2lgrade.table import print_table

    confined = {"uid": 3000001, "network": True, "filesystem": True, "own_uid": True, "own_ipc": True,
                "memory": sandbox.MEMORY_ACCOUNTING}  # a description, not a missing protection
    results = [
        SubmissionResult("ada", "toy", "ada.ipynb", 0, sandbox=confined),
        SubmissionResult("ben", "toy", "ben.ipynb", 0, sandbox={**confined, "network": "no namespaces (EPERM)"}),
    ]
    console = Console(record=True, width=200)
    print_table(results, console=console)
    warnings = [line for line in console.export_text().splitlines() if line.startswith("warning")]
    assert warnings == ["warning: student code ran without this protection (network: no namespaces (EPERM)) for 1 student(s)"]
