export { isRefreshGateError, RefreshGateError, RefreshGateErrorCode } from './errors.js';
export { attachRefreshGate, createRefreshGate } from './gate.js';
export { createRefreshGateGroup } from './group.js';
export { inProcessCoordinator } from './in-process-coordinator.js';
export { readJwtExpiry } from './jwt.js';
export { memoryStore } from './memory-store.js';
export type {
  Coordinator,
  GateEvent,
  GateEventMap,
  GateLogger,
  HeldLock,
  RefreshContext,
  RefreshGate,
  RefreshGateGroup,
  RefreshGateGroupOptions,
  RefreshGateOptions,
  RefreshGateState,
  TokenStore,
  Tokens,
} from './types.js';
