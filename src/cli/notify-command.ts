// `kubescribe notify test <channel>`: send a test message through a channel and say what happened;
// `kubescribe notify deliver`: one notifier pass, for setups without a server (plain cron).
import type { Command } from 'commander';
import { loadCliConfig, withRunLog, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';

/** Registers `kubescribe notify test` and `kubescribe notify deliver`. */
export function registerNotifyCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const notify = program.command('notify').description('alert channels: send a test message, or deliver pending notifications');
  notify
    .command('test')
    .description('send a test message through a channel (email, slack, or a channel named in kubescribe.yaml) and report the outcome')
    .argument('<channel>', 'the channel name')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .action(async (name: string, options: { config?: string }) => {
      const config = await loadCliConfig(ctx, options.config);
      // Loaded on use: nodemailer and the channels would slow every other command's start (the runner's above all).
      const { configDir, createChannel, channelSecrets, scrub } = await import('../notify/channels/channel.ts');
      const { effectiveSettings } = await import('../notify/settings.ts');
      const { testMessage } = await import('../notify/test-message.ts');
      const settings = effectiveSettings(config, ctx.env);
      const spec = settings.channels.get(name);
      if (!spec) {
        const known = [...settings.channels.keys()];
        throw new UsageError(`no channel "${name}": ${known.length ? `configured channels are ${known.join(', ')}` : 'none is configured'}`
          + ' (define channels under notify.channels in kubescribe.yaml, or set SMTP_URL with NOTIFY_EMAIL_TO, or SLACK_WEBHOOK_URL)');
      }
      const secrets = { env: ctx.env, baseDir: configDir(config.file, process.cwd()) };
      const started = Date.now();
      try {
        await createChannel(spec, secrets).send(testMessage(name, settings.public_url, ctx.env.user), settings.delivery.timeout_ms);
      } catch (error) {
        ctx.stderr.write(`kubescribe: test message to ${name} (${spec.type}) failed: ${scrub((error as Error).message, channelSecrets(spec, secrets))}\n`);
        setExit(1);
        return;
      }
      const to = spec.type === 'email' ? ` to ${spec.to.join(', ')}` : '';
      ctx.stdout.write(`sent a test message through ${name} (${spec.type})${to} in ${Date.now() - started} ms\n`);
      setExit(0);
    });
  notify
    .command('deliver')
    .description('one pass of the notifier: run the monitors, apply the rules, send what is due (for setups without kubescribe serve)')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .action(async (options: { config?: string }) => {
      const config = await loadCliConfig(ctx, options.config);
      const { Notifier } = await import('../notify/notifier.ts');
      const result = await withRunLog(ctx, (db) => new Notifier({ db, config, env: ctx.env, cwd: process.cwd() }).runOnce());
      const failed = result.attempts.filter((a) => !a.ok);
      for (const attempt of failed) {
        ctx.stderr.write(`kubescribe: notification ${attempt.delivery_id} to ${attempt.channel} failed (attempt ${attempt.attempt}, `
          + `${attempt.next === 'retry' ? 'will retry' : 'gave up'}): ${attempt.error}\n`);
      }
      ctx.stdout.write(`dispatched ${result.dispatched} event(s); sent ${result.attempts.length - failed.length}, failed ${failed.length}\n`);
      setExit(failed.some((a) => a.next === 'failed') ? 1 : 0);
    });
}
