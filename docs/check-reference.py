#!/usr/bin/python3
# Checks the generated API reference.
#
# usage: check-reference.py html GIR HTML-DIR OVERVIEW.md
#        check-reference.py render GIR HTML-DIR CHROMIUM CONVERT SCREENSHOT-DIR
#
# html: the index shows no empty field (such as Website or Source); every
# class and error domain has an example in C and one in Python; the page
# of every function that can fail (it throws, or it is an _async
# function) has an Errors section that links each error code to its entry
# on the page of Rabc.Error, and names G_IO_ERROR_CANCELLED when the
# operation takes a GCancellable; every link to an error code lands on
# one; and no line of a code block, in the overview or in any doc comment,
# is longer than MAX_CODE_COLUMNS.
#
# render: in headless Chromium, no code block of the index, the overview,
# the class pages, the error page or the pages of the fallible functions
# is wider than its box at a window width of 1280 pixels (the theme would
# cut it, behind a scroll bar); and the index, the overview, the page of
# RabcClient and that of rabc_client_send_async() render as pictures with
# the theme's dark sidebar and a light text column holding text.
#
# SPDX-License-Identifier: MIT

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

GIR_NS = {'core': 'http://www.gtk.org/introspection/core/1.0'}

# What fits in a code block at 1280 pixels with a little room, and in 80
# columns of a terminal.
MAX_CODE_COLUMNS = 79

WINDOW_WIDTH = 1280
WINDOW_HEIGHT = 2000

SCREENSHOT_PAGES = {
    'index': 'index.html',
    'overview': 'overview.html',
    'client': 'class.Client.html',
    'send-async': 'method.Client.send_async.html',
}

failures = []


def fail(message):
    failures.append(message)
    print(f'not ok: {message}')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def strip_tags(text):
    return html.unescape(re.sub(r'<[^>]*>', '', text)).strip()


# --- html ------------------------------------------------------------------

def check_index_fields(html_dir):
    page = read(os.path.join(html_dir, 'index.html'))
    table = re.search(r'<div class="meta info">(.*?)</div>', page, re.DOTALL)
    if table is None:
        fail('index.html: no table of facts (<div class="meta info">)')
        return

    rows = re.findall(r'<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>', table.group(1),
                      re.DOTALL)
    labels = [strip_tags(label) for label, _ in rows]
    for wanted in ('Version', 'Authors', 'License'):
        if wanted not in labels:
            fail(f'index.html: the table of facts has no {wanted} row: {labels}')
    before = len(failures)
    for label, value in rows:
        href = re.search(r'href="([^"]*)"', value)
        if not strip_tags(value) or (href is not None and not href.group(1)):
            fail(f'index.html: the field {strip_tags(label)!r} is empty')
    if len(failures) == before:
        print(f'ok: index.html shows {", ".join(labels)}, none empty')


def page_name(kind, owner, name):
    prefix = {'constructor': 'ctor', 'method': 'method', 'function': 'type_func'}[kind]
    if owner is None:
        return f'func.{name}.html'
    return f'{prefix}.{owner}.{name}.html'


def gir_callables(gir):
    """Yields (page, element, callables by C identifier) for the namespace."""
    namespace = ET.parse(gir).getroot().find('core:namespace', GIR_NS)
    found = []
    for owner in namespace:
        tag = owner.tag.split('}')[1]
        if tag == 'function':
            found.append((page_name('function', None, owner.get('name')), owner))
            continue
        for kind in ('constructor', 'method', 'function'):
            for element in owner.findall(f'core:{kind}', GIR_NS):
                found.append((page_name(kind, owner.get('name'), element.get('name')), element))
    by_symbol = {element.get('{http://www.gtk.org/introspection/c/1.0}identifier'): element
                 for _, element in found}
    return found, by_symbol


def takes_cancellable(element):
    for param in element.findall('core:parameters/core:parameter', GIR_NS):
        type_ = param.find('core:type', GIR_NS)
        if type_ is not None and type_.get('name') == 'Gio.Cancellable':
            return True
    return False


