/**
 * The dashboard (web/) copies a few shapes the server defines in files that import Node
 * modules (web/src/types.ts). This file does not compile when a copy and its original drift
 * apart, in either direction; the constants are compared when it runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as web from '../../web/src/types.js';
import type { AnalysisView } from '../../src/engine/actions.js';
import type { LogChunk } from '../../src/core/platform.js';
import type { FlagPushStatus, FlagSummary } from '../../src/engine/flags/controller.js';
import type { StaleFlag } from '../../src/engine/flags/stale.js';
import type { ReleaseView } from '../../src/engine/pipelines/releases.js';
import type { ApprovalRow } from '../../src/engine/pipelines/documents.js';
import { ALL_SERVICES, type DoraReport, type DoraRow, type DoraTargets } from '../../src/pipelines/dora.js';
import { CSRF_HEADER } from '../../src/core/live.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const sameShapes: Record<string, true> = {
  AnalysisView: true satisfies Same<web.AnalysisView, AnalysisView>,
  LogChunk: true satisfies Same<web.LogChunk, LogChunk>,
  FlagSummary: true satisfies Same<web.FlagSummary, FlagSummary>,
  FlagPushStatus: true satisfies Same<web.FlagPushStatus, FlagPushStatus>,
  StaleFlag: true satisfies Same<web.StaleFlag, StaleFlag>,
  ReleaseView: true satisfies Same<web.ReleaseView, ReleaseView>,
  ApprovalRow: true satisfies Same<web.ApprovalRow, ApprovalRow>,
  DoraRow: true satisfies Same<web.DoraRow, DoraRow>,
  DoraTargets: true satisfies Same<web.DoraTargets, DoraTargets>,
  DoraReport: true satisfies Same<web.DoraReport, DoraReport>,
};

test("the dashboard's copies of server constants are the server's", () => {
  assert.equal(web.CSRF_HEADER, CSRF_HEADER);
  assert.equal(web.ALL_SERVICES, ALL_SERVICES);
});
