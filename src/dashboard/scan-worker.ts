import { parentPort, workerData } from 'node:worker_threads';
import { verifyChain } from '../audit/verify.js';
import { createOverviewIndex } from './index.js';

/**
 * The dashboard's two full passes over the log, in a worker thread so that the key holder's
 * event loop keeps serving calls and pages meanwhile: the overview index first, then the
 * hash-chain check. Only counts and a verdict come back, never entries.
 */
const { dir } = workerData as { dir: string };
const index = createOverviewIndex();
const lastId = await index.build(dir);
parentPort!.postMessage({ type: 'index', snapshot: index.snapshot(), lastId });
const report = await verifyChain(dir);
parentPort!.postMessage({
  type: 'chain',
  ok: report.ok,
  entries: report.entries,
  segments: report.segments,
  firstBreak: report.firstBreak,
});