def errors_section(page):
    start = page.find('<h2 id="errors">')
    if start < 0:
        return None
    end = min([i for i in (page.find('<h2', start + 1), page.find('</div>', start)) if i >= 0]
              or [len(page)])
    return page[start:end]


def error_anchors(html_dir):
    page = read(os.path.join(html_dir, 'error.Error.html'))
    return set(re.findall(r'<a id="([a-z_]+)" href="#\1"><code[^>]*>RABC_ERROR_', page))


def check_errors_sections(gir, html_dir):
    anchors = error_anchors(html_dir)
    if not anchors:
        fail('error.Error.html lists no error code with an anchor')
        return

    callables, by_symbol = gir_callables(gir)
    before = len(failures)
    checked = 0
    for page_file, element in callables:
        symbol = element.get('{http://www.gtk.org/introspection/c/1.0}identifier')
        throws = element.get('throws') == '1'
        if not throws and not symbol.endswith('_async'):
            continue
        checked += 1

        path = os.path.join(html_dir, page_file)
        if not os.path.exists(path):
            fail(f'{symbol}: no page {page_file}')
            continue
        section = errors_section(read(path))
        if section is None:
            fail(f'{symbol} ({page_file}): no Errors section')
            continue

        codes = re.findall(r'href="error\.Error\.html#([a-z_]+)"', section)
        if not codes:
            fail(f'{symbol} ({page_file}): the Errors section links to no error code')
        unlinked = set(re.findall(r'(?<![#\w])RABC_ERROR_[A-Z_]+', strip_tags(section))) - \
            {'RABC_ERROR_' + code.upper() for code in codes}
        if unlinked:
            fail(f'{symbol} ({page_file}): error codes without a link: {sorted(unlinked)}')

        # A _finish function honours the cancellable of its _async one.
        starter = by_symbol.get(re.sub(r'_finish$', '_async', symbol), element)
        if takes_cancellable(starter) and 'G_IO_ERROR_CANCELLED' not in section:
            fail(f'{symbol} ({page_file}): takes a GCancellable, but its Errors section '
                 f'does not name G_IO_ERROR_CANCELLED')
    if checked == 0:
        fail(f'{gir} has no function that can fail: is it the right GIR?')
    if len(failures) == before:
        print(f'ok: the Errors sections of {checked} functions that can fail')


def check_error_links(html_dir):
    anchors = error_anchors(html_dir)
    before = len(failures)
    links = 0
    for name in sorted(os.listdir(html_dir)):
        if not name.endswith('.html'):
            continue
        page = read(os.path.join(html_dir, name))
        for anchor in re.findall(r'href="error\.Error\.html#([^"]*)"', page):
            links += 1
            if anchor not in anchors:
                fail(f'{name}: link to error.Error.html#{anchor}, which is no error code')
    if links == 0:
        fail('no link to an error code in the whole reference')
    elif len(failures) == before:
        print(f'ok: {links} links to error codes, each to a code of Rabc.Error')


def code_blocks(text):
    """Yields the lines of each fenced code block of Markdown @text."""
    block = None
    for line in text.splitlines():
        if re.match(r'^\s*```', line):
            if block is None:
                block = []
            else:
                yield block
                block = None
        elif block is not None:
            block.append(line)


def check_code_width(where, text):
    count = 0
    for block in code_blocks(text):
        count += 1
        for line in block:
            if len(line) > MAX_CODE_COLUMNS:
                fail(f'{where}: a code line of {len(line)} columns, more than '
                     f'{MAX_CODE_COLUMNS}: {line.strip()}')
    return count


def check_code_widths(gir, overview):
    before = len(failures)
    count = check_code_width(os.path.basename(overview), read(overview))
    for element in ET.parse(gir).getroot().iter('{http://www.gtk.org/introspection/core/1.0}doc'):
        where = element.get('filename', 'the GIR')
        count += check_code_width(f'{where}:{element.get("line", "?")}', element.text or '')
    if count == 0:
        fail('no code block in the overview or the doc comments')
    if len(failures) == before:
        print(f'ok: no line of {count} code blocks is longer than {MAX_CODE_COLUMNS} columns')


