import type { EventType } from './event.ts';

export type CronEventType = Extract<EventType, 'CronMinute' | 'CronHour' | 'CronDay' | 'CronWeek'>;

/** One period of a schedule: `key` is unique per period, so the period fires once however many workers look. */
export interface CronSlot {
  type: CronEventType;
  key: string;
  /** Local wall-clock start of the period in the schedule's time zone, e.g. `2026-11-30T02:00`. */
  scheduledFor: string;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(now: Date, timeZone: string) {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(now).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, hour: Number(p.hour), minute: Number(p.minute), weekday: WEEKDAYS.indexOf(p.weekday!) };
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The periods that have begun at `now` (Enneo's schedules): CronMinute every 5 minutes,
 * CronHour at minute 1 of each hour, CronDay at 02:00 Monday to Friday, CronWeek at 02:00 on
 * Saturday, in local time of `timeZone`. A period that began while no worker ran still fires once,
 * late, as long as it has not ended (CronDay until midnight, CronHour until the hour is over).
 */
export function cronSlots(now: Date, timeZone: string): CronSlot[] {
  const { date, hour, minute, weekday } = localParts(now, timeZone);
  const five = minute - (minute % 5);
  const slots: CronSlot[] = [{ type: 'CronMinute', key: `CronMinute:${date}T${pad(hour)}:${pad(five)}`, scheduledFor: `${date}T${pad(hour)}:${pad(five)}` }];
  if (minute >= 1) slots.push({ type: 'CronHour', key: `CronHour:${date}T${pad(hour)}`, scheduledFor: `${date}T${pad(hour)}:01` });
  if (hour >= 2 && weekday >= 1 && weekday <= 5) slots.push({ type: 'CronDay', key: `CronDay:${date}`, scheduledFor: `${date}T02:00` });
  if (hour >= 2 && weekday === 6) slots.push({ type: 'CronWeek', key: `CronWeek:${date}`, scheduledFor: `${date}T02:00` });
  return slots;
}
