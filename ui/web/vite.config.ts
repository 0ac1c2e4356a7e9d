// Build of the console's web app: Svelte 5 compiled ahead of time, CSS in files (the console's CSP allows
// no inline styles or scripts), hashed assets under /assets, route pages split into lazy chunks.
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [svelte()],
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npx vite ui/web` during development, against a running console on :8080
    proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true, changeOrigin: false } },
  },
});
