/** The base URL the server answers on, as a client would type it (an IPv6 address in brackets). */
export function baseUrlOf(config: { host: string; port: number }): string {
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}
