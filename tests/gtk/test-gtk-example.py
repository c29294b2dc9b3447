#!/usr/bin/python3
# test-gtk-example.py: run examples/gtk/rabc-monitor.py under Xvfb and check
# from screenshots that it shows each state of the connection, plots ping
# round-trip times against time, and reconnects when rabcd comes back.
#
# Starts Xvfb on a free display and the example with a short ping interval
# before rabcd, then goes through these states, waiting for each with a
# deadline and checking it on the screen, which it captures with
# ImageMagick's `import`:
#
#   no-daemon     the status page and its accent-coloured "Try Now" button,
#                 no plot, no banner; the example counts down to its next try
#   connected     rabcd started: the plot's line (LINE_RGB) over at least
#                 MIN_LINE_COLUMNS columns, reaching the right edge; no banner
#   disconnected  rabcd stopped: the banner (BANNER_RGB) is shown, counts down
#                 ("Reconnecting in 2 s…", "… 1 s…"), and the line stops and
#                 moves left, since the x axis is time
#   reconnected   rabcd started again on the same socket: the banner is gone,
#                 the line reaches the right edge again, after a gap
#
# The example prints its state with --print-state; the test asks both the
# output and the picture. The screenshot of each state is saved in
# --screenshots as gtk-<state>.png (and gtk-failure.png when a state does not
# come). It also checks the statistics the example computes. Every process it
# starts is stopped by its PID, also on failure. Missing Xvfb, ImageMagick
# or GTK 4 and libadwaita for Python is a failure, not a skip.
#
#   test-gtk-example.py --rabcd PATH --example PATH --screenshots DIR
#
# --no-daemon never starts rabcd, to see the checks fail.
#
# SPDX-License-Identifier: MIT

import argparse
import importlib.util
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

SCREEN = (1024, 768)
# LINE_COLOR of examples/gtk/rabc-monitor.py (#e66100), as 8-bit RGB.
LINE_RGB = (230, 97, 0)
LINE_TOLERANCE = 40      # per channel, for antialiased edges
# The banner's @warning_bg_color and the "Try Now" button's
# @accent_bg_color, in libadwaita 1.2's light style.
BANNER_RGB = (229, 165, 10)
ACCENT_RGB = (53, 132, 228)
FILL_TOLERANCE = 16
MIN_LINE_PIXELS = 200
MIN_LINE_COLUMNS = 40    # about 4 s of plot
MIN_FILL_PIXELS = 3000   # the banner has over 30000, the button over 4000
MAX_STRAY_PIXELS = 200   # of a colour that must not be on the screen
MIN_SCROLL = 10          # columns: the plot moves about 10 a second
EDGE_SLACK = 4           # columns: "reaches the right edge"
DEADLINE_SECONDS = 25    # for each state


class TestFailure(Exception):
    pass


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rabcd', required=True)
    parser.add_argument('--example', required=True)
    parser.add_argument('--screenshots', required=True, metavar='DIR')
    parser.add_argument('--interval', type=int, default=100, metavar='MS')
    parser.add_argument('--no-daemon', action='store_true',
                        help='do not start rabcd: the checks must then fail')
    return parser.parse_args()


def find_tools():
    """Returns the paths of Xvfb and ImageMagick's import, or raises."""
    missing = []
    xvfb = shutil.which('Xvfb')
    if xvfb is None:
        missing.append('Xvfb (Debian package xvfb)')

    # Another program called `import` may come first on PATH.
    magick_import = None
    for candidate in (shutil.which('import'), '/usr/bin/import'):
        if candidate is None or not os.access(candidate, os.X_OK):
            continue
        version = subprocess.run([candidate, '-version'], capture_output=True,
                                 text=True, check=False).stdout
        if 'ImageMagick' in version:
            magick_import = candidate
            break
    if magick_import is None:
        missing.append('ImageMagick\'s import (Debian package imagemagick)')

    try:
        import gi
        gi.require_version('Gtk', '4.0')
        gi.require_version('Adw', '1')
        gi.require_version('PangoCairo', '1.0')
        gi.require_foreign('cairo')
    except (ImportError, ValueError) as error:
        missing.append(f'GTK 4 and libadwaita for Python ({error}; Debian '
                       'packages python3-gi, python3-gi-cairo, gir1.2-gtk-4.0, '
                       'gir1.2-adw-1)')

    if missing:
        raise TestFailure('missing: ' + '; '.join(missing))
    return xvfb, magick_import


