/**
 * Where the auth server is and how often the dashboard talks to it, from Vite env variables
 * (`VITE_AUTH_URL=http://127.0.0.1:4000 npm run dev`, or a `.env.local` file).
 */
const env = import.meta.env;

export const config = {
  /** Base URL of the API and of `/auth/login` and `/auth/refresh`. */
  authUrl: (env.VITE_AUTH_URL || 'http://127.0.0.1:4000').replace(/\/$/, ''),
  /** How often the dashboard polls `/api/stats`. */
  pollMs: Number(env.VITE_POLL_MS || 5000),
  /** How often the simulated push channel announces new notifications. */
  pushMs: Number(env.VITE_PUSH_MS || 8000),
};
