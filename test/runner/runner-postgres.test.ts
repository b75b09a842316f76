// The runner end to end on PostgreSQL (DATABASE_URL): the same cases as runner.test.ts on PGlite, in a
// file of their own so that the two engines run side by side (runner-cases.ts).
import { describe } from 'node:test';
import { ENGINES } from '../support/runlog-engines.ts';
import { runnerCases } from './runner-cases.ts';

if (ENGINES.includes('postgres')) describe('kubescribe run (postgres)', () => runnerCases('postgres'));
