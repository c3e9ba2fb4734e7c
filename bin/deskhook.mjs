#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader: no build step between a clone and a
// running server, and stack traces point at the sources.
import { register } from 'tsx/esm/api';

register();
await import('../src/main/cli.ts');
