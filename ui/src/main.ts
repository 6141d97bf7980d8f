import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Api, tauriTransport } from './lib/api';
import { app } from './lib/app.svelte';
import { BrowserSession } from './lib/rtc/browser';

// In the desktop app the Tauri shell carries every call; in a page the
// master served, the browser's own WebRTC does.
const inTauri = typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
app.api = new Api(inTauri ? tauriTransport : new BrowserSession());

const target = document.getElementById('app');
if (!target) throw new Error('no #app element');
export default mount(App, { target });
