import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The console is served from the API's own origin: locally by `seatkeeper-local serve --console
// console/dist`, in the cloud from S3 behind CloudFront. `npm run dev` proxies the API to a
// running local server.
export default defineConfig({
  plugins: [react()],
  build: {
    manifest: true,
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:3000",
      "/dev": "http://127.0.0.1:3000",
      "/config.json": "http://127.0.0.1:3000",
    },
  },
});
