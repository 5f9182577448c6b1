// The console's shell: session start, navigation by the URL fragment
// (#/chat, #/policy, ...), the pages each scope may see, the theme.

import * as api from './api.js';
import {h, fill} from './dom.js';
import * as login from './pages/login.js';
import * as account from './pages/account.js';
import * as chat from './pages/chat.js';
import * as policy from './pages/policy.js';
import * as audit from './pages/audit.js';
import * as users from './pages/users.js';
import * as status from './pages/status.js';

/** Every page: its fragment, nav label, and the scope it needs (null: any signed-in user). */
const PAGES = [
  {path: 'chat', label: 'Chat', scope: 'read', page: chat},
  {path: 'policy', label: 'Policy', scope: 'admin', page: policy},
  {path: 'audit', label: 'Audit', scope: 'admin', page: audit},
  {path: 'users', label: 'Users & keys', scope: 'admin', page: users},
  {path: 'status', label: 'Status', scope: null, page: status},
  {path: 'account', label: 'Account', scope: null, page: account},
];

const main = document.getElementById('main');
let leave = null;

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return {name: parts[0] || '', args: parts.slice(1)};
}

function home() {
  return api.hasScope('read') ? 'chat' : 'status';
}

function renderNav() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const me = api.currentUser();
  if (!me) {
    fill(nav);
    fill(who);
    return;
  }
  const current = route().name || home();
  fill(nav, h('ul', {}, PAGES.filter((p) => !p.scope || api.hasScope(p.scope)).map((p) =>
    h('li', {}, h('a', {href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : null}, p.label)))));
  const signOut = h('button', {type: 'button', class: 'ghost', id: 'signout'}, 'Sign out');
  signOut.addEventListener('click', async () => {
    await api.logout();
    location.hash = '#/';
  });
  fill(who, h('span', {class: 'username', title: me.scopes.join(', ')}, me.username), signOut);
}

function renderBanner() {
  const banner = document.getElementById('banner');
  const text = api.currentUser() ? api.warning() : null;
  if (!text) {
    fill(banner);
    return;
  }
  fill(banner, h('div', {class: 'warning-banner', role: 'alert'},
    h('strong', {}, 'Change your password. '), 'This account still uses the old default password. ',
    h('a', {href: '#/account'}, 'Change it now')));
}

async function show() {
  if (leave) {
    try { leave(); } catch { /* the old page is gone either way */ }
    leave = null;
  }
  renderNav();
  renderBanner();
  if (!api.currentUser()) {
    fill(main);
    await login.render(main);
    return;
  }
  const {name, args} = route();
  const wanted = name || home();
  const entry = PAGES.find((p) => p.path === wanted);
  fill(main);
  if (!entry) {
    main.appendChild(h('section', {class: 'card'}, h('h1', {}, 'Not found'),
      h('p', {}, 'There is no such page. '), h('a', {href: `#/${home()}`}, 'Go to the start page')));
    return;
  }
  if (entry.scope && !api.hasScope(entry.scope)) {
    document.title = 'Not allowed · ai-orchestrator';
    main.appendChild(h('section', {class: 'card refused', id: 'forbidden'},
      h('h1', {}, 'Not allowed'),
      h('p', {}, `This page needs the ${entry.scope} scope, which your account does not have.`),
      h('a', {href: `#/${home()}`}, 'Go to the start page')));
    return;
  }
  try {
    leave = await entry.page.render(main, args) || null;
    // Keyboard and screen-reader users land on the new page, unless it focused a field itself.
    if (!main.contains(document.activeElement)) main.focus({preventScroll: true});
  } catch (error) {
    main.appendChild(h('section', {class: 'card refused'}, h('h1', {}, 'Could not load the page'),
      h('p', {}, error.detail || String(error))));
  }
}

function initTheme() {
  const button = document.getElementById('theme');
  const order = ['auto', 'light', 'dark'];
  const apply = (mode) => {
    if (mode === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = mode;
    button.title = `Colour theme: ${mode}`;
    button.setAttribute('aria-label', `Colour theme: ${mode}`);
  };
  let mode = localStorage.getItem('theme') || 'auto';
  apply(mode);
  button.addEventListener('click', () => {
    mode = order[(order.indexOf(mode) + 1) % order.length];
    localStorage.setItem('theme', mode);
    apply(mode);
  });
}

let lastUser = null;
function followSession(me) {
  const name = me ? me.username : null;
  if (name !== lastUser) {
    lastUser = name;
    show();
  } else {
    renderBanner();
  }
}

window.addEventListener('hashchange', () => {
  const {name} = route();
  // The chat page follows its own conversation changes without a reload.
  if (name === 'chat' && chat.followsHash()) {
    renderNav();
    return;
  }
  show();
});

initTheme();
await api.restore();
lastUser = api.currentUser() ? api.currentUser().username : null;
api.onSessionChange(followSession);
show();
