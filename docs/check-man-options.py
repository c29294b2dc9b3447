#!/usr/bin/python3
# Checks that a man page documents exactly the options of its program.
#
# usage: check-man-options.py PROGRAM MAN-PAGE.rst [PROGRAM MAN-PAGE.rst ...]
#
# Every option that `PROGRAM --help` lists must be in the OPTIONS section of
# the reStructuredText man page with the same short form and argument name,
# and every option the man page documents must be in --help.
#
# SPDX-License-Identifier: MIT

import os
import re
import subprocess
import sys

# "  -s, --socket=PATH     Listen on PATH" or "  --version    Print ..."
HELP_OPTION_RE = re.compile(
    r'^  (?:-(?P<short>[^\s-]), )?--(?P<long>[\w-]+)(?:=(?P<arg>\S+))?(?:\s|$)')

# "``-s, --socket=PATH``" or "``--version``" on a line of its own
MAN_TERM_RE = re.compile(r'^``(?P<term>-[^`]*)``\s*$')
MAN_OPTION_RE = re.compile(
    r'^(?:-(?P<short>[^\s-]), )?--(?P<long>[\w-]+)(?:=(?P<arg>\S+))?$')

SECTION_UNDERLINE_RE = re.compile(r'^([-=~^"\'`#*+<>:.]){3,}\s*$')


def describe(long_name, short, arg):
    text = f'--{long_name}' + (f'={arg}' if arg else '')
    return f'-{short}, {text}' if short else text


def help_options(program):
    env = dict(os.environ, LC_ALL='C.UTF-8')
    result = subprocess.run([program, '--help'], env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f'{program} --help exited with {result.returncode}: '
                           f'{result.stderr.strip()}')
    options = {}
    for line in result.stdout.splitlines():
        m = HELP_OPTION_RE.match(line)
        if m:
            options[m['long']] = (m['short'], m['arg'])
    if not options:
        raise RuntimeError(f'{program} --help lists no options:\n{result.stdout}')
    return options


def man_sections(path):
    """Yields (title, lines) for each section of a reStructuredText page."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    title, body = None, []
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1] if i + 1 < len(lines) else ''
        if (line.strip() and not line.startswith(' ')
                and SECTION_UNDERLINE_RE.match(underline)
                and len(underline.rstrip()) >= len(line.rstrip())):
            yield title, body
            title, body = line.strip(), []
            i += 2
            continue
        body.append(line)
        i += 1
    yield title, body


def man_options(path):
    sections = {title: body for title, body in man_sections(path)}
    if 'OPTIONS' not in sections:
        raise RuntimeError(f'{path} has no OPTIONS section')
    options, errors = {}, []
    for line in sections['OPTIONS']:
        m = MAN_TERM_RE.match(line)
        if not m:
            continue
        o = MAN_OPTION_RE.match(m['term'])
        if not o:
            errors.append(f'{path}: cannot read the option term "{m["term"]}"; '
                          'write it as "-x, --long=ARG", "--long=ARG" or "--long"')
            continue
        if o['long'] in options:
            errors.append(f'{path}: --{o["long"]} is documented twice')
        options[o['long']] = (o['short'], o['arg'])
    if not options and not errors:
        errors.append(f'{path}: the OPTIONS section documents no option')
    return options, errors


def check(program, man_page):
    name = os.path.basename(program)
    in_help = help_options(program)
    in_man, errors = man_options(man_page)
    page = os.path.basename(man_page)

    for long_name, (short, arg) in sorted(in_help.items()):
        if long_name not in in_man:
            errors.append(f'{page}: {describe(long_name, short, arg)} from '
                          f'"{name} --help" is not documented')
        elif in_man[long_name] != (short, arg):
            errors.append(f'{page}: documents {describe(long_name, *in_man[long_name])} '
                          f'but "{name} --help" has {describe(long_name, short, arg)}')
    for long_name, (short, arg) in sorted(in_man.items()):
        if long_name not in in_help:
            errors.append(f'{page}: documents {describe(long_name, short, arg)}, '
                          f'which "{name} --help" does not list')
    return in_help, errors


def main(argv):
    if len(argv) < 3 or len(argv) % 2 != 1:
        print(f'usage: {argv[0]} PROGRAM MAN-PAGE.rst [PROGRAM MAN-PAGE.rst ...]',
              file=sys.stderr)
        return 2
    failed = False
    for program, man_page in zip(argv[1::2], argv[2::2]):
        try:
            options, errors = check(program, man_page)
        except (OSError, RuntimeError) as e:
            options, errors = {}, [str(e)]
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            failed = True
        else:
            print(f'{os.path.basename(man_page)}: the {len(options)} options of '
                  f'{os.path.basename(program)} --help are documented, and no other')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
