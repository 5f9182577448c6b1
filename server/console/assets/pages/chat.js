// Chat with the agent: conversations on the side, the turn streamed over
// /ws/chat, each tool call shown as a card with the policy's decision.

import * as api from '../api.js';
import {h, fill, notify, pretty} from '../dom.js';
import {render as markdown} from '../markdown.js';

/** Output longer than this starts collapsed. */
const LONG_LINES = 12;
const LONG_CHARS = 1200;
const TRUNCATED = /\[truncated: (\d+) bytes omitted\]\s*$/;

let state = null;

/** True while the chat page handles its own #/chat/<id> changes. */
export function followsHash() {
  if (!state) return false;
  const id = location.hash.split('/')[2] || null;
  if (decodeURIComponent(id || '') !== (state.conversationId || '')) {
    if (state.socket) return true; // a turn is running; it owns the fragment
    openConversation(id ? decodeURIComponent(id) : null);
  }
  return true;
}

function outputBlock(label, text) {
  if (text === undefined || text === null || text === '') return null;
  const body = String(text);
  const marker = body.match(TRUNCATED);
  const lines = body.replace(/\n$/, '').split('\n').length;
  const long = lines > LONG_LINES || body.length > LONG_CHARS;
  const pre = h('pre', {class: 'output', tabindex: '0'}, body);
  return h('details', {class: 'output-block', open: !long},
    h('summary', {}, `${label} (${lines} line${lines === 1 ? '' : 's'}${long ? ', long' : ''})`,
      marker ? h('span', {class: 'badge warn truncated'}, `truncated: ${marker[1]} bytes omitted`) : null),
    pre);
}

/** The tool's result as readable blocks: stdout/stderr, file content, else JSON. */
function resultBlocks(result) {
  if (result === undefined || result === null) return [];
  if (typeof result === 'object' && ('stdout' in result || 'stderr' in result)) {
    const facts = [];
    if ('exit_code' in result) facts.push(`exit code ${result.exit_code === null ? '—' : result.exit_code}`);
    if (result.signal) facts.push(`signal ${result.signal}`);
    if (result.timed_out) facts.push('timed out');
    return [h('p', {class: 'muted small'}, facts.join(' · ')),
      outputBlock('stdout', result.stdout), outputBlock('stderr', result.stderr)];
  }
  if (typeof result === 'object' && typeof result.content === 'string') {
    return [outputBlock(result.path ? `content of ${result.path}` : 'content', result.content),
      result.truncated ? h('span', {class: 'badge warn truncated'}, 'truncated by the size limit') : null];
  }
  return [outputBlock('result', pretty(result))];
}

/** A tool call card; `pending` until its result arrives. */
function toolCard(call) {
  const card = h('article', {class: 'tool-card pending', 'aria-label': `Tool call ${call.tool}`});
  updateCard(card, call);
  return card;
}

function updateCard(card, call) {
  const done = call.allowed !== undefined;
  card.className = `tool-card ${done ? (call.allowed ? 'allowed' : 'refused') : 'pending'}`;
  card.dataset.tool = call.tool;
  const decision = !done ? h('span', {class: 'badge'}, 'running…')
    : call.allowed ? h('span', {class: 'badge ok decision'}, 'allowed')
      : h('span', {class: 'badge bad decision'}, 'refused');
  fill(card,
    h('header', {},
      h('span', {class: 'tool-name'}, h('span', {class: 'sr-only'}, 'Tool '), h('code', {}, call.tool)),
      decision,
      call.outcome === 'error' ? h('span', {class: 'badge warn outcome'}, 'failed') : null,
      call.duration_ms !== undefined ? h('span', {class: 'duration muted'}, `${call.duration_ms} ms`) : null),
    h('dl', {class: 'facts'},
      h('dt', {}, 'Arguments'), h('dd', {}, h('pre', {class: 'args'}, pretty(call.arguments || {}))),
      call.rule ? [h('dt', {}, 'Rule'), h('dd', {}, h('code', {class: 'rule'}, call.rule))] : null,
      call.reason ? [h('dt', {}, 'Reason'), h('dd', {class: 'reason'}, call.reason)] : null,
      call.error ? [h('dt', {}, 'Error'), h('dd', {class: 'error'}, call.error)] : null),
    done && call.allowed ? h('div', {class: 'result'}, resultBlocks(call.result)) : null);
}

function bubble(role, content, meta) {
  const body = role === 'assistant' ? markdown(content) : h('p', {class: 'plain'}, content);
  return h('div', {class: `message ${role}`},
    h('div', {class: 'who'}, role === 'user' ? 'You' : 'Assistant', meta ? h('span', {class: 'muted'}, ` · ${meta}`) : null),
    h('div', {class: 'body'}, body));
}

