/**
 * The gate as users install it: the built package (dist/, made by `npm run build`, which the bench
 * scripts run first), with the types of its sources. Not the sources through tsx, whose keepNames
 * gives every named closure a property of its own: about 250 bytes each, which the heap figures
 * would count against the gate and which no user pays.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as Gate from '../src/index.js';

const built = join(__dirname, '..', 'dist', 'index.js');
if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);

// A require, not an import: the type check of a fresh clone has no dist/ to resolve.
export const { attachRefreshGate, createRefreshGateGroup, isRefreshGateError } = require(
  built,
) as typeof Gate;
