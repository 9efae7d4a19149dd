/**
 * The FlagPlane port (src/core/flags.ts) on the builtin router: flags are always served by
 * the router process (src/router/flags.ts), whichever data plane serves a rollout's routes,
 * so they keep answering while the control plane is down or restarting.
 */
import type { FlagPlane, FlagPush, FlagUsage } from '../../core/flags.js';
import type { FlagUsageAnswer } from '../../router/admin-protocol.js';
import type { HttpTrafficRouter } from '../../router/http-client.js';
import { UserError } from '../../util/errors.js';

export class BuiltinFlagPlane implements FlagPlane {
  constructor(private readonly router: HttpTrafficRouter) {}

  /**
   * Resolves once the router persisted the push and serves it. Rejects in one line when it
   * refused it (400: nothing changed; 409: an older generation, the error's `generation` is
   * the one in effect) or when OFREP could not listen on `push.listen` (the flags are in
   * effect, OFREP stays where it was; the next push tries the address again).
   */
  async pushFlags(push: FlagPush): Promise<void> {
    const answer = await this.router.pushFlags(push);
    if (answer.failed !== undefined) {
      throw new UserError(
        `flags generation ${answer.generation} are in effect, but OFREP ${answer.failed.error}; ${answer.listening !== undefined ? `it still answers on ${answer.listening}` : 'it answers nowhere'} — free the address or change it`,
        'listen-failed',
        502,
      );
    }
  }

  async flagUsage(): Promise<FlagUsage[]> {
    return (await this.router.flagUsage()).usage;
  }

  /** The counters with the router's instanceId: a new id means they started again (a restart). */
  flagUsageSince(): Promise<FlagUsageAnswer> {
    return this.router.flagUsage();
  }
}
