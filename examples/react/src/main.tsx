import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AuthProvider } from './auth';
import { config } from './config';
import { createQueryClient } from './query';

const queryClient = createQueryClient();
window.__TANSTACK_QUERY_CLIENT__ = queryClient;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AuthProvider authUrl={config.authUrl}>
        <App />
      </AuthProvider>
    </QueryClientProvider>
  </StrictMode>,
);