function scrollDown() {
  const log = state.log;
  log.scrollTop = log.scrollHeight;
}

async function loadList() {
  const data = await api.api('GET', '/api/conversations?limit=100');
  const items = data.conversations.map((c) => {
    const link = h('a', {href: `#/chat/${encodeURIComponent(c.id)}`, class: 'title',
      'aria-current': c.id === state.conversationId ? 'page' : null}, c.title || 'Untitled');
    const rename = h('button', {type: 'button', class: 'ghost small', title: 'Rename', 'aria-label': `Rename ${c.title}`}, '✎');
    const remove = h('button', {type: 'button', class: 'ghost small', title: 'Delete', 'aria-label': `Delete ${c.title}`}, '✕');
    const li = h('li', {class: c.id === state.conversationId ? 'current' : ''}, link, rename, remove);
    rename.addEventListener('click', () => {
      const input = h('input', {value: c.title || '', 'aria-label': 'New title', class: 'rename'});
      const form = h('form', {class: 'rename-form'}, input);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
          await api.api('PUT', `/api/conversations/${encodeURIComponent(c.id)}`, {title: input.value});
          await loadList();
        } catch (err) { notify(err.detail, 'error'); }
      });
      input.addEventListener('keydown', (e) => { if (e.key === 'Escape') loadList(); });
      fill(li, form);
      input.focus();
      input.select();
    });
    remove.addEventListener('click', async () => {
      if (!confirm(`Delete the conversation "${c.title}"?`)) return;
      try {
        await api.api('DELETE', `/api/conversations/${encodeURIComponent(c.id)}`);
        if (c.id === state.conversationId) location.hash = '#/chat';
        await loadList();
      } catch (err) { notify(err.detail, 'error'); }
    });
    return li;
  });
  fill(state.list, items.length ? h('ul', {}, items) : h('p', {class: 'muted small'}, 'No conversations yet.'));
}

async function loadModels() {
  try {
    const data = await api.api('GET', '/api/models');
    const options = [h('option', {value: ''}, `default (${data.default || 'server default'})`),
      h('option', {value: 'auto'}, 'auto: by keywords')];
    const seen = new Set();
    for (const m of data.models || []) {
      const name = typeof m === 'string' ? m : m.name;
      if (!name || seen.has(name)) continue;
      seen.add(name);
      const available = typeof m === 'object' && m.available === false ? ' (unavailable)' : '';
      options.push(h('option', {value: name}, `${name}${available}`));
    }
    fill(state.model, options);
    state.availability.textContent = data.llm_available === false ? 'model server unreachable' : '';
  } catch (e) {
    state.availability.textContent = e.detail;
  }
}

/** Shows a stored conversation: user and assistant messages, and the tool calls. */
async function openConversation(id) {
  state.conversationId = id;
  fill(state.log);
  if (!id) {
    state.log.appendChild(h('p', {class: 'muted empty'}, 'Ask the agent something. Its tool calls appear here with the policy decision for each.'));
    await loadList();
    return;
  }
  try {
    const data = await api.api('GET', `/api/conversations/${encodeURIComponent(id)}`);
    for (const m of data.messages) {
      if (m.role === 'tool' && m.tool_calls) state.log.appendChild(toolCard(m.tool_calls));
      else if (m.role === 'user') state.log.appendChild(bubble('user', m.content));
      else if (m.role === 'assistant' && m.content) state.log.appendChild(bubble('assistant', m.content, m.model_used));
    }
    scrollDown();
  } catch (e) {
    state.log.appendChild(h('p', {class: 'error'}, e.detail));
  }
  await loadList();
}

function setRunning(running) {
  state.send.disabled = running;
  state.stop.disabled = !running;
  state.input.setAttribute('aria-busy', running ? 'true' : 'false');
}

