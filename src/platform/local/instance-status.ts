import type { InstanceStatus } from '../../core/platform.js';

/**
 * What the local platform reports about an instance: the common status plus where its
 * output goes on this machine. Only local code and tests of the local platform see the file;
 * everyone else reads logs through `Platform.readLogs`.
 */
export interface LocalInstanceStatus extends InstanceStatus {
  logFile: string;
}
