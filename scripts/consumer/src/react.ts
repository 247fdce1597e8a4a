// A React app's use of ./react under the strict settings (no JSX, so the same source compiles as
// .ts, .mts and .cts): the provider, the hooks, their types.
import axios from 'axios';
import { attachRefreshGate, type RefreshGateState } from 'axios-refresh-gate';
import {
  RefreshGateProvider,
  type RefreshGateProviderProps,
  useAccessToken,
  useApi,
  useGateState,
  useRefreshGate,
} from 'axios-refresh-gate/react';
import { createElement, type ReactElement } from 'react';

const api = axios.create({ baseURL: 'https://api.example.com' });
const gate = attachRefreshGate(api, { refresh: async () => 'token' });

function Status(): ReactElement {
  const state: RefreshGateState = useGateState();
  const token: string | null | undefined = useAccessToken();
  const signedIn: boolean | null = state.signedIn;
  void [useApi(), useRefreshGate(), token, signedIn];
  return createElement('span', null, state.status);
}

// An optional prop may be given as undefined (exactOptionalPropertyTypes).
const props: RefreshGateProviderProps = { gate, api: undefined };
export const app = createElement(RefreshGateProvider, props, createElement(Status));
