#!/usr/bin/python3
# test-gtk-example.py: run examples/gtk/rabc-monitor.py under Xvfb and check
# from a screenshot that it plots ping round-trip times.
#
# Starts rabcd on a temporary socket and Xvfb on a free display, runs the
# example with a short ping interval, takes a screenshot of the whole screen
# with ImageMagick's `import` and counts the pixels of the plot's line colour:
# an empty plot has none. It also checks the state label, which the example
# prints to stdout. Every process it starts is stopped by its PID, also on
# failure. Missing Xvfb, ImageMagick or GTK 4 for Python is a failure, not a
# skip.
#
#   test-gtk-example.py --rabcd PATH --example PATH --screenshot FILE.png
#
# --no-daemon runs the example without rabcd, to see the checks fail.
#
# SPDX-License-Identifier: MIT

import argparse
import os
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

# LINE_COLOR of examples/gtk/rabc-monitor.py (#e66100), as 8-bit RGB.
LINE_RGB = (230, 97, 0)
TOLERANCE = 40          # per channel, for antialiased edges
MIN_LINE_PIXELS = 200   # a plot of ~20 pings has well over a thousand
MIN_LINE_COLUMNS = 40   # the points spread over that many x positions
PLOT_SECONDS = 3        # how long the example pings before the screenshot
DEADLINE_SECONDS = 20   # for each thing that must happen


class TestFailure(Exception):
    pass


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rabcd', required=True)
    parser.add_argument('--example', required=True)
    parser.add_argument('--screenshot', required=True, metavar='FILE.png')
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
        gi.require_version('PangoCairo', '1.0')
        gi.require_foreign('cairo')
    except (ImportError, ValueError) as error:
        missing.append(f'GTK 4 for Python ({error}; Debian packages python3-gi, '
                       'python3-gi-cairo, gir1.2-gtk-4.0)')

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
            [xvfb, '-displayfd', str(write_fd), '-screen', '0', '800x600x24',
             '-nolisten', 'tcp'],
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


def read_png(path):
    """Decodes an 8-bit RGB, non-interlaced PNG: (width, height, rows of RGB bytes)."""
    with open(path, 'rb') as file:
        data = file.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise TestFailure(f'{path} is not a PNG file')
    pos, compressed, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            compressed.append(body)
        elif kind == b'IEND':
            break
    width, height, depth, color_type, _, _, interlace = header
    if (depth, color_type, interlace) != (8, 2, 0):
        raise TestFailure(f'{path}: not an 8-bit RGB PNG (depth {depth}, '
                          f'colour type {color_type}, interlace {interlace})')
    stride = width * 3
    raw = zlib.decompress(b''.join(compressed))
    rows, up = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(3, stride):
                line[i] = (line[i] + line[i - 3]) & 0xff
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + up[i]) & 0xff
        elif kind == 3:
            for i in range(stride):
                left = line[i - 3] if i >= 3 else 0
                line[i] = (line[i] + (left + up[i]) // 2) & 0xff
        elif kind == 4:
            for i in range(stride):
                left, up_left = (line[i - 3], up[i - 3]) if i >= 3 else (0, 0)
                estimate = left + up[i] - up_left
                distances = (abs(estimate - left), abs(estimate - up[i]),
                             abs(estimate - up_left))
                nearest = (left if distances[0] <= min(distances[1:])
                           else up[i] if distances[1] <= distances[2] else up_left)
                line[i] = (line[i] + nearest) & 0xff
        rows.append(line)
        up = line
    return width, height, rows


def line_pixels(path):
    """Counts the pixels of the plot's line colour and the columns they cover."""
    width, _, rows = read_png(path)
    count, columns = 0, set()
    red, green, blue = LINE_RGB
    for row in rows:
        for x in range(width):
            r, g, b = row[3 * x:3 * x + 3]
            if (abs(r - red) <= TOLERANCE and abs(g - green) <= TOLERANCE
                    and abs(b - blue) <= TOLERANCE):
                count += 1
                columns.add(x)
    return count, len(columns)


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


def take_screenshot(magick_import, display, path):
    """Screenshots until the plot shows data or the deadline; returns the counts."""
    env = dict(os.environ, DISPLAY=display)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        subprocess.run([magick_import, '-window', 'root', 'PNG24:' + path],
                       env=env, check=True)
        count, columns = line_pixels(path)
        # On a loaded machine the first frame can come late: try again.
        if ((count >= MIN_LINE_PIXELS and columns >= MIN_LINE_COLUMNS)
                or time.monotonic() > deadline):
            return count, columns
        time.sleep(1)


def run(args, workdir):
    xvfb, magick_import = find_tools()
    socket_path = os.path.join(workdir, 'rabc.sock')
    example_log = os.path.join(workdir, 'example.log')
    daemon = xserver = example = None
    failures = []
    try:
        if not args.no_daemon:
            daemon = subprocess.Popen([args.rabcd, '--socket', socket_path])
            wait_for(lambda: os.path.exists(socket_path) or daemon.poll() is not None,
                     'rabcd to create its socket')
            if daemon.poll() is not None:
                raise TestFailure(f'rabcd exited with status {daemon.returncode}')

        with open(os.path.join(workdir, 'xvfb.log'), 'w') as log:
            xserver, display = start_xvfb(xvfb, log)
        print(f'Xvfb (PID {xserver.pid}) on display {display}')

        env = dict(os.environ, DISPLAY=display, GDK_BACKEND='x11')
        env.pop('WAYLAND_DISPLAY', None)
        with open(example_log, 'w') as log:
            example = subprocess.Popen(
                [sys.executable, args.example, '--socket', socket_path,
                 '--interval', str(args.interval)],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        output = LineReader(example.stdout)
        output.start()

        def states():
            return [line for line in output.lines if line.startswith('state: ')]

        wait_for(lambda: len(states()) >= 2 or example.poll() is not None,
                 'the example to connect or fail')
        time.sleep(PLOT_SECONDS)
        if example.poll() is not None:
            raise TestFailure(f'the example exited with status {example.returncode}')

        screenshot = os.path.abspath(args.screenshot)
        count, columns = take_screenshot(magick_import, display, screenshot)
        print(f'screenshot: {screenshot}')
        print(f'pixels of the line colour: {count}, in {columns} columns')
        if count < MIN_LINE_PIXELS or columns < MIN_LINE_COLUMNS:
            failures.append(f'the plot shows no data: {count} pixels of the line '
                            f'colour in {columns} columns, expected at least '
                            f'{MIN_LINE_PIXELS} in {MIN_LINE_COLUMNS}')

        print('\n'.join(states()))
        expected = ['state: Connecting…', f'state: Connected to {socket_path}']
        if states() != expected:
            failures.append(f'state label: expected {expected}, got {states()}')

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
