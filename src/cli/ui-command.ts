// `kubescribe ui rotate-key`: replaces the web UI's session key in the RunLog (ui_session_keys), which
// signs every UI user out on every server of this RunLog within 30 s (docs/ui.md, "The session
// cookie"). Straight in the RunLog, like `kubescribe migrate`: whoever can write the database may.
import type { Command } from 'commander';
import { withRunLog, type CliContext } from './context.ts';

/** Registers `kubescribe ui` and its subcommands. */
export function registerUiCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const ui = program.command('ui').description('the web UI\'s sign-in keys, in the RunLog');
  ui.command('rotate-key')
    .description('replace the key that seals UI sign-in cookies: every UI user is signed out (within 30 s on running servers)')
    .action(async () => setExit(await rotateKeyCommand(ctx)));
}

async function rotateKeyCommand(ctx: CliContext): Promise<number> {
  const { rotateUiSessionKey } = await import('../runlog/sql/ui-session-keys.ts');
  const keyId = await withRunLog(ctx, (db) => rotateUiSessionKey(db));
  ctx.stdout.write(`UI session key rotated (key ${keyId}): every UI sign-in sealed before has ended; `
    + 'running servers stop accepting the old cookies within 30 s\n');
  return 0;
}
