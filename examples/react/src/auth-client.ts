import axios, { type AxiosInstance } from 'axios';
import {
  createRefreshGate,
  type RefreshGate,
  type RefreshGateOptions,
  type Tokens,
} from 'axios-refresh-gate';

/** What `POST /auth/login` and `POST /auth/refresh` answer. */
interface TokenResponse {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

const toTokens = (data: TokenResponse): Tokens => ({
  accessToken: data.accessToken,
  refreshToken: data.refreshToken,
  expiresAt: data.expiresAt,
});

export interface AuthClient {
  /** The one axios instance the app calls its API with; the gate is attached to it. */
  readonly api: AxiosInstance;
  readonly gate: RefreshGate;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

/**
 * One axios instance, one gate. Framework-free: the React provider wraps it in a context.
 * `onRefreshFailed` runs once per failed refresh, however many requests were waiting on it, and
 * says whether the failure ends the session (`terminal`) or was transient (retries spent).
 */
export function createAuthClient(
  authUrl: string,
  onRefreshFailed: NonNullable<RefreshGateOptions['onRefreshFailed']>,
): AuthClient {
  const api = axios.create({ baseURL: authUrl });
  const gate = createRefreshGate({
    // Plain axios, not `api`: the refresh call must not wait at the gate it is refreshing.
    async refresh({ tokens, signal }) {
      if (!tokens?.refreshToken) throw new Error('not logged in');
      const { data } = await axios.post<TokenResponse>(
        `${authUrl}/auth/refresh`,
        { refreshToken: tokens.refreshToken },
        { signal },
      );
      return toTokens(data);
    },
    onRefreshFailed,
  });
  gate.attach(api);

  return {
    api,
    gate,
    async login(username, password) {
      const { data } = await axios.post<TokenResponse>(`${authUrl}/auth/login`, {
        username,
        password,
      });
      await gate.setTokens(toTokens(data));
    },
    // clear() also aborts a refresh in flight, so its late answer cannot log the user back in.
    logout: () => gate.clear(),
  };
}
