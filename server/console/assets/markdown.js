// A small Markdown renderer that builds DOM nodes from text. The model's
// answer is never parsed as HTML: tags in it are shown as the characters
// they are. Supported: paragraphs, headings, fenced and indented code, lists,
// block quotes, rules, **bold**, *italic*, `code`, [links](https://...).

import {h, copy} from './dom.js';

const SAFE_URL = /^(https?:|mailto:)/i;

/** Inline spans of one line or paragraph. */
export function inline(text) {
  const out = [];
  // Underscores count only at word edges, so snake_case_names stay as they are.
  const pattern = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|(?<!\w)__([^_]+)__(?!\w)|\*([^*\s][^*]*)\*|(?<!\w)_([^_\s][^_]*)_(?!\w)|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) out.push(text.slice(last, match.index));
    if (match[2] !== undefined) out.push(h('code', {}, match[2].trim()));
    else if (match[3] !== undefined) out.push(h('strong', {}, inline(match[3])));
    else if (match[4] !== undefined) out.push(h('strong', {}, inline(match[4])));
    else if (match[5] !== undefined) out.push(h('em', {}, inline(match[5])));
    else if (match[6] !== undefined) out.push(h('em', {}, inline(match[6])));
    else if (match[7] !== undefined) {
      const url = match[8];
      out.push(SAFE_URL.test(url)
        ? h('a', {href: url, rel: 'noopener noreferrer nofollow', target: '_blank'}, inline(match[7]))
        : `[${match[7]}](${url})`);
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function codeBlock(code, lang) {
  const pre = h('pre', {class: 'code', tabindex: '0'}, h('code', {dataset: lang ? {lang} : {}}, code));
  const button = h('button', {type: 'button', class: 'copy small', 'aria-label': 'Copy code'}, 'Copy');
  button.addEventListener('click', () => copy(code, pre));
  return h('div', {class: 'codeblock'}, lang ? h('span', {class: 'lang'}, lang) : null, button, pre);
}

/** The whole text as a fragment of block elements. */
export function render(text) {
  const lines = String(text || '').replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let i = 0;
  const isBlank = (l) => l.trim() === '';
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/);
    if (fence) {
      const close = fence[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(close)) body.push(lines[i++]);
      i++;
      blocks.push(codeBlock(body.join('\n'), fence[2]));
      continue;
    }
    if (isBlank(line)) { i++; continue; }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2);
      blocks.push(h(`h${level}`, {}, inline(heading[2].replace(/\s+#+\s*$/, ''))));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { blocks.push(h('hr')); i++; continue; }
    if (/^ {4}|^\t/.test(line)) {
      const body = [];
      while (i < lines.length && (/^ {4}|^\t/.test(lines[i]) || isBlank(lines[i]))) {
        body.push(lines[i].replace(/^ {4}|^\t/, ''));
        i++;
      }
      blocks.push(codeBlock(body.join('\n').replace(/\n+$/, ''), ''));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ''));
      blocks.push(h('blockquote', {}, render(body.join('\n'))));
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items = [];
      while (i < lines.length && item.test(lines[i])) {
        const parts = [lines[i].match(item)[2]];
        i++;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !item.test(lines[i])) parts.push(lines[i++].trim());
        items.push(h('li', {}, inline(parts.join(' '))));
      }
      blocks.push(h(ordered ? 'ol' : 'ul', {}, items));
      continue;
    }
    const para = [lines[i++]];
    while (i < lines.length && !isBlank(lines[i]) && !/^\s*(```|~~~|#{1,6}\s|>)/.test(lines[i])
      && !item.test(lines[i])) para.push(lines[i++]);
    const children = [];
    para.forEach((p, n) => {
      if (n > 0) children.push(h('br'));
      children.push(...inline(p));
    });
    blocks.push(h('p', {}, children));
  }
  const fragment = document.createDocumentFragment();
  for (const b of blocks) fragment.appendChild(b);
  return fragment;
}
