#!/usr/bin/python3
# Writes the seed corpora of the fuzz targets:
#
#   /usr/bin/python3 fuzz/make-corpus.py [OUTPUT_DIR]
#
# OUTPUT_DIR defaults to fuzz/corpus; it gets one directory per target, whose
# old seeds are replaced.  The generated files are committed; run this again
# after changing it.  Frame headers are written in the host's byte order, as
# on the wire (the committed files are little-endian, from x86-64).
#
# Every input starts with the control bytes described in fuzz-common.h:
# the maximum-size selector, then a byte whose low nibble counts the
# chunk-size bytes that follow and whose high nibble is the target's option.

import os
import shutil
import struct
import sys

MAX_SMALL_16 = 0x0F        # maximum message size 16
MAX_DEFAULT = 0x80         # 1 MiB, the default
MIB = 1048576


def max_near_default(max_size):
    """The selector of a maximum between 1 MiB - 8 and 1 MiB + 7."""
    assert MIB - 8 <= max_size <= MIB + 7
    return 0xF0 + max_size - (MIB - 8)


def header(length):
    return struct.pack('=Q', length)


def frame(text):
    if isinstance(text, str):
        text = text.encode('utf-8')
    return header(len(text)) + text


def frames(*texts):
    return b''.join(frame(t) for t in texts)


def seed(stream, max_selector=MAX_DEFAULT, chunks=(), option=0):
    assert len(chunks) <= 15 and 0 <= option <= 15
    return bytes([max_selector, (option << 4) | len(chunks)]) + bytes(chunks) + stream


PING_PONG = frames('ping', 'pong')

# Seeds that mean the same for both targets.
COMMON = {
    'empty-stream': seed(b''),
    'ping': seed(frame('ping')),
    'ping-pong-small-max': seed(PING_PONG, max_selector=MAX_SMALL_16),
    'zero-length': seed(frame('')),
    'zero-length-many': seed(frames(*[''] * 32)),
    'zero-length-between': seed(frames('ping', '', 'ping', '')),
    # Headers and payloads split at every kind of place.
    'split-header-3-5': seed(PING_PONG, chunks=(3, 5)),
    'split-header-7-1': seed(PING_PONG, chunks=(7, 1)),
    'split-byte-by-byte': seed(frames('ping', '', 'h\u00e9llo'), chunks=(1,)),
    'split-with-empty-pieces': seed(PING_PONG, chunks=(0, 1, 0, 2, 9)),
    'split-multibyte-char': seed(frame('h\u00e9llo \u2713 \U0001F600'), chunks=(10, 1, 1, 3)),
    'partial-header': seed(header(4)[:5]),
    'partial-payload': seed(header(10) + b'ping'),
    'ping-then-partial-header': seed(frame('ping') + header(4)[:3]),
    # Sizes around the maximum.
    'small-max-just-below': seed(frame('x' * 15), max_selector=MAX_SMALL_16),
    'small-max-reached': seed(frame('x' * 16), max_selector=MAX_SMALL_16),
    'small-max-1-zero-length': seed(frames('', ''), max_selector=0x00),
    'small-max-1-refused': seed(frame('a'), max_selector=0x00),
    'oversize-2-pow-63': seed(header(1 << 63) + b'ping'),
    'oversize-2-pow-64-minus-1': seed(header((1 << 64) - 1)),
    'oversize-2-pow-32': seed(header(1 << 32) + b'ping'),
    'header-1mib-refused': seed(header(MIB) + b'ping'),
    'header-1mib-minus-1-partial': seed(header(MIB - 1) + b'ping'),
    'header-1mib-max-1mib-plus-1': seed(header(MIB) + b'ping',
                                        max_selector=max_near_default(MIB + 1)),
    'header-1mib-split': seed(header(MIB) + b'ping', chunks=(4, 4)),
    'ping-then-oversize': seed(frame('ping') + header(1 << 63)),
    # Text.
    'utf8-multibyte': seed(frame('h\u00e9llo \u2713 \U0001F600 \u4e2d\u6587')),
    'invalid-utf8-ff': seed(frame(b'\xff')),
    'invalid-utf8-overlong-nul': seed(frame(b'\xc0\x80')),
    'invalid-utf8-surrogate': seed(frame(b'\xed\xa0\x80')),
    'invalid-utf8-truncated': seed(frame(b'ab\xe2\x82')),
    'invalid-utf8-above-max': seed(frame(b'\xf4\x90\x80\x80')),
    'invalid-utf8-after-ping': seed(frames('ping', b'pi\xffng', 'ping')),
    'nul-only': seed(frame(b'\x00')),
    'nul-in-text': seed(frame(b'pi\x00ng')),
    'nul-then-invalid': seed(frame(b'a\x00\xff')),
    'nul-then-multibyte': seed(frame(b'\x00\xc3\xa9\x00')),
    'nul-split': seed(frame(b'a\x00b\x00c'), chunks=(9, 1, 1)),
    # Many frames at once and in odd pieces.
    'many-pings': seed(frames(*['ping'] * 200)),
    'many-pings-odd-pieces': seed(frames(*['ping'] * 100), chunks=(7, 13, 1, 64, 0)),
    'many-mixed': seed(frames(*[('x' * (i % 40)) for i in range(60)]), chunks=(5, 250)),
}

# The option nibble of fuzz-frame: stop after that many messages.
FRAME_ONLY = {
    'stop-after-1': seed(frames('ping', 'pong', 'x'), option=1),
    'stop-after-2-split': seed(frames('ping', 'pong', 'x'), chunks=(3,), option=2),
    'stop-before-bad-frame': seed(frame('ping') + header(1 << 63), option=1),
}

# The option bits of fuzz-server: 1 no message-received handler, 2 read the
# replies only at the end, 4 close instead of half-closing.
SERVER_ONLY = {
    'no-handler': seed(frames(*['ping'] * 10), option=1),
    'read-late': seed(frames(*['ping'] * 100), option=2),
    'close-early': seed(frames(*['ping'] * 100), chunks=(12,), option=4),
    'close-partial': seed(frame('ping') + header(100), option=4),
    'close-after-error': seed(frames('ping', b'\xff'), option=4),
    'no-handler-nul': seed(frame(b'a\x00b'), option=1),
}


def write_corpus(directory, seeds):
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus')

    write_corpus(os.path.join(out, 'fuzz-frame'), {**COMMON, **FRAME_ONLY})
    write_corpus(os.path.join(out, 'fuzz-server'), {**COMMON, **SERVER_ONLY})


if __name__ == '__main__':
    main()
