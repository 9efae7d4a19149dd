/** `sluice router restart`: replace the router process without refusing a connection. */
import { positionals, UsageError, type Command } from './command.js';

export const routerCommand: Command = {
  name: 'router',
  summary: 'act on the router process: `restart` replaces it without dropping a request',
  usage: 'restart',
  details:
    'restart: the running router starts a new router process (the code now on disk, same options) and\n' +
    'passes it its listening sockets; the new one serves the same routes at once, the old one stops\n' +
    'accepting, finishes its requests in flight and exits. Prints the old and new pid. If the new\n' +
    'process fails to start, the old one keeps serving and the command fails with the reason.',
  async run(ctx) {
    const [action] = positionals(ctx, ['ACTION']);
    if (action !== 'restart') throw new UsageError(`unknown router action "${action}" — only \`sluice router restart\``);
    const r = await ctx.client().routerRestart();
    ctx.out(`router restarted: pid ${r.oldPid} → ${r.newPid} (routes generation ${r.generation}, ${r.listeners} listener(s))`);
    return 0;
  },
};
