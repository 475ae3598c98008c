import { describe, expect, it } from 'vitest';
import { locateEntry } from '../../src/audit/locate.js';
import { parseEntry } from '../../src/audit/reader.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { timeOfOrderedId, timeOrderedId } from '../../src/core/ids.js';
import { buildLog, lines, sampleInput } from './log-fixture.js';

describe('timeOfOrderedId', () => {
  it('gives back the millisecond a time-ordered id was made at, and nothing for other ids', () => {
    for (const t of [0, 1, 1_700_000_000_123, Date.parse('2026-12-05T21:30:00.999Z'), 2 ** 48 - 1])
      expect(timeOfOrderedId(timeOrderedId('evt', new Date(t)))).toBe(t);
    expect(timeOfOrderedId('evt_forged')).toBeUndefined();
    expect(timeOfOrderedId('apv_3k9a')).toBeUndefined();
    expect(timeOfOrderedId('nounderscore01234567890123')).toBeUndefined();
  });
});

describe('locateEntry', () => {
  it('finds every entry of a 3-segment log with the same place and neighbours as a full read', async () => {
    const { dir, segments } = await buildLog();
    for (const segment of segments) {
      const all = await lines(dir, segment);
      for (const [i, line] of all.entries()) {
        const entry = parseEntry(line)!;
        const found = await locateEntry(dir, entry.id);
        expect(found).toBeDefined();
        expect(found!.entry).toEqual(entry);
        expect(found!.segment).toBe(segment);
        expect(found!.line).toBe(i + 1);
        expect(found!.hashValid).toBe(true);
        expect(found!.previousId).toBe(i === 0 ? null : parseEntry(all[i - 1]!)!.id);
        expect(found!.next).toEqual(
          i === all.length - 1 ? null : { id: parseEntry(all[i + 1]!)!.id, linksBack: true },
        );
      }
    }
    expect(await locateEntry(dir, timeOrderedId('evt'))).toBeUndefined();
  });

  it('still finds an entry whose id points at another segment (a long call, or an old id)', async () => {
    const { dir, segments } = await buildLog();
    // Ids made on the first day but written on later ones: the time hint names segment 1.
    let day = 23;
    const writer = createAuditWriter({ dir, now: () => new Date(`2026-11-${day}T10:00:00Z`) });
    const early = timeOrderedId('evt', new Date('2026-11-20T10:00:30Z'));
    const late = timeOrderedId('evt', new Date('2026-12-30T00:00:00Z'));
    await writer.append({ ...sampleInput(1), id: early });
    day = 24;
    await writer.append({ ...sampleInput(2), id: late });
    await writer.append({ ...sampleInput(3), id: 'evt_not-time-ordered' });
    await writer.close();
    expect((await locateEntry(dir, early))?.segment).not.toBe(segments[0]);
    expect((await locateEntry(dir, early))?.entry.id).toBe(early);
    expect((await locateEntry(dir, late))?.entry.id).toBe(late);
    expect((await locateEntry(dir, 'evt_not-time-ordered'))?.next).toBeNull();
  });

  it('does not take a line that only mentions the id inside a field', async () => {
    const { dir } = await buildLog();
    const writer = createAuditWriter({ dir, now: () => new Date('2026-11-23T10:00:00Z') });
    const target = timeOrderedId('evt', new Date('2026-11-23T10:00:00Z'));
    // The id text, quoted as an agent could put it in a URL or command: JSON escapes the quotes.
    await writer.append({ ...sampleInput(5), target_url: `https://x.test/{"id":"${target}",` });
    await writer.close();
    expect(await locateEntry(dir, target)).toBeUndefined();
  });
});
