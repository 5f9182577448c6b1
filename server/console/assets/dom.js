// Building the page from data. Everything from the server or the model goes in
// as text nodes or attribute values: nothing is ever parsed as HTML.

/** h('div', {class: 'x', onclick: fn}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** RFC 3339 or unix ms → local date and time. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
}

/** A short notice at the bottom of the screen, read out by screen readers. */
export function notify(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', {class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status'}, text);
  box.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', {class: 'field'},
    h('label', {for: id}, label), input,
    hint ? h('small', {class: 'hint'}, hint) : null);
}

/** A button that shows it is busy while `action` runs. */
export function busy(button, action) {
  return async (event) => {
    if (event) event.preventDefault();
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  };
}

export function badge(text, kind) {
  return h('span', {class: `badge ${kind || ''}`}, text);
}

/** Pretty JSON for display. */
export function pretty(value) {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** Copies text, falling back to selecting it for the user. */
export async function copy(text, selectEl) {
  try {
    await navigator.clipboard.writeText(text);
    notify('Copied to the clipboard');
  } catch {
    if (selectEl) {
      const range = document.createRange();
      range.selectNodeContents(selectEl);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    notify('Press Ctrl+C to copy the selected text');
  }
}

export function pageHeader(title, ...extra) {
  document.title = `${title} · ai-orchestrator`;
  return h('div', {class: 'page-header'}, h('h1', {}, title), ...extra);
}

export function scopeList(scopes) {
  return (scopes || []).map((s) => badge(s, `scope-${s}`));
}