def check_examples(gir):
    namespace = ET.parse(gir).getroot().find('core:namespace', GIR_NS)
    types = namespace.findall('core:class', GIR_NS)
    types += [enum for enum in namespace.findall('core:enumeration', GIR_NS)
              if enum.get('{http://www.gtk.org/introspection/glib/1.0}error-domain')]
    before = len(failures)
    for type_ in types:
        doc = type_.find('core:doc', GIR_NS)
        text = doc.text if doc is not None else ''
        for language in ('c', 'python'):
            if not re.search(rf'^\s*```{language}\s*$', text, re.MULTILINE):
                fail(f'{type_.get("name")}: no {language} example in its documentation')
    if not types:
        fail(f'{gir} has no class')
    elif len(failures) == before:
        print(f'ok: {", ".join(t.get("name") for t in types)} have examples in C and Python')


def check_html(gir, html_dir, overview):
    check_index_fields(html_dir)
    check_examples(gir)
    check_errors_sections(gir, html_dir)
    check_error_links(html_dir)
    check_code_widths(gir, overview)


# --- render ----------------------------------------------------------------

def chromium_command(chromium, profile, *args):
    # --no-sandbox: Chromium's sandbox needs user namespaces, which a
    # container or a build chroot may not offer; the pages are our own.
    return [chromium, '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions',
            f'--user-data-dir={profile}',
            f'--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}', *args]


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f'{command[0]} exited with {result.returncode}:\n{result.stderr}')
    return result.stdout


# Loads each page in a frame as wide as the window and records, for each
# visible <pre>, how much wider its content is than its box.  Frames delay
# the load event of the page, so the result is there when Chromium dumps
# the document.
HARNESS = '''<!DOCTYPE html>
<html><body><script>
const pages = %(pages)s;
const result = {};
let left = pages.length;
for (const page of pages) {
  const frame = document.createElement('iframe');
  frame.style.width = '%(width)dpx';
  frame.style.height = '600px';
  frame.onload = () => {
    try {
      const doc = frame.contentDocument;
      result[page] = {
        styled: getComputedStyle(doc.body).getPropertyValue('--primary').trim(),
        blocks: [...doc.querySelectorAll('pre')]
          .filter(pre => pre.clientWidth > 0)
          .map(pre => ({
            overflow: pre.scrollWidth - pre.clientWidth,
            text: pre.textContent.split('\\n').reduce((a, b) => a.length >= b.length ? a : b),
          })),
      };
    } catch (error) {
      result[page] = {error: String(error)};
    }
    if (--left === 0)
      document.body.setAttribute('data-result', JSON.stringify(result));
  };
  frame.src = %(base)s + page;
  document.body.appendChild(frame);
}
</script></body></html>
'''


def layout_pages(html_dir, gir):
    pages = ['index.html', 'overview.html', 'error.Error.html']
    pages += sorted(name for name in os.listdir(html_dir) if name.startswith('class.'))
    callables, _ = gir_callables(gir)
    for page_file, element in callables:
        symbol = element.get('{http://www.gtk.org/introspection/c/1.0}identifier')
        if element.get('throws') == '1' or symbol.endswith('_async'):
            pages.append(page_file)
    return list(dict.fromkeys(pages))


def check_layout(chromium, html_dir, gir, tmp):
    pages = layout_pages(html_dir, gir)
    harness = os.path.join(tmp, 'harness.html')
    with open(harness, 'w', encoding='utf-8') as f:
        f.write(HARNESS % {
            'pages': json.dumps(pages),
            'width': WINDOW_WIDTH,
            'base': json.dumps('file://' + os.path.abspath(html_dir) + '/'),
        })

    dom = run(chromium_command(chromium, os.path.join(tmp, 'profile-layout'),
                               '--allow-file-access-from-files', '--dump-dom',
                               'file://' + harness))
    found = re.search(r'data-result="([^"]*)"', dom)
    if found is None:
        fail('Chromium gave no layout result (the harness did not finish)')
        return
    result = json.loads(html.unescape(found.group(1)))

    before = len(failures)
    blocks = 0
    for page in pages:
        info = result.get(page, {'error': 'not loaded'})
        if 'error' in info:
            fail(f'{page}: cannot measure: {info["error"]}')
            continue
        # The theme's style.css defines --primary, among its colours.
        if not info['styled']:
            fail(f'{page}: rendered without the theme\'s style sheet')
        for block in info['blocks']:
            blocks += 1
            if block['overflow'] > 0:
                fail(f'{page}: a code block is {block["overflow"]} pixels wider than '
                     f'its box at {WINDOW_WIDTH} pixels: {block["text"].strip()}')
    if blocks == 0:
        fail('no code block measured')
    if len(failures) == before:
        print(f'ok: {blocks} code blocks on {len(pages)} pages fit their boxes '
              f'at {WINDOW_WIDTH} pixels')


