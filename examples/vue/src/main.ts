import { createApp } from 'vue';
import App from './App.vue';
import { createAuth } from './auth';
import { config } from './config';

createApp(App)
  .use(createAuth({ authUrl: config.authUrl }))
  .mount('#app');
