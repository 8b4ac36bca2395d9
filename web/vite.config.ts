import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The app is served under /app/ on the API's own hosts (the portal on the API host, the
// console on each deployment's host), so that its routes never collide with the API's.
export default defineConfig({
  base: "/app/",
  plugins: [react()],
  build: {
    outDir: "dist",
    // A strict Content-Security-Policy (script-src 'self') allows no inline script: Vite's
    // module preload polyfill is inline.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