def image_mean(convert, png, geometry=None, threshold=False):
    """The mean brightness (0 black to 1 white) of @png, or of a region of it."""
    args = [convert, png]
    if geometry:
        args += ['-crop', geometry, '+repage']
    args += ['-colorspace', 'Gray']
    if threshold:
        args += ['-threshold', '50%']
    args += ['-format', '%[fx:mean]', 'info:']
    return float(run(args))


def check_screenshot(convert, name, png):
    width, height = (int(n) for n in run([convert, png, '-format', '%w %h', 'info:']).split())
    colours = int(run([convert, png, '-format', '%k', 'info:']))
    sidebar = image_mean(convert, png, f'200x{height}+0+0')
    # The text column starts at about 400 pixels.
    column = f'800x{height}+360+0'
    text = 1 - image_mean(convert, png, column, threshold=True)
    background = image_mean(convert, png, column)

    problems = []
    if (width, height) != (WINDOW_WIDTH, WINDOW_HEIGHT):
        problems.append(f'it is {width}x{height}, not {WINDOW_WIDTH}x{WINDOW_HEIGHT}')
    if colours < 64:
        problems.append(f'it has only {colours} colours: blank or unstyled')
    if sidebar > 0.35:
        problems.append(f'the sidebar is not dark (mean {sidebar:.2f}): no theme')
    if background < 0.75:
        problems.append(f'the text column is not light (mean {background:.2f})')
    if not 0.002 <= text <= 0.5:
        problems.append(f'{text:.1%} of the text column is ink: no text, or no page')

    if problems:
        fail(f'screenshot of {name} ({png}): ' + '; '.join(problems))
    else:
        print(f'ok: screenshot of {name}: {colours} colours, sidebar {sidebar:.2f}, '
              f'text column {background:.2f} with {text:.1%} ink')


def check_screenshots(chromium, convert, html_dir, out_dir, tmp):
    os.makedirs(out_dir, exist_ok=True)
    for name, page in SCREENSHOT_PAGES.items():
        png = os.path.join(out_dir, f'docs-{name}.png')
        if os.path.exists(png):
            os.unlink(png)
        run(chromium_command(chromium, os.path.join(tmp, f'profile-{name}'),
                             f'--screenshot={png}',
                             'file://' + os.path.abspath(os.path.join(html_dir, page))),
            cwd=tmp)
        if not os.path.exists(png):
            fail(f'Chromium wrote no screenshot of {page}')
            continue
        check_screenshot(convert, name, png)


def check_render(gir, html_dir, chromium, convert, out_dir):
    tmp = tempfile.mkdtemp(prefix='rabc-docs-')
    try:
        check_layout(chromium, html_dir, gir, tmp)
        check_screenshots(chromium, convert, html_dir, out_dir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    if len(argv) == 5 and argv[1] == 'html':
        check_html(argv[2], argv[3], argv[4])
    elif len(argv) == 7 and argv[1] == 'render':
        check_render(*argv[2:])
    else:
        sys.exit('usage: check-reference.py html GIR HTML-DIR OVERVIEW.md\n'
                 '       check-reference.py render GIR HTML-DIR CHROMIUM CONVERT '
                 'SCREENSHOT-DIR')
    if failures:
        print(f'{len(failures)} problems')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