/** One turn over a fresh socket; closing it (Stop) cancels the turn on the server. */
function send(text) {
  const empty = state.log.querySelector('.empty');
  if (empty) empty.remove();
  state.log.appendChild(bubble('user', text));
  const progress = h('p', {class: 'progress muted', role: 'status'}, 'Connecting…');
  state.log.appendChild(progress);
  scrollDown();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/ws/chat?token=${encodeURIComponent(api.token() || '')}`);
  state.socket = socket;
  setRunning(true);
  const cards = [];
  let finished = false;
  const finish = () => {
    finished = true;
    progress.remove();
    state.socket = null;
    setRunning(false);
    try { socket.close(); } catch { /* already closed */ }
    loadList().catch(() => {});
    state.input.focus();
  };
  socket.addEventListener('open', () => {
    progress.textContent = 'Sent; waiting for the model…';
    const body = {message: text};
    if (state.model.value) body.model = state.model.value;
    if (state.conversationId) body.conversation_id = state.conversationId;
    socket.send(JSON.stringify(body));
  });
  socket.addEventListener('message', (event) => {
    if (finished || !state) return;
    let e;
    try { e = JSON.parse(event.data); } catch { return; }
    switch (e.type) {
      case 'conversation_created':
        state.conversationId = e.conversation_id;
        history.replaceState(null, '', `#/chat/${encodeURIComponent(e.conversation_id)}`);
        break;
      case 'model_selected':
        progress.textContent = `Model ${e.model}`;
        break;
      case 'thinking':
        progress.textContent = `Thinking (step ${e.iteration})…`;
        break;
      case 'tool': {
        const card = toolCard({tool: e.tool, arguments: e.arguments});
        cards.push({card, arguments: e.arguments});
        state.log.insertBefore(card, progress);
        progress.textContent = `Running ${e.tool}…`;
        break;
      }
      case 'result': {
        const slot = cards.find((c) => !c.done && c.card.dataset.tool === e.tool);
        const call = {...e, arguments: slot ? slot.arguments : undefined};
        if (slot) { slot.done = true; updateCard(slot.card, call); } else state.log.insertBefore(toolCard(call), progress);
        break;
      }
      case 'complete':
        state.log.insertBefore(bubble('assistant', e.response, e.model_used), progress);
        finish();
        break;
      case 'error':
        state.log.insertBefore(h('p', {class: 'error', role: 'alert'}, `Error ${e.status}: ${e.detail}`), progress);
        finish();
        break;
      default:
        break;
    }
    scrollDown();
  });
  const stopped = (text) => {
    if (finished) return;
    state.log.insertBefore(h('p', {class: 'muted stopped'}, text), progress);
    finish();
  };
  // Closing the socket is what cancels the turn on the server; the page does not
  // wait for the server's side of the close.
  state.stopTurn = () => stopped('Stopped: the turn was cancelled.');
  socket.addEventListener('close', () => stopped('The connection closed before the turn finished.'));
  socket.addEventListener('error', () => {
    if (!finished) notify('The chat connection failed', 'error');
  });
}

export async function render(main, args) {
  document.title = 'Chat · ai-orchestrator';
  const list = h('div', {class: 'conv-list', id: 'conversations'});
  const log = h('div', {class: 'chat-log', id: 'chat-log', role: 'log', 'aria-live': 'polite', tabindex: '0'});
  const input = h('textarea', {id: 'chat-input', rows: '3', placeholder: 'Message the agent (Enter sends, Shift+Enter: new line)',
    'aria-label': 'Message', required: true});
  const model = h('select', {id: 'model', 'aria-label': 'Model'});
  const availability = h('span', {class: 'muted small', id: 'model-status'});
  const sendButton = h('button', {type: 'submit', class: 'primary', id: 'send'}, 'Send');
  const stop = h('button', {type: 'button', class: 'danger', id: 'stop', disabled: true}, 'Stop');
  const composer = h('form', {class: 'composer'}, input,
    h('div', {class: 'composer-bar'}, h('label', {class: 'model-pick'}, 'Model ', model), availability,
      h('span', {class: 'spacer'}), stop, sendButton));
  const newChat = h('a', {href: '#/chat', class: 'button small', id: 'new-chat'}, '+ New chat');
  const toggle = h('button', {type: 'button', class: 'ghost small conv-toggle', 'aria-expanded': 'false'}, 'Conversations');
  const side = h('aside', {class: 'conv-side', 'aria-label': 'Conversations'},
    h('div', {class: 'conv-head'}, h('h2', {}, 'Conversations'), newChat), list);
  toggle.addEventListener('click', () => {
    const open = side.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  state = {list, log, input, model, availability, send: sendButton, stop, socket: null, conversationId: null};
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || state.socket) return;
    input.value = '';
    send(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  stop.addEventListener('click', () => {
    if (state.socket && state.stopTurn) state.stopTurn();
  });
  main.appendChild(h('div', {class: 'chat'}, toggle, side,
    h('section', {class: 'chat-main', 'aria-label': 'Conversation'}, log, composer)));
  await Promise.all([loadModels(), openConversation(args[0] || null)]);
  input.focus();
  return () => {
    if (state && state.socket) state.socket.close();
    state = null;
  };
}

