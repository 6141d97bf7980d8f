/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Tauri serves ui/dist from a custom protocol: relative asset paths, and a
// target WebKitGTK 2.4x runs without transpiling surprises.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  clearScreen: false,
  // src-tauri's devUrl.
  server: { port: 5173, strictPort: true },
  build: {
    target: ['es2021', 'safari15'],
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