def wait_for(predicate, what, seconds=DEADLINE_SECONDS):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TestFailure(f'timed out after {seconds} s waiting for {what}')
        time.sleep(0.05)


def start_xvfb(xvfb, log):
    """Starts Xvfb on a display number it picks itself; returns (process, display)."""
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [xvfb, '-displayfd', str(write_fd),
             '-screen', '0', f'{SCREEN[0]}x{SCREEN[1]}x24', '-nolisten', 'tcp'],
            pass_fds=(write_fd,), stdout=log, stderr=log)
    finally:
        os.close(write_fd)
    try:
        number = b''
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not number.endswith(b'\n'):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                raise TestFailure('Xvfb did not report its display number')
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise TestFailure('Xvfb exited before reporting its display number')
            number += chunk
    except TestFailure:
        stop(process)
        raise
    finally:
        os.close(read_fd)
    return process, ':' + number.decode().strip()


def start_rabcd(rabcd, socket_path):
    daemon = subprocess.Popen([rabcd, '--socket', socket_path])
    wait_for(lambda: os.path.exists(socket_path) or daemon.poll() is not None,
             'rabcd to create its socket')
    if daemon.poll() is not None:
        raise TestFailure(f'rabcd exited with status {daemon.returncode}')
    print(f'rabcd (PID {daemon.pid}) on {socket_path}')
    return daemon


def stop(process):
    """Stops one process by its PID; returns its exit status."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f'{process.args[0]} ignored SIGTERM: killing it')
            process.kill()
    return process.wait()


class Screenshot:
    """The whole screen as 8-bit RGB, with the colour counts the checks need."""

    def __init__(self, magick_import, display):
        width, height = SCREEN
        self.width, self.height = width, height
        self.data = subprocess.run(
            [magick_import, '-window', 'root', '-depth', '8', 'RGB:-'],
            env=dict(os.environ, DISPLAY=display), capture_output=True,
            check=True).stdout
        if len(self.data) != width * height * 3:
            raise TestFailure(f'import gave {len(self.data)} bytes for a '
                              f'{width}x{height} RGB screen')

    def _mask(self, rgb, tolerance):
        """One byte per pixel, 1 where every channel is within tolerance."""
        mask = None
        for channel, value in enumerate(rgb):
            table = bytes(int(abs(i - value) <= tolerance) for i in range(256))
            plane = int.from_bytes(self.data[channel::3].translate(table), 'big')
            mask = plane if mask is None else mask & plane
        return mask.to_bytes(self.width * self.height, 'big')

    def count(self, rgb, tolerance=FILL_TOLERANCE):
        return self._mask(rgb, tolerance).count(1)

    def columns(self, rgb, tolerance=LINE_TOLERANCE):
        """The sorted x positions where some pixel has the colour."""
        mask, width, any_row = self._mask(rgb, tolerance), self.width, 0
        for y in range(self.height):
            any_row |= int.from_bytes(mask[y * width:(y + 1) * width], 'big')
        row = any_row.to_bytes(width, 'big')
        return [x for x in range(width) if row[x]]

    def save_png(self, path):
        stride = self.width * 3
        raw = b''.join(b'\0' + self.data[y * stride:(y + 1) * stride]
                       for y in range(self.height))

        def chunk(kind, body):
            return (struct.pack('>I', len(body)) + kind + body
                    + struct.pack('>I', zlib.crc32(kind + body)))

        with open(path, 'wb') as file:
            file.write(b'\x89PNG\r\n\x1a\n'
                       + chunk(b'IHDR', struct.pack('>IIBBBBB', self.width,
                                                    self.height, 8, 2, 0, 0, 0))
                       + chunk(b'IDAT', zlib.compress(raw, 6))
                       + chunk(b'IEND', b''))


class LineReader(threading.Thread):
    """Collects the lines a process writes to stdout."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = []

    def run(self):
        for line in self.stream:
            self.lines.append(line.rstrip('\n'))


def show_log(path, title):
    if os.path.exists(path) and os.path.getsize(path):
        with open(path, errors='replace') as file:
            print(f'--- {title} ---\n' + file.read().rstrip())


