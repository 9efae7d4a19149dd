/** "host:port" and "[v6]:port" as used by listeners and the admin address. */
export interface HostPort {
  host: string;
  port: number;
}

/** Returns undefined when the text is not host:port with a port in 1..65535. */
export function parseHostPort(text: string): HostPort | undefined {
  if (typeof text !== 'string') return undefined;
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
  } else if (host.includes(':')) {
    return undefined;
  }
  if (host.length === 0) return undefined;
  return { host, port };
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
