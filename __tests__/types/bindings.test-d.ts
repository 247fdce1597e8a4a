// Compile-only checks of the React and Vue bindings' types (`npm run typecheck`); this file never
// runs. Each `@ts-expect-error` marks something the types must refuse.
import type { AxiosInstance } from 'axios';
import { createElement, type ReactElement } from 'react';
import { createApp, type ShallowRef } from 'vue';
import type { RefreshGate, RefreshGateState } from '../../src/index.js';
import * as react from '../../src/react/index.js';
import * as vue from '../../src/vue/index.js';

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
declare function expectTrue<T extends true>(): T;

declare const api: AxiosInstance;
declare const gate: RefreshGate;

// ---- react -------------------------------------------------------------------------------------

const element: ReactElement = createElement(react.RefreshGateProvider, { gate, api }, 'child');
createElement(react.RefreshGateProvider, { gate });
// @ts-expect-error the gate is required
createElement(react.RefreshGateProvider, { api });
void element;

expectTrue<Equal<ReturnType<typeof react.useRefreshGate>, RefreshGate>>();
expectTrue<Equal<ReturnType<typeof react.useApi>, AxiosInstance>>();
expectTrue<Equal<ReturnType<typeof react.useGateState>, RefreshGateState>>();
expectTrue<Equal<ReturnType<typeof react.useAccessToken>, string | null | undefined>>();
expectTrue<Equal<Parameters<typeof react.useGateState>, [gate?: RefreshGate | undefined]>>();
// @ts-expect-error a gate, not its state
react.useAccessToken(gate.state);

// ---- vue ---------------------------------------------------------------------------------------

createApp({}).use(vue.createRefreshGatePlugin(gate, { api }));
createApp({}).use(vue.createRefreshGatePlugin(gate));
// @ts-expect-error the gate is required
vue.createRefreshGatePlugin();

expectTrue<Equal<ReturnType<typeof vue.useRefreshGate>, RefreshGate>>();
expectTrue<Equal<ReturnType<typeof vue.useApi>, AxiosInstance>>();
expectTrue<Equal<ReturnType<typeof vue.useGateState>, Readonly<ShallowRef<RefreshGateState>>>>();
expectTrue<
  Equal<ReturnType<typeof vue.useAccessToken>, Readonly<ShallowRef<string | null | undefined>>>
>();

const state = vue.useGateState(gate);
const status: 'idle' | 'refreshing' | 'cooldown' = state.value.status;
void status;
// @ts-expect-error the ref is readonly
state.value = gate.state;
