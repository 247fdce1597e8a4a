import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  // `axios-refresh-gate` is linked from ../.. here; dedupe makes its `import 'axios'` resolve to
  // this app's axios, so the bundle holds one copy (an app installing it from npm gets that anyway).
  resolve: { dedupe: ['axios'] },
  server: { host: '127.0.0.1', port: 5173 },
});
