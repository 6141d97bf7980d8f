import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Api, tauriTransport } from './lib/api';
import { app } from './lib/app.svelte';

// One transport for now: the Tauri shell. The browser transport (WebRTC in
// the page) plugs in here later.
app.api = new Api(tauriTransport);

const target = document.getElementById('app');
if (!target) throw new Error('no #app element');
export default mount(App, { target });
