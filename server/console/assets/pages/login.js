// Sign in with username and password.

import * as api from '../api.js';
import {h, field, busy} from '../dom.js';

export async function render(main) {
  document.title = 'Sign in · ai-orchestrator';
  const username = h('input', {name: 'username', autocomplete: 'username', required: true, autofocus: true, id: 'login-username'});
  const password = h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true, id: 'login-password'});
  const error = h('p', {class: 'error', role: 'alert', id: 'login-error'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'login-submit'}, 'Sign in');
  const form = h('form', {class: 'card login', 'aria-labelledby': 'login-title'},
    h('h1', {id: 'login-title'}, 'Sign in'),
    h('p', {class: 'muted'}, 'ai-orchestrator: chat with the agent and see the policy behind its actions.'),
    field('Username', username), field('Password', password), error, submit);
  form.addEventListener('submit', busy(submit, async () => {
    error.textContent = '';
    try {
      await api.login(username.value.trim(), password.value);
      password.value = '';
    } catch (e) {
      error.textContent = e.detail || String(e);
      password.select();
    }
  }));
  main.appendChild(h('div', {class: 'center'}, form));
  username.focus();
}
