// A strip of a job's schedule slots (the jobs page beside each schedule, the job page under its SLA):
// one small box per slot, oldest on the left, coloured by its outcome, each with its time and run in
// words (views/partials/slot-strip.eta).
import type { SlotOutcome } from '../runlog/sql/schedule-slots.ts';
import { formatTime, isLive, runName } from './format.ts';

const SLOT_WORDS: Record<string, string> = { on_time: 'on time', late: 'late', missed: 'missed', skipped: 'skipped', pending: 'pending', running: 'running' };

/** A slot of the strip: its outcome (running while its run is live) and what a person reads for it. */
export function slotView(slot: SlotOutcome): { outcome: string; text: string } {
  const outcome = slot.run_status !== null && isLive(slot.run_status) ? 'running' : slot.outcome;
  const run = slot.run_number === null ? '' : ` (${runName({ job: slot.job, run_number: slot.run_number })})`;
  return { outcome, text: `${formatTime(slot.scheduled_for)}: ${SLOT_WORDS[outcome] ?? outcome}${run}` };
}

/** "20 on time, 2 late": the strip in words, oldest to newest counted together. */
export function stripSummary(slots: { outcome: string }[]): string {
  const counts = new Map<string, number>();
  for (const slot of slots) counts.set(slot.outcome, (counts.get(slot.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${n} ${SLOT_WORDS[outcome] ?? outcome}`).join(', ');
}
