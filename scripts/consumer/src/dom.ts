// Compile-only: in a browser app (the DOM lib), the DOM's own storages fit (see core.ts).
import { webStorageStore } from 'axios-refresh-gate/browser';

export const stores = [webStorageStore(localStorage), webStorageStore(sessionStorage, 'tokens')];
