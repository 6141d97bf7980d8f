import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Api, tauriTransport } from './lib/api';
import { app } from './lib/app.svelte';
import { BrowserSession } from './lib/rtc/browser';

// In the desktop app the Tauri shell carries every call; in a page the
// master served, the browser's own WebRTC does.
const inTauri = typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
const transport = inTauri ? tauriTransport : new BrowserSession();
app.api = new Api(transport);
if (!inTauri) app.takeInvite(location, history);
// For the browser's console and the benchmark (tests/browser/bench.mjs):
// the same calls the screens make, nothing more.
(globalThis as Record<string, unknown>).outpost = { api: app.api, transport };

const target = document.getElementById('app');
if (!target) throw new Error('no #app element');
export default mount(App, { target });
