#!/usr/bin/python3
# attacks.py: what a hostile local user does to a rabcd, measured
#
#   sudo python3 bench/attacks.py RABCD [--only NAME]...
#
# Runs each attack of tests/reliability/test-limits.c against the rabcd
# given (a program that takes rabcd's options; a wrapper script will do,
# for an older build) and prints what happened to it: resident memory,
# whether it survived, log lines, how many connections another user got.
# Unlike the tests it asserts nothing, so that a daemon without the limits
# can be measured as well: compare two builds in one run.  Needs root for
# the attacks of other users (it creates the user rabctest1 if missing).
#
# SPDX-License-Identifier: MIT

import argparse
import os
import pwd
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HEADER = struct.Struct("=Q")
PING = HEADER.pack(4) + b"ping"
USER = "rabctest1"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def alive(proc):
    return proc.poll() is None


class Daemon:
    def __init__(self, rabcd, workdir, name, args=(), nofile=None, address_space=None):
        self.path = os.path.join(workdir, name)
        self.log_path = self.path + ".log"

        def limits():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if address_space:
                resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([rabcd, "--socket", self.path, "--mode", "0666", *args],
                                     stderr=self.log, preexec_fn=limits)
        for _ in range(500):
            if os.path.exists(self.path):
                break
            time.sleep(0.01)
        time.sleep(0.1)
        self.rss_start = rss_kib(self.proc.pid)

    def rss(self):
        return rss_kib(self.proc.pid) if alive(self.proc) else -1

    def log_lines(self):
        with open(self.log_path) as f:
            return f.read().splitlines()

    def answers(self):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(self.path)
            s.sendall(PING)
            reply = s.recv(12)
            s.close()
            return reply[8:] == b"pong"
        except OSError:
            return False

    def stop(self):
        if alive(self.proc):
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def raised_client_limits(rabcd, n):
    """Options that let one user open @n connections, where the daemon has
    client limits at all (an older build has none, and no such options)."""
    help_text = subprocess.run([rabcd, "--help"], capture_output=True).stdout
    if b"--max-clients" not in help_text:
        return []
    return ["--max-clients", str(n), "--max-clients-per-uid", str(n)]


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def unread_replies(rabcd, workdir):
    """A client always leaves 600 KB of replies unread, else reads as it sends."""
    d = Daemon(rabcd, workdir, "unread")
    s = connect(d.path)
    s.setblocking(False)
    chunk = PING * 5461
    sent = received = 0
    peak = d.rss_start
    end = time.monotonic() + 3
    while time.monotonic() < end and alive(d.proc):
        try:
            sent += s.send(chunk[sent % len(chunk):])
        except BlockingIOError:
            pass
        except OSError:
            break
        if sent - received > 600_000:
            try:
                received += len(s.recv(min(65536, sent - received - 600_000)))
            except BlockingIOError:
                pass
            except OSError:
                break
        peak = max(peak, d.rss())
    print(f"unread-replies: {sent / 1e6:.0f} MB sent in 3 s, 600 KB of replies always unread: "
          f"VmRSS {d.rss_start} KiB at start, peak {peak} KiB "
          f"({(peak - d.rss_start) / 1024:+.1f} MiB); daemon {'alive' if alive(d.proc) else 'DEAD'}")
    s.close()
    d.stop()


def partial_frames(rabcd, workdir, n=300):
    """n connections each hold 900 KiB of a frame of 1 MiB - 1."""
    d = Daemon(rabcd, workdir, "partial", raised_client_limits(rabcd, 2 * n))
    conns = []
    data = HEADER.pack(1048575) + b"a" * (900 * 1024)
    for _ in range(n):
        s = connect(d.path)
        s.settimeout(2)
        try:
            s.sendall(data)
        except OSError:
            pass
        conns.append(s)
    time.sleep(1)
    held = len(os.listdir(f"/proc/{d.proc.pid}/fd")) if alive(d.proc) else 0
    print(f"partial-frames: {n} connections holding 900 KiB of a 1 MiB - 1 frame: VmRSS "
          f"{d.rss_start} KiB at start, {d.rss()} KiB while held "
          f"({(d.rss() - d.rss_start) / 1024:+.0f} MiB); {held} descriptors open; "
          f"answers others: {d.answers()}")
    for s in conns:
        s.close()
    d.stop()


def bare_headers(rabcd, workdir, n=2000):
    """n connections send only a header of 1 MiB - 1, under RLIMIT_AS 384 MiB."""
    d = Daemon(rabcd, workdir, "headers", raised_client_limits(rabcd, 2 * n),
               address_space=384 * 1024 * 1024)
    conns = []
    died_after = None
    for i in range(n):
        try:
            s = connect(d.path)
            s.sendall(HEADER.pack(1048575))
            conns.append(s)
        except OSError:
            died_after = i
            break
        if i % 20 == 0:
            time.sleep(0.005)
            if not alive(d.proc):
                died_after = i
                break
    time.sleep(0.5)
    state = "alive" if alive(d.proc) else f"DEAD (after about {died_after} headers)"
    print(f"bare-headers: {len(conns)} bare headers of 1 MiB - 1 in 384 MiB of address space: "
          f"daemon {state}, VmRSS {d.rss()} KiB, answers others: {d.answers()}")
    for s in conns:
        s.close()
    d.stop()


def log_flood(rabcd, workdir):
    """A user refused by --allow-uid connects as fast as it can for 3 s."""
    d = Daemon(rabcd, workdir, "flood", ["--allow-uid", "4242"])
    n = 0
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            s = connect(d.path)
            s.recv(1)
            s.close()
            n += 1
        except OSError:
            pass
    lines = d.log_lines()
    size = os.path.getsize(d.log_path)
    d.stop()
    print(f"log-flood: {n} refused connections in 3 s: {len(lines)} log lines, {size} bytes")


def descriptors(rabcd, workdir):
    """RLIMIT_NOFILE 256: another user opens connections until refused."""
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", USER], check=True)
        user = pwd.getpwnam(USER)
    d = Daemon(rabcd, workdir, "nofile", nofile=256)

    def as_user():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    code = f"""
import socket, struct, sys, time
held = []
ping = struct.pack('=Q', 4) + b'ping'
for i in range(2000):
    s = socket.socket(socket.AF_UNIX); s.settimeout(2)
    try:
        s.connect({d.path!r}); s.sendall(ping)
        if s.recv(12)[8:] != b'pong': break
    except OSError: break
    held.append(s)
print(len(held), flush=True)
sys.stdin.read()
"""
    attacker = subprocess.Popen([sys.executable, "-c", code], preexec_fn=as_user,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    held = attacker.stdout.readline().strip()
    root_ok = d.answers()
    time.sleep(1)
    errors = sum("Too many open files" in line for line in d.log_lines())
    attacker.stdin.close()
    attacker.wait()
    d.stop()
    print(f"descriptors: RLIMIT_NOFILE 256: {USER} got {held} connections; root answered "
          f"while it holds them: {root_ok}; 'Too many open files' logged {errors} times in 1 s")


ATTACKS = {
    "unread-replies": unread_replies,
    "partial-frames": partial_frames,
    "bare-headers": bare_headers,
    "log-flood": log_flood,
    "descriptors": descriptors,
}


def main():
    parser = argparse.ArgumentParser(description="Measure attacks on a rabcd")
    parser.add_argument("rabcd")
    parser.add_argument("--only", action="append", choices=sorted(ATTACKS))
    options = parser.parse_args()
    workdir = tempfile.mkdtemp()
    os.chmod(workdir, 0o755)
    try:
        for name in options.only or ATTACKS:
            ATTACKS[name](options.rabcd, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
