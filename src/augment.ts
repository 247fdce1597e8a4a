// Per-request settings, typed through axios' own config (as axios-retry does), never `as any`.
declare module 'axios' {
  interface AxiosRequestConfig {
    /**
     * Never held, never refreshed or replayed for; the token is still attached. Set it on the
     * refresh call when it goes through an attached instance.
     */
    skipAuthRefresh?: boolean;
  }
}

export {};
