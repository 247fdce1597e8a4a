import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AuthProvider } from './auth';
import { config } from './config';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AuthProvider authUrl={config.authUrl}>
      <App />
    </AuthProvider>
  </StrictMode>,
);
