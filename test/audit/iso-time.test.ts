import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/audit/writer.js';

describe('isoTime: the audit timestamp, formatted without toISOString per entry', () => {
  it('gives the same string as toISOString, across minutes, years and signs', () => {
    const times = [
      0, 1, 999, 1000, 59_999, 60_000, 61_001, -1, -60_001, 1_796_506_052_123, 253_402_300_799_999,
      8.64e15, -8.64e15,
    ];
    for (let i = 0; i < 5000; i++) times.push(Math.floor(Math.random() * 4e12));
    for (const t of times) expect(isoTime(new Date(t))).toBe(new Date(t).toISOString());
  });
});
