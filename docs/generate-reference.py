#!/usr/bin/python3
# Runs `gi-docgen generate`, then removes from the table of facts at the top
# of the index (Version, Authors, License, Website, Source) every row whose
# value is empty.  gi-docgen's basic theme shows the Website and Source rows
# whatever rabc.toml says, with an empty link when the project sets no URL
# for them; rabc.toml.in sets none while librabc has no public home.
#
# usage: generate-reference.py GI-DOCGEN generate [ARGS...] --output-dir DIR ...
#
# SPDX-License-Identifier: MIT

import os
import re
import subprocess
import sys

# <tr><td><em>Website</em></td><td><a href="" class="external"></a></td></tr>
EMPTY_ROW_RE = re.compile(
    r'^[ \t]*<tr><td><em>[^<]*</em></td>'
    r'<td>(?:<a href="" class="external"></a>)?\s*</td></tr>\n',
    re.MULTILINE)

META_TABLE_RE = re.compile(r'(<div class="meta info">.*?</div>)', re.DOTALL)


def output_dir(args):
    for i, arg in enumerate(args):
        if arg == '--output-dir' and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith('--output-dir='):
            return arg.split('=', 1)[1]
    sys.exit('generate-reference.py: no --output-dir among the arguments')


def main(argv):
    if len(argv) < 2:
        sys.exit('usage: generate-reference.py GI-DOCGEN generate ARGS...')

    status = subprocess.run(argv[1:], check=False).returncode
    if status != 0:
        return status

    index = os.path.join(output_dir(argv[2:]), 'index.html')
    with open(index, encoding='utf-8') as f:
        html = f.read()

    cleaned = META_TABLE_RE.sub(lambda m: EMPTY_ROW_RE.sub('', m.group(1)), html, count=1)
    if cleaned != html:
        with open(index, 'w', encoding='utf-8') as f:
            f.write(cleaned)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
