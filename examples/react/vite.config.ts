import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  // `axios-refresh-gate` is linked from ../.. here; dedupe makes its `import 'axios'` and (in
  // `axios-refresh-gate/react`) `import 'react'` resolve to this app's copies, so the bundle holds
  // one of each (an app installing it from npm gets that anyway). Two Reacts would break the hooks.
  resolve: { dedupe: ['axios', 'react', 'react-dom'] },
  server: { host: '127.0.0.1', port: 5173 },
});
