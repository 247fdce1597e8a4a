/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_AUTH_URL?: string;
  readonly VITE_POLL_MS?: string;
  readonly VITE_PUSH_MS?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