def largest_gap(columns):
    """(width, first column after it) of the widest run of columns without the colour."""
    return max(((b - a - 1, b) for a, b in zip(columns, columns[1:])),
               default=(0, None))


class Monitor:
    """The example on the screen and its printed states."""

    def __init__(self, magick_import, display, output, screenshots):
        self.magick_import, self.display = magick_import, display
        self.output, self.screenshots = output, screenshots
        self.shot = None
        self.seen = 0       # the states printed before the current check

    def states(self):
        return [line for line in self.output.lines[self.seen:]
                if line.startswith('state: ')]

    def countdown(self):
        """The seconds of each "Reconnecting in N s" printed since the last state."""
        return [int(match.group(1)) for line in self.states()
                for match in [re.search(r'Reconnecting in (\d+) s…$', line)]
                if match]

    def wait_until(self, name, conditions):
        """Screenshots until every condition holds; saves the shot as gtk-NAME.png.

        conditions: a function of the screenshot returning the unmet ones."""
        unmet = ['nothing checked yet']

        def check():
            nonlocal unmet
            self.shot = Screenshot(self.magick_import, self.display)
            unmet = conditions(self.shot)
            return not unmet

        try:
            wait_for(check, f'the {name} state')
        except TestFailure as failure:
            path = os.path.join(self.screenshots, 'gtk-failure.png')
            if self.shot is not None:
                self.shot.save_png(path)
            raise TestFailure(f'{failure}: {"; ".join(unmet)} (screen: {path}; '
                              f'states printed: {self.states()})') from None
        path = os.path.join(self.screenshots, f'gtk-{name}.png')
        self.shot.save_png(path)
        print(f'{name}: {path}')
        for line in self.states():
            print(f'  {line}')
        self.seen = len(self.output.lines)
        return self.shot


