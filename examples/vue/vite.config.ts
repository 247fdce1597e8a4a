import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [vue()],
  // `axios-refresh-gate` is linked from ../.. here; dedupe makes its `import 'axios'` and (in
  // `axios-refresh-gate/vue`) `import 'vue'` resolve to this app's copies, so the bundle holds one
  // of each (an app installing it from npm gets that anyway). Two Vues would not share injections.
  resolve: { dedupe: ['axios', 'vue'] },
  server: { host: '127.0.0.1', port: 5174 },
});