def check_statistics(example):
    """The example's minimum, median and 99th percentile, on known values."""
    spec = importlib.util.spec_from_file_location('rabc_monitor', example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    failures = []
    for values, expected in (([7], (7, 7, 7)),
                             ([3, 1, 2], (1, 2, 3)),
                             (list(range(100, 0, -1)), (1, 50.5, 99)),
                             ([5] * 199 + [900], (5, 5, 5)),
                             ([5] * 98 + [900] * 2, (5, 5, 900))):
        got = module.summarize(values)
        if tuple(got) != expected:
            failures.append(f'summarize({values[:4]}… {len(values)} values) '
                            f'is {got}, expected {expected}')
    for us, expected in ((87, '87 µs'), (1234, '1.23 ms'), (45678, '45.7 ms')):
        if module.format_rtt(us) != expected:
            failures.append(f'format_rtt({us}) is {module.format_rtt(us)!r}, '
                            f'expected {expected!r}')
    return failures


def run(args, workdir):
    xvfb, magick_import = find_tools()
    failures = check_statistics(args.example)
    socket_path = os.path.join(workdir, 'rabc.sock')
    example_log = os.path.join(workdir, 'example.log')
    screenshots = os.path.abspath(args.screenshots)
    os.makedirs(screenshots, exist_ok=True)
    daemon = xserver = example = None
    try:
        with open(os.path.join(workdir, 'xvfb.log'), 'w') as log:
            xserver, display = start_xvfb(xvfb, log)
        print(f'Xvfb (PID {xserver.pid}) on display {display}')

        # The light style, whatever the user's settings say: the colours
        # above are its own.
        env = dict(os.environ, DISPLAY=display, GDK_BACKEND='x11',
                   GSETTINGS_BACKEND='memory', ADW_DISABLE_PORTAL='1')
        env.pop('WAYLAND_DISPLAY', None)
        with open(example_log, 'w') as log:
            example = subprocess.Popen(
                [sys.executable, args.example, '--socket', socket_path,
                 '--interval', str(args.interval), '--print-state'],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        output = LineReader(example.stdout)
        output.start()
        monitor = Monitor(magick_import, display, output, screenshots)

        def running():
            if example.poll() is not None:
                raise TestFailure(f'the example exited with status {example.returncode}')

        def no_daemon(shot):
            running()
            unmet = []
            if not any(line.startswith('state: disconnected: ')
                       and 'Reconnecting in' in line for line in monitor.states()):
                unmet.append('no "state: disconnected: … Reconnecting in N s…" printed')
            if shot.count(ACCENT_RGB) < MIN_FILL_PIXELS:
                unmet.append('the status page\'s Try Now button is not shown')
            if shot.count(LINE_RGB, LINE_TOLERANCE) or \
                    shot.count(BANNER_RGB) > MAX_STRAY_PIXELS:
                unmet.append('a plot or banner is shown instead of the status page')
            return unmet

        monitor.wait_until('no-daemon', no_daemon)

        if not args.no_daemon:
            daemon = start_rabcd(args.rabcd, socket_path)

        def connected(shot):
            running()
            unmet = []
            if f'state: connected: Connected to {socket_path}' not in monitor.states():
                unmet.append('no "state: connected" printed')
            columns = shot.columns(LINE_RGB)
            if shot.count(LINE_RGB, LINE_TOLERANCE) < MIN_LINE_PIXELS \
                    or len(columns) < MIN_LINE_COLUMNS:
                unmet.append(f'the plot shows little data: {len(columns)} columns '
                             f'of the line colour, {MIN_LINE_COLUMNS} wanted')
            if shot.count(BANNER_RGB) > MAX_STRAY_PIXELS:
                unmet.append('the banner is shown')
            return unmet

        shot = monitor.wait_until('connected', connected)
        right_edge = shot.columns(LINE_RGB)[-1]

        status = stop(daemon)
        daemon = None
        if status != 0:
            failures.append(f'rabcd exited with status {status}')

        def disconnected(shot):
            running()
            unmet = []
            if not any(line.startswith('state: disconnected: ')
                       for line in monitor.states()):
                unmet.append('no "state: disconnected" printed')
            countdown = monitor.countdown()
            if not any(a - 1 == b for a, b in zip(countdown, countdown[1:])):
                unmet.append(f'no countdown printed (seconds: {countdown})')
            if shot.count(BANNER_RGB) < MIN_FILL_PIXELS:
                unmet.append('the banner is not shown')
            columns = shot.columns(LINE_RGB)
            if len(columns) < MIN_LINE_COLUMNS:
                unmet.append('the plot lost the round trips before the outage')
            elif columns[-1] > right_edge - MIN_SCROLL:
                unmet.append(f'the line did not move left from column {right_edge} '
                             f'(ends at {columns[-1]})')
            return unmet

        shot = monitor.wait_until('disconnected', disconnected)
        outage_edge = shot.columns(LINE_RGB)[-1]

        if not args.no_daemon:
            daemon = start_rabcd(args.rabcd, socket_path)

        def reconnected(shot):
            running()
            unmet = []
            if f'state: connected: Connected to {socket_path}' not in monitor.states():
                unmet.append('no "state: connected" printed')
            if shot.count(BANNER_RGB) > MAX_STRAY_PIXELS:
                unmet.append('the banner is still shown')
            columns = shot.columns(LINE_RGB)
            gap, after_gap = largest_gap(columns)
            if not columns or columns[-1] < right_edge - EDGE_SLACK:
                unmet.append(f'the line does not reach column {right_edge} again')
            elif gap < MIN_SCROLL or after_gap <= outage_edge \
                    or columns[-1] - after_gap < MIN_SCROLL:
                unmet.append(f'no new line after a gap (widest gap {gap} columns, '
                             f'before column {after_gap}; the old line ended at '
                             f'{outage_edge})')
            return unmet

        monitor.wait_until('reconnected', reconnected)

        status = stop(example)
        output.join(timeout=10)
        if status != 0:
            failures.append(f'the example exited with status {status} on SIGTERM')
    finally:
        stop(example)
        stop(xserver)
        status = stop(daemon)
        if daemon is not None and status != 0:
            failures.append(f'rabcd exited with status {status}')
        show_log(example_log, 'the example\'s stderr')

    if failures:
        raise TestFailure('\n'.join(failures))


def main():
    args = parse_args()
    # meson's timeout sends SIGTERM: stop the processes on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('FAIL: terminated'))
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix='rabc-gtk-test-')
    try:
        run(args, workdir)
    except TestFailure as failure:
        show_log(os.path.join(workdir, 'xvfb.log'), 'Xvfb\'s output')
        print(f'FAIL: {failure}')
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f'PASS in {time.monotonic() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
